// ca_stream_load: opens many concurrent, authenticated certificate streams
// against a running tether-control and reports what it costs the control
// plane.
//
//   bazel build //tests/bench:ca_stream_load
//   bazel-bin/tests/bench/ca_stream_load --control 127.0.0.1:15012 --admin 127.0.0.1:15014
//       --ca-bundle /tmp/roots.pem --control-pid "$(pidof tether-control)" --streams 10000
//       [--csr-every 1]
//
// It mints one join token per stream with the AdminService (identities
// spiffe://TD/ns/load/sa/load-N, so no two streams share a rate limit), then
// opens the streams with gRPC's callback API, multiplexed over a handful of
// channels (one TCP connection each; a connection per stream would exhaust
// file descriptors on both sides). A stream is established when it has read
// Welcome, TrustBundle and RevocationList (and, for every --csr-every'th
// stream, a certificate). The streams are held open for --hold, then closed.
//
// Reported: streams established and the time it took (with per-stream
// latency percentiles), failures by gRPC status, and the control plane's RSS
// (VmRSS of --control-pid) before and after the streams opened, per stream.
//
// With --identity-key/--identity-chain (a mesh certificate, e.g. from
// mesh_cert) no tokens are minted: every channel presents that certificate and
// every stream authenticates with it, as a renewing proxy does. That opens
// 10,000 streams in seconds, where minting 10,000 join tokens takes minutes.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"

ABSL_FLAG(std::string, control, "127.0.0.1:15012", "tether-control's certificate stream address");
ABSL_FLAG(std::string, admin, "127.0.0.1:15014", "tether-control's admin address (join tokens)");
ABSL_FLAG(std::string, ca_bundle, "", "PEM trust bundle (tetherctl ca bundle) (required)");
ABSL_FLAG(std::string, server_name, "tether-control.tether-system.svc",
          "Name to verify in the control plane's certificate");
ABSL_FLAG(int, streams, 10000, "Concurrent streams to open");
ABSL_FLAG(int, channels, 32, "gRPC channels (TCP connections) the streams share");
ABSL_FLAG(int, max_pending, 200,
          "Streams being established at once (0: all at once); more than the control plane "
          "authenticates within its Hello timeout (10 s) end with DEADLINE_EXCEEDED");
ABSL_FLAG(int, csr_every, 0, "Every Nth stream also gets a certificate signed (0: none)");
ABSL_FLAG(int, control_pid, 0, "PID of tether-control, for its RSS (0: not measured)");
ABSL_FLAG(absl::Duration, hold, absl::Seconds(5), "How long to keep the streams open");
ABSL_FLAG(std::string, ns, "load", "Namespace of the load identities");
ABSL_FLAG(std::string, identity_key, "",
          "PEM key of a mesh certificate: streams authenticate with it (renewal Hellos, no join "
          "tokens), all as its identity");
ABSL_FLAG(std::string, identity_chain, "", "PEM chain of that certificate (with --identity-key)");

namespace tether::bench {
namespace {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

// RssKib returns VmRSS of `pid` in KiB, or -1.
int64_t RssKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    int64_t kib = -1;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) return kib;
  }
  return -1;
}

std::string Mib(int64_t kib) {
  return kib < 0 ? "?" : absl::StrFormat("%.1f MiB", static_cast<double>(kib) / 1024);
}

// RaiseFileLimit lifts RLIMIT_NOFILE to its hard limit.
void RaiseFileLimit() {
  rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Tally collects how streams ended up.
class Tally {
 public:
  void Established(absl::Duration latency) {
    MutexLock lock(&mu_);
    latencies_.push_back(latency);
    --pending_;
    last_ = absl::Now();
    changed_.SignalAll();
  }
  void Failed(const grpc::Status& st) {
    MutexLock lock(&mu_);
    std::string key = absl::StrCat(StatusName(st.error_code()), ": ", st.error_message());
    ++failures_[key.substr(0, 160)];
    --pending_;
    changed_.SignalAll();
    last_ = absl::Now();
    changed_.SignalAll();
  }
  void Closed() {
    MutexLock lock(&mu_);
    ++closed_;
    changed_.SignalAll();
  }
  void Started() {
    MutexLock lock(&mu_);
    ++pending_;
  }
  // WaitPendingBelow blocks until fewer than `n` streams are being established.
  void WaitPendingBelow(int n) {
    MutexLock lock(&mu_);
    auto below = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ < n; };
    while (!below()) changed_.Wait(&mu_);
  }
  // WaitClosed blocks until `n` streams are done, or the deadline passes.
  bool WaitClosed(int n, absl::Time deadline) {
    MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ >= n; };
    return changed_.WaitFor(&mu_, done, deadline - absl::Now());
  }

  std::vector<absl::Duration> latencies() const {
    MutexLock lock(&mu_);
    return latencies_;
  }
  std::map<std::string, int> failures() const {
    MutexLock lock(&mu_);
    return failures_;
  }
  absl::Time last() const {
    MutexLock lock(&mu_);
    return last_;
  }

  static std::string StatusName(grpc::StatusCode code) {
    static const char* const kNames[] = {"OK",
                                         "CANCELLED",
                                         "UNKNOWN",
                                         "INVALID_ARGUMENT",
                                         "DEADLINE_EXCEEDED",
                                         "NOT_FOUND",
                                         "ALREADY_EXISTS",
                                         "PERMISSION_DENIED",
                                         "RESOURCE_EXHAUSTED",
                                         "FAILED_PRECONDITION",
                                         "ABORTED",
                                         "OUT_OF_RANGE",
                                         "UNIMPLEMENTED",
                                         "INTERNAL",
                                         "UNAVAILABLE",
                                         "DATA_LOSS",
                                         "UNAUTHENTICATED"};
    int i = static_cast<int>(code);
    return i >= 0 && i < 17 ? kNames[i] : absl::StrCat("CODE_", i);
  }

 private:
  mutable Mutex mu_;
  mutable CondVar changed_;  // signalled whenever a count changes
  std::vector<absl::Duration> latencies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  int closed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// LoadStream: one proxy's stream. It writes Hello (and a CSR right behind it
