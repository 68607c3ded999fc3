#include "tests/proxy/integration/mesh_fixture.h"

#include <cstdlib>
#include <random>
#include <regex>
#include <thread>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/subprocess.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

// How long a process may take to print its ports (sanitizer builds start slowly).
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

// FindPort returns the number after `label` in the log, or 0.
int FindPort(const std::string& log, const std::string& label) {
  size_t at = log.find(label);
  if (at == std::string::npos) return 0;
  int port = 0;
  const char* p = log.c_str() + at + label.size();
  while (*p >= '0' && *p <= '9') port = port * 10 + (*p++ - '0');
  return port;
}

}  // namespace

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

std::optional<Metrics> ScrapeMetrics(int admin_port) {
  const std::optional<std::string> body = HttpGetBody(admin_port, "/metrics");
  if (!body.has_value()) return std::nullopt;
  Metrics out;
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double value = 0;
    if (!absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

double MetricValue(const Metrics& metrics, const std::string& series) {
  auto it = metrics.find(series);
  return it == metrics.end() ? 0 : it->second;
}

double SumMetric(const Metrics& metrics, const std::string& name,
                 const std::vector<std::string>& with, const std::vector<std::string>& without) {
  double sum = 0;
  for (const auto& [series, value] : metrics) {
    if (series != name && !absl::StartsWith(series, name + "{")) continue;
    bool match = true;
    for (const auto& w : with) match = match && absl::StrContains(series, w);
    for (const auto& w : without) match = match && !absl::StrContains(series, w);
    if (match) sum += value;
  }
  return sum;
}

bool WaitForMetric(int admin_port, const std::string& series, double at_least,
                   absl::Duration timeout) {
  return WaitFor(
      [&] {
        auto m = ScrapeMetrics(admin_port);
        return m && MetricValue(*m, series) >= at_least;
      },
      timeout);
}

std::string OutcomeSeries(const char* direction, const char* outcome) {
  return absl::StrCat("tether_proxy_connections_total{direction=\"", direction, "\",outcome=\"",
                      outcome, "\"}");
}

std::string Roundtrip(int port, const std::string& data) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "<connect failed>";
  std::string reply;
  std::thread reader([&] { reply = ReadAll(fd); });
  WriteAll(fd, data);
  shutdown(fd, SHUT_WR);
  reader.join();
  close(fd);
  return reply;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(r >> (8 * j));
  }
  return out;
}

std::string Runfile(const std::string& workspace_path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return workspace_path;
  return absl::StrCat(srcdir, "/", workspace, "/", workspace_path);
}

std::string OutputPath(const std::string& name) {
  const char* dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (dir == nullptr) dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

// ChildProcess.

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    Wait(absl::InfiniteDuration());
  }
}

absl::Status ChildProcess::Start(const std::vector<std::string>& argv,
                                 const std::string& log_path) {
  log_path_ = log_path;
  status_.reset();
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // The test blocks no signals the child needs, but gtest threads may.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  return absl::OkStatus();
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || status_) return false;
  return !Wait(absl::ZeroDuration()).has_value();
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = st;
      return status_;
    }
    if (absl::Now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ChildProcess::Log() const {
  auto text = ReadFile(log_path_);
  return text.ok() ? *text : "";
}

// ControlPlaneProcess.

absl::Status ControlPlaneProcess::Start(const std::string& log_name) {
  std::vector<std::string> argv = {
      Runfile("control/tether-control"),
      "--state-dir",
      options_.state_dir,
      "--trust-domain",
      options_.trust_domain,
      "--grpc-listen",
      absl::StrCat("127.0.0.1:", options_.grpc_port),
      "--admin-listen",
      "127.0.0.1:0",
      "--cert-ttl",
      options_.cert_ttl,
      "--rate-limit",
      absl::StrCat(options_.rate_limit),
      "--audit-log",
      audit_log_ = OutputPath(log_name + ".audit.jsonl"),
  };
  argv.insert(argv.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  if (absl::Status st = process_.Start(argv, OutputPath(log_name + ".log")); !st.ok()) return st;
  bool up = WaitFor(
      [&] {
        std::string log = process_.Log();
        grpc_port_ = FindPort(log, "certificate stream on port ");
        admin_port_ = FindPort(log, "admin on port ");
        return (grpc_port_ > 0 && admin_port_ > 0) || !process_.Running();
      },
      kStartTimeout);
  if (!up || grpc_port_ == 0) {
    std::string why = process_.exit_status() ? DescribeExit(*process_.exit_status()) : "timeout";
    return absl::InternalError(
        absl::StrCat("tether-control did not start (", why, "): ", process_.Log()));
  }
  options_.grpc_port = grpc_port_;  // a restart comes back on the same port
  return absl::OkStatus();
}

void ControlPlaneProcess::Kill() {
  process_.Signal(SIGKILL);
  process_.Wait(absl::InfiniteDuration());
}

absl::Status ControlPlaneProcess::Stop() {
  if (!process_.Running()) {
    auto st = process_.exit_status();
    if (st && WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) return absl::OkStatus();  // Kill()ed
    if (st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("tether-control ended early (", st ? DescribeExit(*st) : "?", "): ", Log()));
  }
  process_.Signal(SIGTERM);
  auto st = process_.Wait(absl::Seconds(30));
  if (!st) {
    Kill();
    return absl::InternalError("tether-control did not stop within 30 s of SIGTERM");
  }
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    return absl::InternalError(
        absl::StrCat("tether-control stopped with ", DescribeExit(*st), ": ", Log()));
  }
  return absl::OkStatus();
}

std::string ControlPlaneProcess::address() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

absl::StatusOr<std::string> ControlPlaneProcess::Tetherctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Runfile("control/tetherctl/tetherctl"), "--admin",
                                   absl::StrCat("127.0.0.1:", admin_port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> r = RunCommand(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("tetherctl ", absl::StrJoin(args, " "), ": exit ",
                                            r->exit_code, ": ", r->err, r->out));
  }
  return r->out;
}

