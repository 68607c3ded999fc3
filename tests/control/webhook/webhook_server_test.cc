// The injection webhook served by a real control plane: HTTPS with the
// certificate the mesh CA issues for tether-control.tether-system.svc,
// checked as the API server checks it (caBundle = the mesh root, that name);
// AdmissionReviews in, patches out; errors; renewal after a CA rotation.
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"
#include "control/inject/yaml_json.h"
#include "control/kubernetes/https_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/net_helpers.h"

namespace tether::control {
namespace {

using inject::Json;
using ::testing::HasSubstr;

class WebhookServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("webhook");
    ControlPlaneOptions opts;
    opts.state_dir = dir_ + "/state";
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.webhook_listen = "127.0.0.1:0";
    opts.health_listen = "127.0.0.1:0";
    opts.inject.proxy_image = "registry.example/tether/proxy:0.1.0";
    auto cp = ControlPlane::Start(opts, RealClock::Default());
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    ASSERT_NE(cp_->webhook_port(), 0);
    absl::StatusOr<std::string> review = ReadFile("tests/control/webhook/testdata/pod_create.json");
    ASSERT_TRUE(review.ok()) << review.status();
    review_ = *review;
  }
  void TearDown() override {
    if (cp_) cp_->Stop();
  }

  // Root is the PEM of the root signing now (what caBundle holds).
  std::string Root() {
    return pki::CertToPem(cp_->store()->Current()->issuer->authority().cert.get());
  }

  absl::StatusOr<http::HttpResult> Post(const std::string& body, const std::string& ca_pem,
                                        const std::string& content_type = "application/json",
                                        const std::string& server_name = kControlServerName) {
    kubernetes::HttpsTarget target;
    target.host = "127.0.0.1";
    target.port = static_cast<uint16_t>(cp_->webhook_port());
    target.ca_pem = ca_pem;
    target.server_name = server_name;
    return kubernetes::Post(target, "/inject?timeout=10s", {{"Content-Type", content_type}}, body,
                            absl::Seconds(5));
  }

  std::string dir_;
  std::unique_ptr<ControlPlane> cp_;
  std::string review_;
};

TEST_F(WebhookServerTest, InjectsAPodOverHttpsVerifiedAsTheApiServerDoes) {
  absl::StatusOr<http::HttpResult> r = Post(review_, Root());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  const Json answer = Json::parse(r->body);
  EXPECT_EQ(answer["kind"], "AdmissionReview");
  EXPECT_EQ(answer["response"]["uid"], "0df28fbd-5f5f-4f2d-9c0e-7f6b1a3f2c41");
  EXPECT_EQ(answer["response"]["allowed"], true);
  EXPECT_EQ(answer["response"]["patchType"], "JSONPatch");
  std::string patch;
  ASSERT_TRUE(absl::Base64Unescape(answer["response"]["patch"].get<std::string>(), &patch));
  const Json pod = Json::parse(review_)["request"]["object"].patch(Json::parse(patch));
  EXPECT_EQ(pod["spec"]["initContainers"][1]["name"], "tether-proxy");
  EXPECT_EQ(pod["spec"]["initContainers"][1]["image"], "registry.example/tether/proxy:0.1.0");
  EXPECT_EQ(pod["spec"]["containers"][0]["name"], "cart");

  // Counted at the admin port.
  EXPECT_THAT(testing::HttpGet(cp_->admin_port(), "/metrics"),
              HasSubstr("tether_control_webhook_reviews_total{outcome=\"injected\"} 1"));
}