// when asked to; the control plane reads it once the Hello is through), then
// reads until established, then keeps reading pushes until closed.
class LoadStream final : public grpc::ClientBidiReactor<StreamRequest, StreamResponse> {
 public:
  LoadStream(Tally* tally, std::string token, std::string csr_der)
      : tally_(tally), csr_der_(std::move(csr_der)) {
    // No token: the stream is authenticated by the channel's certificate.
    if (!token.empty()) hello_.mutable_hello()->set_join_token(std::move(token));
    hello_.mutable_hello()->set_workload_name("ca-stream-load");
    hello_.mutable_hello()->set_proxy_version("load");
  }

  void Start(tether::ca::v1::CertificateService::Stub* stub) {
    started_ = absl::Now();
    tally_->Started();
    stub->async()->Stream(&context_, this);
    StartWrite(&hello_);
    StartRead(&response_);
    StartCall();
  }

  // Close half-closes the stream; the control plane then finishes it.
  void Close() { StartWritesDone(); }

  void OnWriteDone(bool ok) override {
    if (!ok || csr_der_.empty()) return;
    {
      MutexLock lock(&mu_);
      if (csr_sent_) return;
      csr_sent_ = true;
      csr_.mutable_certificate_request()->set_request_id(1);
      csr_.mutable_certificate_request()->set_csr_der(csr_der_);
    }
    StartWrite(&csr_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    bool now_established = false;
    {
      MutexLock lock(&mu_);
      switch (response_.kind_case()) {
        case StreamResponse::kWelcome:
        case StreamResponse::kTrustBundle:
        case StreamResponse::kRevocations:
        case StreamResponse::kCertificate:
          ++received_;
          break;
        case StreamResponse::kRejected:
          rejected_ = absl::StrCat("CSR rejected: ", response_.rejected().reason());
          break;
        default:
          break;
      }
      const int wanted = csr_der_.empty() ? 3 : 4;
      if (!established_ && received_ >= wanted) {
        established_ = true;
        now_established = true;
      }
    }
    if (now_established) tally_->Established(absl::Now() - started_);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    bool established;
    std::string rejected;
    {
      MutexLock lock(&mu_);
      established = established_;
      rejected = rejected_;
    }
    if (!established) {
      tally_->Failed(!status.ok() || rejected.empty()
                         ? status
                         : grpc::Status(grpc::StatusCode::UNKNOWN, rejected));
    }
    tally_->Closed();
  }

  bool established() const {
    MutexLock lock(&mu_);
    return established_;
  }

 private:
  Tally* const tally_;
  const std::string csr_der_;
  grpc::ClientContext context_;
  StreamRequest hello_;
  StreamRequest csr_;
  StreamResponse response_;
  // gRPC runs one OnWriteDone and one OnReadDone at a time, and OnDone after
  // them, but orders them through its completion queue, which
  // ThreadSanitizer cannot see (Debian's gRPC is not instrumented): mu_
  // makes the ordering visible.
  mutable Mutex mu_;
  bool csr_sent_ ABSL_GUARDED_BY(mu_) = false;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
  bool established_ ABSL_GUARDED_BY(mu_) = false;
  std::string rejected_ ABSL_GUARDED_BY(mu_);
  absl::Time started_;
};

absl::StatusOr<std::vector<std::string>> MintTokens(const std::string& admin, int n,
                                                    const std::string& ns) {
  auto channel = grpc::CreateChannel(admin, grpc::InsecureChannelCredentials());
  auto stub = tether::admin::v1::AdminService::NewStub(channel);
  std::vector<std::string> tokens(n);
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    tether::admin::v1::CreateJoinTokenRequest req;
    req.set_namespace_(ns);
    req.set_service_account(absl::StrCat("load-", i));
    req.set_ttl_seconds(4 * 3600);
    tether::admin::v1::CreateJoinTokenResponse resp;
    grpc::Status st = stub->CreateJoinToken(&ctx, req, &resp);
    if (!st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("CreateJoinToken via ", admin, ": ", st.error_message()));
    }
    tokens[i] = resp.token();
  }
  return tokens;
}