absl::StatusOr<std::string> ControlPlaneProcess::MintToken(
    const std::string& ns, const std::string& sa, const std::vector<std::string>& addresses) {
  std::vector<std::string> args = {"token", "create", "--namespace", ns, "--service-account", sa};
  for (const std::string& a : addresses) args.insert(args.end(), {"--address", a});
  auto out = Tetherctl(args);
  if (!out.ok()) return out.status();
  return std::string(absl::StripAsciiWhitespace(*out));
}

absl::StatusOr<std::string> ControlPlaneProcess::Bundle() { return Tetherctl({"ca", "bundle"}); }

// ProxyProcess.

absl::Status ProxyProcess::Start() {
  std::vector<std::string> argv = {
      Runfile("proxy/tether-proxy"),
      "--control",
      options_.control_address,
      "--ca-bundle",
      options_.ca_bundle_file,
      "--join-token-file",
      options_.join_token_file,
      "--workload-name",
      options_.name,
      "--admin-listen",
      "127.0.0.1:0",
      "--access-log",
      OutputPath(options_.log_prefix + options_.name + ".access.jsonl"),
  };
  if (!options_.inbound_forward.empty()) {
    argv.insert(argv.end(),
                {"--inbound-listen", "127.0.0.1:0", "--inbound-forward", options_.inbound_forward});
  }
  if (!options_.outbound_forward.empty()) {
    argv.insert(argv.end(), {"--outbound-listen", "127.0.0.1:0", "--outbound-forward",
                             options_.outbound_forward});
  }
  if (!options_.outbound_expect_identity.empty()) {
    argv.insert(argv.end(), {"--outbound-expect-identity", options_.outbound_expect_identity});
  }
  argv.insert(argv.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  const std::string log = OutputPath(options_.log_prefix + "proxy-" + options_.name + ".log");
  // A proxy started again (same name) appends to the same log: read only
  // what this run printed.
  const size_t log_start = ReadFile(log).value_or("").size();
  if (absl::Status st = process_.Start(argv, log); !st.ok()) return st;
  bool up = WaitFor(
      [&] {
        std::string text = process_.Log();
        text.erase(0, std::min(log_start, text.size()));
        admin_port_ = FindPort(text, ", admin :");
        inbound_port_ = FindPort(text, "; inbound :");
        outbound_port_ = FindPort(text, ", outbound :");
        return admin_port_ > 0 || !process_.Running();
      },
      kStartTimeout);
  if (!up || admin_port_ == 0) {
    return absl::InternalError(
        absl::StrCat("tether-proxy ", options_.name, " did not start: ", process_.Log()));
  }
  return absl::OkStatus();
}

void ProxyProcess::Kill() {
  ended_by_test_ = true;
  process_.Signal(SIGKILL);
  process_.Wait(absl::InfiniteDuration());
}

std::optional<int> ProxyProcess::Terminate(absl::Duration timeout) {
  ended_by_test_ = true;
  process_.Signal(SIGTERM);
  return process_.Wait(timeout);
}

absl::Status ProxyProcess::Stop() {
  if (ended_by_test_ && !process_.Running()) return absl::OkStatus();
  if (!process_.Running()) {
    auto st = process_.exit_status();
    return absl::InternalError(absl::StrCat("tether-proxy ", options_.name, " ended early (",
                                            st ? DescribeExit(*st) : "?", "): ", Log()));
  }
  process_.Signal(SIGTERM);
  auto st = process_.Wait(absl::Seconds(60));
  if (!st) {
    process_.Signal(SIGKILL);
    process_.Wait(absl::InfiniteDuration());
    return absl::InternalError(
        absl::StrCat("tether-proxy ", options_.name, " did not stop within 60 s of SIGTERM"));
  }
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    return absl::InternalError(absl::StrCat("tether-proxy ", options_.name, " stopped with ",
                                            DescribeExit(*st), ": ", Log()));
  }
  return absl::OkStatus();
}

