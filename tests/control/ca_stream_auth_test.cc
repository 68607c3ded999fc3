// Authentication on the certificate stream, with a real ControlPlane and real
// gRPC clients: Kubernetes authentication runs on the stream service's worker
// pool (never on gRPC's callback threads), a full pool refuses streams as
// busy, and a stream that never says Hello is finished.
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/sync/mutex.h"
#include "common/testing/fake_clock.h"
#include "control/ca/authenticator.h"
#include "control/control_plane.h"
#include "tests/control/ca_test_client.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::HttpGet;

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/auth-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// BlockingAuthenticator stands in for the TokenReview authenticator: every
// call blocks until the test releases them all. Token "NS/SA" proves
// spiffe://mesh.test/ns/NS/sa/SA; anything else is refused.
class BlockingAuthenticator final : public control::Authenticator {
 public:
  absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) override {
    MutexLock lock(&mu_);
    ++entered_;
    changed_.SignalAll();
    while (!released_) changed_.Wait(&mu_);
    std::vector<std::string> parts = absl::StrSplit(token, '/');
    if (parts.size() != 2) return absl::UnauthenticatedError("token rejected by the fake");
    return pki::SpiffeId::Make("mesh.test", parts[0], parts[1]);
  }

  // WaitForEntered blocks until `n` calls have started (false after 30 s).
  bool WaitForEntered(int n) {
    MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    return changed_.WaitFor(&mu_, reached, absl::Seconds(30));
  }
  int entered() {
    MutexLock lock(&mu_);
    return entered_;
  }
  void Release() {
    MutexLock lock(&mu_);
    released_ = true;
    changed_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

class CaStreamAuthTest : public ::testing::Test {
 protected:
  CaStreamAuthTest() : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))) {}

  void TearDown() override {
    // Calls still blocked would keep Stop waiting for their streams.
    authn_.Release();
    if (cp_) cp_->Stop();
  }

  void Start(control::ControlPlaneOptions opts) {
    opts.state_dir = MakeTempDir();
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.kubernetes = &authn_;
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }

  std::unique_ptr<CaTestClient> Client() {
    return std::make_unique<CaTestClient>(cp_->grpc_port(), roots_pem_);
  }

  std::string JoinToken(const std::string& ns, const std::string& sa) {
    auto minted =
        cp_->tokens()->Create(*pki::SpiffeId::Make("mesh.test", ns, sa), absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    return minted.ok() ? minted->token : "";
  }

  // Issue asks for and expects a certificate for `id` on an authenticated
  // stream.
  void ExpectIssued(CaTestClient& client, const std::string& id, uint64_t request_id) {
    auto key = pki::GenerateP256Key();
    ASSERT_TRUE(key.ok());
    auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(id));
    ASSERT_TRUE(csr.ok());
    ASSERT_TRUE(client.SendCsr(request_id, *csr));
    auto resp = client.Read();
    ASSERT_TRUE(resp && resp->has_certificate()) << (resp ? resp->DebugString() : "ended");
    EXPECT_EQ(resp->certificate().request_id(), request_id);
  }

  // WaitForQueued waits until `n` Kubernetes authentications wait for a
  // worker (false after 30 s).
  bool WaitForQueued(size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (cp_->streams()->kubernetes_queued() < n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  FakeClock clock_;
  BlockingAuthenticator authn_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
};

TEST_F(CaStreamAuthTest, KubernetesAuthenticationRunsOnWorkersWhileOtherStreamsAreServed) {
  control::ControlPlaneOptions opts;
  opts.kubernetes_workers = 4;
  Start(opts);
  // Four Hellos block in the authenticator at once: one per worker.
  std::vector<std::unique_ptr<CaTestClient>> pods;
  for (int i = 0; i < 4; ++i) {
    pods.push_back(Client());
    ASSERT_TRUE(pods.back()->SendKubernetesHello(absl::StrCat("shop/pod", i)));
  }
  ASSERT_TRUE(authn_.WaitForEntered(4));
  // A fifth waits in the queue for a worker.
  pods.push_back(Client());
  ASSERT_TRUE(pods.back()->SendKubernetesHello("shop/pod4"));
  ASSERT_TRUE(WaitForQueued(1));

  // Meanwhile the control plane serves everyone else: a join-token stream is
  // welcomed and gets a certificate, and the admin API answers.
  {
    std::unique_ptr<CaTestClient> vm = Client();
    ASSERT_TRUE(vm->SendHello(JoinToken("shop", "vm")));
    absl::StatusOr<std::string> id = vm->ReadWelcome();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, "spiffe://mesh.test/ns/shop/sa/vm");
    ExpectIssued(*vm, *id, 1);
    EXPECT_TRUE(vm->Finish().ok());
  }
  EXPECT_NE(HttpGet(cp_->admin_port(), "/ready").find("200 OK"), std::string::npos);
  EXPECT_EQ(authn_.entered(), 4);

  // Released, every blocked stream is welcomed and goes on reading.
  authn_.Release();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::string> id = pods[i]->ReadWelcome();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, absl::StrCat("spiffe://mesh.test/ns/shop/sa/pod", i));
  }
  ExpectIssued(*pods[4], "spiffe://mesh.test/ns/shop/sa/pod4", 7);
  for (auto& pod : pods) EXPECT_TRUE(pod->Finish().ok());
}

