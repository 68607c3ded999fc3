// Mesh fixture: real tether-control and tether-proxy processes on loopback,
// for integration tests that kill, restart and observe them from outside.
//
//   class MyTest : public testing::MeshTest {};
//   TEST_F(MyTest, Works) {
//     StartControl();                        // tether-control --cert-ttl 1m, ports 0
//     StartPair();                           // a (outbound) -> b (inbound) -> echo backend
//     EXPECT_EQ(Roundtrip(a()->outbound_port(), "hi"), "hi");
//   }
//
// Every process logs to its own file in $TEST_UNDECLARED_OUTPUTS_DIR (kept
// by Bazel in outputs.zip) and dies with the test (PR_SET_PDEATHSIG). At the
// end of a test each proxy and the control plane get SIGTERM and must exit 0
// (a sanitizer report in a child makes its exit code non-zero, and so fails
// the test).
//
// The helpers without a process (WaitFor, metrics, Roundtrip) also serve the
// in-process tests in this folder.
#ifndef TETHER_TESTS_PROXY_INTEGRATION_MESH_FIXTURE_H_
#define TETHER_TESTS_PROXY_INTEGRATION_MESH_FIXTURE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/echo_server.h"

namespace tether::testing {

inline constexpr char kTrustDomain[] = "mesh.test";

// WaitFor polls `cond` every 20 ms until it holds (true) or `timeout` passed
// (false, after one last check).
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(15));

// Metrics is one scrape of a Prometheus text page: series ("name{labels}"
// exactly as printed) to value.
using Metrics = std::map<std::string, double>;

// ScrapeMetrics GETs /metrics from the admin port; nullopt if that failed.
std::optional<Metrics> ScrapeMetrics(int admin_port);
// Value of `series`; 0 when absent.
double MetricValue(const Metrics& metrics, const std::string& series);
// SumMetric adds every series of metric `name` whose labels contain every
// string of `with` and none of `without` (e.g. `outcome="ok"`).
double SumMetric(const Metrics& metrics, const std::string& name,
                 const std::vector<std::string>& with = {},
                 const std::vector<std::string>& without = {});
// WaitForMetric waits until `series` at the admin port is at least `at_least`.
bool WaitForMetric(int admin_port, const std::string& series, double at_least = 1,
                   absl::Duration timeout = absl::Seconds(15));
// OutcomeSeries: the series of tether_proxy_connections_total for one
// direction ("inbound", "outbound") and outcome ("ok", "connect_failed", ...).
std::string OutcomeSeries(const char* direction, const char* outcome);

// Roundtrip sends `data` to 127.0.0.1:port, half-closes, and returns
// everything read until EOF ("<connect failed>" if it could not connect).
std::string Roundtrip(int port, const std::string& data);

// RandomBytes: `n` bytes from a generator seeded with `seed`.
std::string RandomBytes(size_t n, uint64_t seed);

// Runfile: the absolute path of a data dependency, by workspace path
// ("proxy/tether-proxy").
std::string Runfile(const std::string& workspace_path);

// OutputPath: where a test artifact (a log) goes: $TEST_UNDECLARED_OUTPUTS_DIR
// (or $TEST_TMPDIR) / `name`.
std::string OutputPath(const std::string& name);