std::string ProxyProcess::ReadyResponse() const { return HttpGet(admin_port_, "/ready"); }

bool ProxyProcess::Ready() const { return absl::StartsWith(ReadyResponse(), "HTTP/1.1 200"); }

std::optional<ProxyProcess::CertsView> ProxyProcess::Certs() const {
  const std::optional<std::string> body = HttpGetBody(admin_port_, "/certs");
  if (!body.has_value()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  CertsView v;
  if (j["certificate"].is_object()) {
    v.serial = j["certificate"]["serial"].get<std::string>();
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, j["certificate"]["not_after"].get<std::string>(),
                         &v.not_after, &err)) {
      return std::nullopt;
    }
  }
  const auto& s = j["control_stream"];
  v.stream_state = s["state"].get<std::string>();
  v.last_error = s["last_error"].get<std::string>();
  v.stream_failures = s["stream_failures"].get<uint64_t>();
  v.certificates_received = s["certificates_received"].get<uint64_t>();
  v.revocations_version = s["revocations_version"].get<uint64_t>();
  if (j.contains("revoked_certificate")) {
    v.revoked_serial = j["revoked_certificate"]["serial"].get<std::string>();
  }
  return v;
}

// MeshTest.

void MeshTest::SetUp() {
  dir_ = MakeTempDir("mesh");
  // Logs are named after the test, so those of every test in a binary are kept.
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  log_prefix_ = absl::StrCat(info->test_suite_name(), ".", info->name(), "-");
}

void MeshTest::TearDown() {
  for (auto& p : proxies_) {
    absl::Status st = p->Stop();
    EXPECT_TRUE(st.ok()) << st;
  }
  proxies_.clear();
  if (control_) {
    absl::Status st = control_->Stop();
    EXPECT_TRUE(st.ok()) << st;
  }
  control_.reset();
}

void MeshTest::StartControl(const std::string& cert_ttl,
                            const std::vector<std::string>& extra_flags) {
  ControlPlaneProcess::Options opts;
  opts.state_dir = dir_ + "/state";
  opts.cert_ttl = cert_ttl;
  opts.extra_flags = extra_flags;
  control_ = std::make_unique<ControlPlaneProcess>(opts);
  absl::Status st = control_->Start(absl::StrCat(log_prefix_, "control-", ++control_starts_));
  ASSERT_TRUE(st.ok()) << st;
  auto bundle = control_->Bundle();
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_TRUE(WriteFileAtomic(bundle_file(), *bundle).ok());
}

void MeshTest::RestartControl() {
  ASSERT_NE(control_, nullptr);
  ASSERT_FALSE(control_->Running()) << "stop or kill the control plane first";
  ControlPlaneProcess::Options opts = control_->options();  // same state dir and port
  control_ = std::make_unique<ControlPlaneProcess>(opts);
  absl::Status st = control_->Start(absl::StrCat(log_prefix_, "control-", ++control_starts_));
  ASSERT_TRUE(st.ok()) << st;
}

std::string MeshTest::SpiffeId(const std::string& sa) {
  return absl::StrCat("spiffe://", kTrustDomain, "/ns/shop/sa/", sa);
}

std::string MeshTest::TokenFile(const std::string& sa) const {
  return absl::StrCat(dir_, "/", sa, ".token");
}

void MeshTest::WriteToken(const std::string& sa, const std::vector<std::string>& addresses) {
  ASSERT_NE(control_, nullptr);
  auto token = control_->MintToken("shop", sa, addresses);
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_TRUE(WriteFileAtomic(TokenFile(sa), *token).ok());
}