TEST_F(CaStreamAuthTest, FullAuthenticationQueueRefusesStreamsAsBusy) {
  control::ControlPlaneOptions opts;
  opts.kubernetes_workers = 1;
  opts.kubernetes_queue = 1;
  Start(opts);
  std::unique_ptr<CaTestClient> running = Client();
  ASSERT_TRUE(running->SendKubernetesHello("shop/a"));
  ASSERT_TRUE(authn_.WaitForEntered(1));
  std::unique_ptr<CaTestClient> queued = Client();
  ASSERT_TRUE(queued->SendKubernetesHello("shop/b"));
  ASSERT_TRUE(WaitForQueued(1));

  std::unique_ptr<CaTestClient> refused = Client();
  ASSERT_TRUE(refused->SendKubernetesHello("shop/c"));
  EXPECT_FALSE(refused->Read().has_value());
  grpc::Status st = refused->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "control plane busy, retry");
  EXPECT_EQ(authn_.entered(), 1);  // refused without a review

  // Join tokens do not need the pool.
  std::unique_ptr<CaTestClient> vm = Client();
  ASSERT_TRUE(vm->SendHello(JoinToken("shop", "vm")));
  EXPECT_TRUE(vm->ReadWelcome().ok());

  authn_.Release();
  EXPECT_EQ(running->ReadWelcome().value_or(""), "spiffe://mesh.test/ns/shop/sa/a");
  EXPECT_EQ(queued->ReadWelcome().value_or(""), "spiffe://mesh.test/ns/shop/sa/b");
  EXPECT_NE(HttpGet(cp_->admin_port(), "/metrics")
                .find("tether_control_streams_rejected_total{reason=\"unavailable\"} 1"),
            std::string::npos);
  // A retry once the queue has room gets in.
  std::unique_ptr<CaTestClient> retry = Client();
  ASSERT_TRUE(retry->SendKubernetesHello("shop/c"));
  EXPECT_EQ(retry->ReadWelcome().value_or(""), "spiffe://mesh.test/ns/shop/sa/c");
  for (auto* c : {running.get(), queued.get(), vm.get(), retry.get()}) {
    EXPECT_TRUE(c->Finish().ok());
  }
}

TEST_F(CaStreamAuthTest, RejectedKubernetesTokenEndsTheStreamFromTheWorker) {
  Start({});
  authn_.Release();
  std::unique_ptr<CaTestClient> client = Client();
  ASSERT_TRUE(client->SendKubernetesHello("not-a-known-token"));
  absl::StatusOr<std::string> id = client->ReadWelcome();
  EXPECT_EQ(id.status(), absl::UnauthenticatedError("token rejected by the fake"));
}

TEST_F(CaStreamAuthTest, StreamWithoutHelloIsFinishedWithDeadlineExceeded) {
  control::ControlPlaneOptions opts;
  // Long enough for a client to send its Hello right after opening a stream.
  opts.hello_timeout = absl::Seconds(2);
  Start(opts);
  // Opened before the silent stream, so their deadlines pass first: a stream
  // that said Hello is never cut, welcomed or still being authenticated.
  std::unique_ptr<CaTestClient> welcomed = Client();
  ASSERT_TRUE(welcomed->SendHello(JoinToken("shop", "cart")));
  ASSERT_TRUE(welcomed->ReadWelcome().ok());
  std::unique_ptr<CaTestClient> reviewing = Client();
  ASSERT_TRUE(reviewing->SendKubernetesHello("shop/slow"));
  ASSERT_TRUE(authn_.WaitForEntered(1));

  std::unique_ptr<CaTestClient> silent = Client();
  EXPECT_FALSE(silent->Read().has_value());
  grpc::Status st = silent->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(st.error_message(), "no Hello within 2s of opening the stream");
  EXPECT_NE(HttpGet(cp_->admin_port(), "/metrics")
                .find("tether_control_streams_rejected_total{reason=\"deadline_exceeded\"} 1"),
            std::string::npos);

  ExpectIssued(*welcomed, "spiffe://mesh.test/ns/shop/sa/cart", 1);
  authn_.Release();
  EXPECT_EQ(reviewing->ReadWelcome().value_or(""), "spiffe://mesh.test/ns/shop/sa/slow");
  EXPECT_TRUE(welcomed->Finish().ok());
  EXPECT_TRUE(reviewing->Finish().ok());
}

TEST(ControlPlaneOptions, RefusesNonPositiveHelloTimeoutAndNoWorkers) {
  FakeClock clock;
  control::ControlPlaneOptions opts;
  opts.state_dir = MakeTempDir();
  opts.trust_domain = "mesh.test";
  opts.grpc_listen = "127.0.0.1:0";
  opts.admin_listen = "127.0.0.1:0";
  opts.hello_timeout = absl::ZeroDuration();
  EXPECT_EQ(control::ControlPlane::Start(opts, &clock).status().code(),
            absl::StatusCode::kInvalidArgument);
  opts.hello_timeout = absl::Seconds(10);
  opts.kubernetes_workers = 0;
  EXPECT_EQ(control::ControlPlane::Start(opts, &clock).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