// The attack: as many silent TCP connections as the webhook has slots.
// Each costs its slot for at most the read deadline (10 s): then the
// server closes it, and pods can be admitted again. (With blocking sockets
// SSL_read waited forever, so 64 idle connections stopped every pod
// creation in injected namespaces for good.)
TEST_F(WebhookServerTest, SilentConnectionsHoldASlotOnlyUntilTheirDeadline) {
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) {
    int fd = testing::ConnectLoopback(cp_->webhook_port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  const absl::Time opened = absl::Now();
  // The server ends every one of them by itself.
  for (int fd : idle) {
    char c;
    timeval tv{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const ssize_t n = recv(fd, &c, 1, 0);
    EXPECT_LE(n, 0) << "the server sent something to a client that said nothing";
    EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        << "still open " << absl::FormatDuration(absl::Now() - opened) << " after it was opened";
    close(fd);
  }
  const absl::Duration held = absl::Now() - opened;
  EXPECT_LT(held, absl::Seconds(20));
  std::cerr << "64 silent connections were closed by the server within "
            << absl::FormatDuration(held) << "\n";
  absl::StatusOr<http::HttpResult> r = Post(review_, Root());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
}

// The kubelet's probes have a listener of their own: while silent clients
// hold every webhook slot, /healthz and /ready still answer at once, so the
// liveness probe does not restart the control plane under the attack.
TEST_F(WebhookServerTest, ProbesAnswerWhileTheWebhookIsSaturated) {
  ASSERT_NE(cp_->health_port(), 0);
  std::vector<int> idle;
  for (int i = 0; i < 70; ++i) {  // the webhook's 64 slots and more
    int fd = testing::ConnectLoopback(cp_->webhook_port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(100));  // every one accepted
  const absl::Time start = absl::Now();
  EXPECT_THAT(testing::HttpGet(cp_->health_port(), "/healthz"), HasSubstr("200 OK"));
  const std::string ready = testing::HttpGet(cp_->health_port(), "/ready");
  EXPECT_THAT(ready, HasSubstr("200 OK"));
  EXPECT_THAT(ready, HasSubstr("ready: CA for mesh.test"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // The health port serves nothing else.
  EXPECT_THAT(testing::HttpGet(cp_->health_port(), "/metrics"), HasSubstr("404"));
  for (int fd : idle) close(fd);
}

TEST_F(WebhookServerTest, TheCertificateNamesTheServiceOnly) {
  // Any other name fails verification, as it would in the API server.
  absl::StatusOr<http::HttpResult> r =
      Post(review_, Root(), "application/json", "tether-webhook.elsewhere.svc");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("certificate verify failed"));
  // And a client that trusts another root refuses it too.
  auto key = pki::GenerateP256Key();
  ASSERT_TRUE(key.ok());
  auto foreign = pki::CreateRootCa(key->get(), "mesh.test", absl::Now(), absl::Hours(1));
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  r = Post(review_, pki::CertToPem(foreign->get()));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("certificate verify failed"));
}

TEST_F(WebhookServerTest, MalformedRequestsGetErrorsAndTheServerCarriesOn) {
  absl::StatusOr<http::HttpResult> r = Post("{\"kind\": \"AdmissionReview\"", Root());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("malformed AdmissionReview"));
  r = Post(review_, Root(), "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 415);
  // A client that speaks plaintext HTTP to the TLS port gets nothing useful
  // and does not disturb the server.
  EXPECT_EQ(testing::HttpGet(cp_->webhook_port(), "/healthz").find("200 OK"), std::string::npos);
  r = Post(review_, Root());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(testing::HttpGet(cp_->admin_port(), "/metrics"),
              HasSubstr("tether_control_webhook_reviews_total{outcome=\"malformed\"} 2"));
}

TEST_F(WebhookServerTest, ACaRotationRenewsTheWebhookCertificate) {
  const std::string old_root = Root();
  ASSERT_TRUE(Post(review_, old_root).ok());
  ASSERT_TRUE(cp_->store()->Rotate(absl::Hours(1)).ok());
  const std::string new_root = Root();
  ASSERT_NE(new_root, old_root);
  // The next connection is served with a certificate from the new root.
  absl::StatusOr<http::HttpResult> r = Post(review_, new_root);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(Post(review_, old_root).ok());
}

TEST(WebhookListenTest, ABadAddressFailsTheStart) {
  ControlPlaneOptions opts;
  opts.state_dir = testing::MakeTempDir("webhook-bad") + "/state";
  opts.trust_domain = "mesh.test";
  opts.grpc_listen = "127.0.0.1:0";
  opts.admin_listen = "127.0.0.1:0";
  opts.webhook_listen = "127.0.0.1:http";
  auto cp = ControlPlane::Start(opts, RealClock::Default());
  ASSERT_FALSE(cp.ok());
  EXPECT_THAT(cp.status().message(), HasSubstr("--webhook-listen"));
}

}  // namespace
}  // namespace tether::control
