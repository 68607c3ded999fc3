// Issue 16 item 4: a Hello flood against a real ControlPlane over gRPC,
// whose Kubernetes tokens are checked by the real TokenReviewAuthenticator
// against a stand-in API server that counts the reviews. One peer address
// (127.0.0.1) opens streams that never say Hello and sends Hellos with bad
// tokens; a legitimate proxy at another address ([::1]) must still get its
// certificate within seconds, and its token, reviewed once, is answered
// from the cache the second time.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "control/kubernetes/token_review.h"
#include "tests/control/ca_test_client.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::FakeHttpsServer;
using testing::FakeKubernetesApi;
using testing::HttpGet;
using testing::RecordedRequest;
using testing::ServiceAccountStatus;

constexpr char kCartToken[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpjYXJ0In0.c2ln";
constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr int kPerPeer = 16;
constexpr int kHelloBurst = 20;

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/flood-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

double MetricValue(const std::string& text, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    double v;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

class CaStreamHelloFloodTest : public ::testing::Test {
 protected:
  CaStreamHelloFloodTest()
      : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))),
        api_ca_(testing::MakeTestCa("kubernetes")),
        api_cert_(testing::MakeServerCert(api_ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")) {}

  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", api_ca_.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
    api_.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
    server_ = std::make_unique<FakeHttpsServer>(
        api_cert_, [this](const RecordedRequest& req) { return api_.Answer(req); });

    control::kubernetes::TokenReviewAuthenticator::Options k8s;
    k8s.api_host = "127.0.0.1";
    k8s.api_port = server_->port();
    k8s.ca_file = dir_ + "/ca.crt";
    k8s.token_file = dir_ + "/token";
    k8s.trust_domain = "mesh.test";
    auto authn = control::kubernetes::TokenReviewAuthenticator::Create(k8s);
    ASSERT_TRUE(authn.ok()) << authn.status();
    authn_ = std::move(*authn);

    control::ControlPlaneOptions opts;
    opts.state_dir = dir_ + "/state";
    opts.trust_domain = "mesh.test";
    // Both loopbacks, so the flood and the legitimate proxy have addresses
    // of their own: 127.0.0.1 and ::1.
    opts.grpc_listen = "[::]:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.kubernetes = authn_.get();
    // Idle streams stay for the whole test (unless a limit refuses them).
    opts.hello_timeout = absl::Minutes(5);
    opts.stream_limits.max_unauthenticated_streams = 64;
    opts.stream_limits.max_unauthenticated_per_peer = kPerPeer;
    opts.stream_limits.hellos_per_minute_per_peer = 60;
    opts.stream_limits.hello_burst_per_peer = kHelloBurst;
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }

  void TearDown() override {
    if (cp_) cp_->Stop();  // ends the idle streams
    idle_.clear();
    EXPECT_TRUE(api_.problems().empty());
  }

  int Reviews(const std::string& token) {
    std::vector<std::string> all = api_.reviewed_tokens();
    return static_cast<int>(std::count(all.begin(), all.end(), token));
  }
  double Metric(absl::string_view series) {
    return MetricValue(HttpGet(cp_->admin_port(), "/metrics"), series);
  }
  template <typename F>
  static bool WaitFor(F done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!done()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  // BadHello sends a Hello with `token` from 127.0.0.1 and returns the
  // stream's status.
  grpc::StatusCode BadHello(const std::string& token) {
    CaTestClient attacker(cp_->grpc_port(), roots_pem_);
    attacker.SendKubernetesHello(token);
    while (attacker.Read()) {
    }
    return attacker.Finish().error_code();
  }

  FakeClock clock_;
  testing::TestCa api_ca_;
  testing::TestCert api_cert_;
  std::string dir_;
  FakeKubernetesApi api_;
  std::unique_ptr<FakeHttpsServer> server_;
  std::unique_ptr<control::kubernetes::TokenReviewAuthenticator> authn_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
  std::vector<std::unique_ptr<CaTestClient>> idle_;
};

TEST_F(CaStreamHelloFloodTest, LegitimateProxyGetsItsCertificateDuringAHelloFlood) {
  // 1. 200 Hellos with bad tokens, every other one the same token. The
  // peer's Hello bucket lets 20 through; of those, the repeated token is
  // reviewed once (refusals are cached briefly), the distinct ones once each.
  std::map<grpc::StatusCode, int> codes;
  for (int i = 0; i < 200; ++i) {
    ++codes[BadHello(i % 2 == 0 ? "bad.same.token" : absl::StrCat("bad.", i, ".token"))];
  }
  EXPECT_EQ(codes[grpc::StatusCode::UNAUTHENTICATED], kHelloBurst);
  EXPECT_EQ(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 200 - kHelloBurst);
  const int reviews_after_bad = static_cast<int>(api_.reviewed_tokens().size());
  EXPECT_EQ(Reviews("bad.same.token"), 1);
  EXPECT_EQ(reviews_after_bad, 1 + kHelloBurst / 2);
  EXPECT_EQ(Metric("tether_control_streams_limited_total{limit=\"hello_rate_per_peer\"}"),
            200 - kHelloBurst);

  // 2. 100 streams that never say Hello: 16 are held (the per-peer cap),
  // the others refused at once.
  for (int i = 0; i < 100; ++i) {
    idle_.push_back(std::make_unique<CaTestClient>(cp_->grpc_port(), roots_pem_));
  }
  ASSERT_TRUE(WaitFor([&] {
    return Metric(
               "tether_control_streams_limited_total{limit=\"unauthenticated_streams_per_"
               "peer\"}") == 100 - kPerPeer;
  }));
  EXPECT_EQ(cp_->streams()->unauthenticated_count(), static_cast<size_t>(kPerPeer));

  // 3. While the same address keeps sending bad Hellos, the legitimate proxy
  // at ::1 authenticates and gets its certificate.
  std::atomic<bool> stop{false};
  std::atomic<int> flood_hellos{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 2; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        BadHello(absl::StrCat("bad.flood", t, ".", i));
        flood_hellos.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return flood_hellos.load() >= 50; }));
  const absl::Time start = absl::Now();
  absl::Duration first, second;
  for (int round = 0; round < 2; ++round) {
    CaTestClient proxy(cp_->grpc_port(), roots_pem_, std::nullopt, "[::1]");
    ASSERT_TRUE(proxy.SendKubernetesHello(kCartToken));
    absl::StatusOr<std::string> id = proxy.ReadWelcome();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, "spiffe://mesh.test/ns/shop/sa/cart");
    auto key = pki::GenerateP256Key();
    ASSERT_TRUE(proxy.SendCsr(1, *pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(*id))));
    auto cert = proxy.Read();
    ASSERT_TRUE(cert && cert->has_certificate()) << (cert ? cert->DebugString() : "ended");
    (round == 0 ? first : second) = absl::Now() - start;
    EXPECT_TRUE(proxy.Finish().ok());
  }
  stop = true;
  for (auto& t : flood) t.join();
  std::cerr << "flood Hellos during the legitimate proxy's: " << flood_hellos.load()
            << "; certificate after " << absl::FormatDuration(first) << ", again after "
            << absl::FormatDuration(second - first)
            << "; TokenReviews: " << api_.reviewed_tokens().size() << " (bad tokens "
            << reviews_after_bad << ")\n";
  // Generous for a shared machine: unprotected, the proxy waits behind the
  // flood's reviews or is refused as busy.
  EXPECT_LT(first, absl::Seconds(5));
  // The flood cost no TokenReview after its burst; the proxy's token one, for
  // both of its streams.
  EXPECT_EQ(Reviews(kCartToken), 1);
  EXPECT_EQ(static_cast<int>(api_.reviewed_tokens().size()), reviews_after_bad + 1);
  EXPECT_EQ(Metric("tether_control_token_review_cache_lookups_total{result=\"hit\"}"),
            1 + (kHelloBurst / 2 - 1));
}

}  // namespace
}  // namespace tether