// ReadyLine returns the admin endpoint's /ready line ("ready: CA for ..., N
// streams"), fetched over plain HTTP.
std::string ReadyLine(const std::string& admin) {
  std::vector<std::string> hp = absl::StrSplit(admin, absl::MaxSplits(':', 1));
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) return "?";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, hp[0].c_str(), &addr.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "?";
  }
  std::string req = "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[1024];
  ssize_t got;
  while ((got = read(fd, buf, sizeof(buf))) > 0) out.append(buf, got);
  close(fd);
  size_t body = out.find("\r\n\r\n");
  if (body == std::string::npos) return "?";
  return std::string(absl::StripAsciiWhitespace(out.substr(body + 4)));
}

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

int Run() {
  const int n = absl::GetFlag(FLAGS_streams);
  const int channels = std::max(1, absl::GetFlag(FLAGS_channels));
  const int csr_every = absl::GetFlag(FLAGS_csr_every);
  const int max_pending =
      absl::GetFlag(FLAGS_max_pending) > 0 ? absl::GetFlag(FLAGS_max_pending) : n + 1;
  const int pid = absl::GetFlag(FLAGS_control_pid);
  const std::string admin = absl::GetFlag(FLAGS_admin);
  if (absl::GetFlag(FLAGS_ca_bundle).empty() || n <= 0) {
    absl::FPrintF(stderr, "ca_stream_load: --ca-bundle and --streams > 0 are required\n");
    return 2;
  }
  absl::StatusOr<std::string> roots = ReadFile(absl::GetFlag(FLAGS_ca_bundle));
  if (!roots.ok()) {
    absl::FPrintF(stderr, "ca_stream_load: %s\n", roots.status().message());
    return 2;
  }
  RaiseFileLimit();
  absl::PrintF(
      "ca_stream_load: %d streams over %d channels to %s, at most %d being established "
      "at once, %s\n",
      n, channels, absl::GetFlag(FLAGS_control), std::min(max_pending, n),
      csr_every <= 0   ? "no CSRs"
      : csr_every == 1 ? "one CSR signed per stream"
                       : absl::StrCat("one CSR signed per ", csr_every, " streams").c_str());
  const int64_t rss_start = RssKib(pid);

  const bool by_certificate = !absl::GetFlag(FLAGS_identity_key).empty();
  absl::StatusOr<std::vector<std::string>> tokens = std::vector<std::string>(n);
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (by_certificate) {
    absl::StatusOr<std::string> key = ReadFile(absl::GetFlag(FLAGS_identity_key));
    absl::StatusOr<std::string> chain = ReadFile(absl::GetFlag(FLAGS_identity_chain));
    if (!key.ok() || !chain.ok() || csr_every > 0) {
      absl::FPrintF(stderr,
                    "ca_stream_load: --identity-key needs a readable --identity-chain and no "
                    "--csr-every\n");
      return 2;
    }
    provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        *roots, std::vector<grpc::experimental::IdentityKeyCertPair>{{*key, *chain}});
    absl::PrintF("streams authenticate with the certificate in %s\n",
                 absl::GetFlag(FLAGS_identity_chain));
  } else {
    absl::Time t0 = absl::Now();
    tokens = MintTokens(admin, n, absl::GetFlag(FLAGS_ns));
    if (!tokens.ok()) {
      absl::FPrintF(stderr, "ca_stream_load: %s\n", tokens.status().message());
      return 1;
    }
    absl::PrintF("join tokens: %d minted in %s\n", n,
                 absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1))));
    provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(*roots);
  }

  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_root_certs();
  if (by_certificate) tls.watch_identity_key_cert_pairs();
  auto creds = grpc::experimental::TlsCredentials(tls);
  std::vector<std::shared_ptr<grpc::Channel>> chans;
  std::vector<std::unique_ptr<tether::ca::v1::CertificateService::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(absl::GetFlag(FLAGS_server_name));
    // A channel of its own for each: identical channels would share one
    // connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("tether.load.channel", i);
    chans.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_control), creds, args));
    stubs.push_back(tether::ca::v1::CertificateService::NewStub(chans.back()));
  }
  for (auto& c : chans) {
    if (!c->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
      absl::FPrintF(stderr, "ca_stream_load: cannot connect to %s\n", absl::GetFlag(FLAGS_control));
      return 1;
    }
  }
  const int64_t rss_before = RssKib(pid);

  Tally tally;
  std::vector<std::unique_ptr<LoadStream>> streams;
  streams.reserve(n);
  // CSRs are made before any stream opens, so that key generation does not
  // slow the streams; their identities are in the control plane's trust
  // domain, which the admin API tells.
  std::string trust_domain;
  if (csr_every > 0) {
    auto stub = tether::admin::v1::AdminService::NewStub(
        grpc::CreateChannel(admin, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    tether::admin::v1::GetTrustBundleResponse resp;
    grpc::Status st = stub->GetTrustBundle(&ctx, {}, &resp);
    if (!st.ok()) {
      absl::FPrintF(stderr, "ca_stream_load: GetTrustBundle: %s\n", st.error_message());
      return 1;
    }
    trust_domain = resp.trust_domain();
  }
  for (int i = 0; i < n; ++i) {
    std::string csr;
    if (csr_every > 0 && i % csr_every == 0) {
      auto key = pki::GenerateP256Key();
      auto id =
          pki::SpiffeId::Make(trust_domain, absl::GetFlag(FLAGS_ns), absl::StrCat("load-", i));
      absl::StatusOr<std::string> der =
          key.ok() && id.ok() ? pki::CreateCsr(key->get(), *id) : absl::InternalError("key");
      if (!der.ok()) {
        absl::FPrintF(stderr, "ca_stream_load: CSR: %s\n", der.status().message());
        return 1;
      }
      csr = *std::move(der);
    }
    streams.push_back(std::make_unique<LoadStream>(&tally, (*tokens)[i], std::move(csr)));
  }

  absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    tally.WaitPendingBelow(max_pending);
    streams[i]->Start(stubs[i % channels].get());
  }
  tally.WaitPendingBelow(1);
  const absl::Duration establish = tally.last() - start;
  std::vector<absl::Duration> lat = tally.latencies();
  const int established = static_cast<int>(lat.size());
  absl::PrintF(
      "established: %d of %d streams in %s (%.0f streams/s; per stream p50 %s, p99 %s, "
      "max %s)\n",
      established, n, absl::FormatDuration(absl::Trunc(establish, absl::Milliseconds(1))),
      established / std::max(absl::ToDoubleSeconds(establish), 1e-9),
      absl::FormatDuration(absl::Trunc(Percentile(lat, 0.5), absl::Microseconds(10))),
      absl::FormatDuration(absl::Trunc(Percentile(lat, 0.99), absl::Microseconds(10))),
      absl::FormatDuration(absl::Trunc(Percentile(lat, 1.0), absl::Microseconds(10))));
  std::map<std::string, int> failures = tally.failures();
  if (failures.empty()) {
    absl::PrintF("failures: none\n");
  } else {
    for (const auto& [what, count] : failures) absl::PrintF("failures: %d x %s\n", count, what);
  }

  absl::SleepFor(absl::GetFlag(FLAGS_hold));
  const int64_t rss_after = RssKib(pid);
  absl::PrintF("control plane says: %s\n", ReadyLine(admin));
  if (pid > 0) {
    absl::PrintF(
        "control plane RSS: %s at start, %s before the streams (tokens minted, channels "
        "connected), %s with %d streams open: %s per stream\n",
        Mib(rss_start), Mib(rss_before), Mib(rss_after), established,
        established > 0 && rss_before >= 0 && rss_after >= 0
            ? absl::StrFormat("%.1f KiB", static_cast<double>(rss_after - rss_before) / established)
                  .c_str()
            : "?");
  }

  for (auto& s : streams) {
    if (s->established()) s->Close();
  }
  absl::Time closing = absl::Now();
  if (!tally.WaitClosed(n, closing + absl::Seconds(60))) {
    absl::FPrintF(stderr, "ca_stream_load: streams did not close within 60 s\n");
    return 1;
  }
  absl::PrintF("closed: all streams in %s\n",
               absl::FormatDuration(absl::Trunc(absl::Now() - closing, absl::Milliseconds(1))));
  if (pid > 0) {
    absl::SleepFor(absl::Seconds(1));  // let the control plane finish the streams
    absl::PrintF("control plane RSS after closing them: %s (what the allocator keeps)\n",
                 Mib(RssKib(pid)));
  }
  return failures.empty() && established == n ? 0 : 1;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "opens many certificate streams against a running tether-control.\n"
      "  ca_stream_load --control HOST:PORT --admin HOST:PORT --ca-bundle roots.pem "
      "[--streams 10000] [--csr-every N] [--control-pid PID]");
  tether::ParseCommandLineWithDashes(argc, argv);
  (void)std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when redirected, too
  return tether::bench::Run();
}