ProxyProcess* MeshTest::StartProxy(const std::string& sa, const std::string& inbound_forward,
                                   const std::string& outbound_forward,
                                   const std::string& expect_identity,
                                   const std::vector<std::string>& extra_flags,
                                   const std::vector<std::string>& token_addresses) {
  ProxyProcess* p = LaunchProxy(sa, inbound_forward, outbound_forward, expect_identity, extra_flags,
                                token_addresses);
  if (p == nullptr) return nullptr;
  EXPECT_TRUE(WaitFor([p] { return p->Ready(); }, absl::Seconds(30)))
      << "proxy " << sa << " not ready: " << p->ReadyResponse();
  return p;
}

ProxyProcess* MeshTest::LaunchProxy(const std::string& sa, const std::string& inbound_forward,
                                    const std::string& outbound_forward,
                                    const std::string& expect_identity,
                                    const std::vector<std::string>& extra_flags,
                                    const std::vector<std::string>& token_addresses) {
  WriteToken(sa, token_addresses);
  ProxyProcess::Options o;
  o.name = sa;
  o.log_prefix = log_prefix_;
  o.control_address = control_->address();
  o.ca_bundle_file = bundle_file();
  o.join_token_file = TokenFile(sa);
  o.inbound_forward = inbound_forward;
  o.outbound_forward = outbound_forward;
  o.outbound_expect_identity = expect_identity;
  o.extra_flags = extra_flags;
  proxies_.push_back(std::make_unique<ProxyProcess>(o));
  ProxyProcess* p = proxies_.back().get();
  absl::Status st = p->Start();
  EXPECT_TRUE(st.ok()) << st;
  return st.ok() ? p : nullptr;
}

void MeshTest::StartKubernetesControl(int api_port, const std::string& api_ca_pem,
                                      const std::string& own_token,
                                      const std::vector<std::string>& extra_flags) {
  const std::string ca_file = dir() + "/kubernetes-ca.crt";
  const std::string token_file = dir() + "/kubernetes-token";
  ASSERT_TRUE(WriteFileAtomic(ca_file, api_ca_pem).ok());
  ASSERT_TRUE(WriteFileAtomic(token_file, absl::StrCat(own_token, "\n")).ok());
  std::vector<std::string> flags = {"--kubernetes",
                                    "--kubernetes-api-host",
                                    "127.0.0.1",
                                    "--kubernetes-api-port",
                                    absl::StrCat(api_port),
                                    "--kubernetes-ca-file",
                                    ca_file,
                                    "--kubernetes-token-file",
                                    token_file,
                                    "--kubernetes-publish=false"};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  StartControl("1h", flags);
}

void MeshTest::StartPair(const std::vector<std::string>& a_flags,
                         const std::vector<std::string>& b_flags) {
  b_ = StartProxy("b", absl::StrCat("127.0.0.1:", backend_.port()), "", "", b_flags);
  ASSERT_NE(b_, nullptr);
  a_ = StartProxy("a", "", absl::StrCat("127.0.0.1:", b_->inbound_port()), SpiffeId("b"), a_flags);
  ASSERT_NE(a_, nullptr);
}

std::vector<std::string> MeshTest::Curl(int port, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env", "curl", "-sS", "-w", "%{http_code}\\n"};
  for (const std::string& a : args) {
    if (a[0] != '/') {
      argv.push_back(a);
      continue;
    }
    argv.insert(argv.end(), {"-o", "/dev/null"});  // per URL
    argv.push_back(absl::StrCat("http://127.0.0.1:", port, a));
  }
  ChildProcess curl;
  EXPECT_TRUE(curl.Start(argv, absl::StrCat(dir(), "/curl-", ++curls_, ".out")).ok());
  EXPECT_EQ(curl.Wait(absl::Seconds(30)), 0) << curl.Log();
  return absl::StrSplit(curl.Log(), '\n', absl::SkipEmpty());
}

void MeshTest::ExpectNoFailures() {
  for (auto& p : proxies_) {
    auto m = p->Scrape();
    ASSERT_TRUE(m.has_value()) << p->options().name;
    std::string counted;
    for (const auto& [series, value] : *m) {
      if (absl::StartsWith(series, "tether_proxy_connections_total") ||
          absl::StartsWith(series, "tether_proxy_tls_handshake_failures_total")) {
        absl::StrAppend(&counted, "\n  ", series, " ", value);
      }
    }
    EXPECT_EQ(SumMetric(*m, "tether_proxy_connections_total", {}, {"outcome=\"ok\""}), 0)
        << "proxy " << p->options().name << " ended connections with an error:" << counted;
    EXPECT_EQ(SumMetric(*m, "tether_proxy_tls_handshake_failures_total"), 0)
        << "proxy " << p->options().name << " counted failed handshakes:" << counted;
  }
}

}  // namespace tether::testing