// ChildProcess: a program run without a shell, its stdout and stderr appended
// to a log file. The destructor SIGKILLs and reaps it if still running.
// Start it from the thread that will outlive it (the test's main thread): the
// child is killed when the thread that started it ends.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path);
  pid_t pid() const { return pid_; }
  // Running reaps the child if it has exited.
  bool Running();
  void Signal(int sig);
  // Wait reaps the child, waiting at most `timeout`: its wait status, or
  // nullopt if it is still running.
  std::optional<int> Wait(absl::Duration timeout);
  // The wait status once reaped.
  std::optional<int> exit_status() const { return status_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// DescribeExit: "exit 0", "signal 9", ...
std::string DescribeExit(int wait_status);

// ControlPlaneProcess runs bazel-bin/control/tether-control.
class ControlPlaneProcess {
 public:
  struct Options {
    std::string state_dir;
    std::string trust_domain = kTrustDomain;
    int grpc_port = 0;  // 0: any; a restart passes the port of the first run
    std::string cert_ttl = "1m";
    double rate_limit = 600;
    std::vector<std::string> extra_flags;  // appended to the command line
  };
  explicit ControlPlaneProcess(Options options) : options_(std::move(options)) {}

  // Start runs the process and waits until it listens; `log_name` names its
  // log and audit log (in OutputPath).
  absl::Status Start(const std::string& log_name);
  // Kill: SIGKILL and reap (a crash, no cleanup).
  void Kill();
  // Stop: SIGTERM; OK if it exits 0 within 30 s.
  absl::Status Stop();
  bool Running() { return process_.Running(); }

  int grpc_port() const { return grpc_port_; }
  int admin_port() const { return admin_port_; }
  pid_t pid() const { return process_.pid(); }
  std::string address() const;
  const Options& options() const { return options_; }
  std::string Log() const { return process_.Log(); }
  // The audit log (JSON lines) of the latest Start.
  const std::string& audit_log() const { return audit_log_; }

  // tetherctl against the admin port: a new join token, the trust bundle.
  // `addresses` are bound to the identity (tetherctl token create --address).
  absl::StatusOr<std::string> MintToken(const std::string& ns, const std::string& sa,
                                        const std::vector<std::string>& addresses = {});
  // Tetherctl runs tetherctl against the admin port: its stdout.
  absl::StatusOr<std::string> Tetherctl(const std::vector<std::string>& args);
  absl::StatusOr<std::string> Bundle();

 private:
  Options options_;
  ChildProcess process_;
  int grpc_port_ = 0;
  int admin_port_ = 0;
  std::string audit_log_;
};

// ProxyProcess runs bazel-bin/proxy/tether-proxy in explicit mode.
class ProxyProcess {
 public:
  struct Options {
    std::string name;        // also the service account (shop/<name>)
    std::string log_prefix;  // prepended to the names of its log files
    std::string control_address;
    std::string ca_bundle_file;
    std::string join_token_file;
    std::string inbound_forward;   // non-empty: listen inbound on 127.0.0.1:0
    std::string outbound_forward;  // non-empty: listen outbound on 127.0.0.1:0
    std::string outbound_expect_identity;
    std::vector<std::string> extra_flags;
  };
  explicit ProxyProcess(Options options) : options_(std::move(options)) {}

  // Start runs the process and waits until it printed its ports.
  absl::Status Start();
  // Stop: SIGTERM (drain); OK if it exits 0 within 60 s (or if the test
  // already ended it with Kill or Terminate).
  absl::Status Stop();
  bool Running() { return process_.Running(); }
  // Kill: SIGKILL and reap (a crash).
  void Kill();
  // Terminate sends SIGTERM and waits up to `timeout` for the exit: its wait
  // status, or nullopt if it is still running.
  std::optional<int> Terminate(absl::Duration timeout);
  pid_t pid() const { return process_.pid(); }

  int inbound_port() const { return inbound_port_; }
  int outbound_port() const { return outbound_port_; }
  int admin_port() const { return admin_port_; }
  const Options& options() const { return options_; }
  std::string Log() const { return process_.Log(); }

  // /ready answered 200.
  bool Ready() const;
  // /ready's whole response ("" if the admin port did not answer).
  std::string ReadyResponse() const;
  // From /certs: the certificate's serial ("" without one), the control
  // stream's state and last error, and its failure count.
  struct CertsView {
    std::string serial;
    absl::Time not_after = absl::InfinitePast();  // of the certificate, when there is one
    std::string stream_state;
    std::string last_error;
    uint64_t stream_failures = 0;
    uint64_t certificates_received = 0;
    uint64_t revocations_version = 0;
    // The certificate withdrawn because it was revoked ("" if none).
    std::string revoked_serial;
  };
  std::optional<CertsView> Certs() const;
  std::optional<Metrics> Scrape() const { return ScrapeMetrics(admin_port_); }

 private:
  Options options_;
  ChildProcess process_;
  bool ended_by_test_ = false;
  int inbound_port_ = 0;
  int outbound_port_ = 0;
  int admin_port_ = 0;
};

// MeshTest: a temp dir, a control plane, proxies and an echo backend; in
// TearDown every proxy and the control plane are stopped and must exit 0.
class MeshTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // StartControl starts tether-control (state in dir()/state) and writes
  // the trust bundle to bundle_file().
  void StartControl(const std::string& cert_ttl = "1m",
                    const std::vector<std::string>& extra_flags = {});
  // StartKubernetesControl: StartControl with --kubernetes against a
  // stand-in API server on 127.0.0.1:`api_port` whose certificate
  // `api_ca_pem` signed, the control plane authenticating with `own_token`;
  // no trust-bundle publishing; `extra_flags` after those.
  void StartKubernetesControl(int api_port, const std::string& api_ca_pem,
                              const std::string& own_token,
                              const std::vector<std::string>& extra_flags);
  // RestartControl starts a new tether-control with the same state
  // directory on the same gRPC port (after KillControl or StopControl).
  void RestartControl();
  ControlPlaneProcess* control() { return control_.get(); }

  // TokenFile is where proxy `sa` reads its join token.
  std::string TokenFile(const std::string& sa) const;
  // WriteToken mints a join token for shop/`sa` and writes it to TokenFile.
  void WriteToken(const std::string& sa, const std::vector<std::string>& addresses = {});

  // StartProxy starts a proxy for shop/`sa` with a fresh join token.
  ProxyProcess* StartProxy(const std::string& sa, const std::string& inbound_forward,
                           const std::string& outbound_forward,
                           const std::string& expect_identity = "",
                           const std::vector<std::string>& extra_flags = {},
                           const std::vector<std::string>& token_addresses = {});
  // LaunchProxy: StartProxy without waiting for /ready.
  ProxyProcess* LaunchProxy(const std::string& sa, const std::string& inbound_forward,
                            const std::string& outbound_forward,
                            const std::string& expect_identity = "",
                            const std::vector<std::string>& extra_flags = {},
                            const std::vector<std::string>& token_addresses = {});
  // StartPair: b (inbound, to the echo backend) and a (outbound, to b,
  // expecting b's identity), both ready.
  void StartPair(const std::vector<std::string>& a_flags = {},
                 const std::vector<std::string>& b_flags = {});
  ProxyProcess* a() { return a_; }
  ProxyProcess* b() { return b_; }
  EchoServer& backend() { return backend_; }

  const std::string& dir() const { return dir_; }
  std::string bundle_file() const { return dir_ + "/roots.pem"; }
  static std::string SpiffeId(const std::string& sa);

  // ExpectNoFailures: at every proxy's /metrics, every connection ended ok
  // and no handshake failed.
  void ExpectNoFailures();

  // Curl runs curl with `args`, where each argument starting with '/' is a
  // URL path on 127.0.0.1:`port`; returns the status codes curl printed,
  // one per URL (and expects curl to exit 0).
  std::vector<std::string> Curl(int port, const std::vector<std::string>& args);

 private:
  int curls_ = 0;
  std::string dir_;
  std::string log_prefix_;
  std::unique_ptr<ControlPlaneProcess> control_;
  int control_starts_ = 0;
  std::vector<std::unique_ptr<ProxyProcess>> proxies_;
  ProxyProcess* a_ = nullptr;
  ProxyProcess* b_ = nullptr;
  EchoServer backend_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_PROXY_INTEGRATION_MESH_FIXTURE_H_
