// IdentityManager and a revocation list that names its own certificate,
// against a scripted CA (a fake CaConnector; real keys, CSRs and
// certificates) and a FakeClock that never moves unless a test says so:
//  - the certificate is withdrawn at once (Current() null, the reason in
//    status()), and a new CSR goes out on the open stream without any time
//    passing: renewal is immediate, not at the scheduled time;
//  - once the stream drops, the reconnect authenticates with the bootstrap
//    credential, re-read from its file (a rotated Kubernetes token), never
//    with the revoked certificate, though it is still unexpired;
//  - for contrast, an unrevoked certificate does authenticate a reconnect.
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "common/sync/mutex.h"
#include "common/testing/fake_clock.h"
#include "proxy/identity/identity_manager.h"

namespace tether::proxy {
namespace {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

constexpr char kId[] = "spiffe://mesh.test/ns/shop/sa/cart";
constexpr absl::Duration kWait = absl::Seconds(10);

// FakeStream: the CA's side is driven by the test: Push what it answers,
// NextRequest what the proxy sent, End the stream with a status.
class FakeStream final : public CaStream {
 public:
  bool Write(const StreamRequest& request) override {
    MutexLock lock(&mu_);
    requests_.push_back(request);
    cv_.SignalAll();
    return true;
  }
  bool Read(StreamResponse* response) override {
    MutexLock lock(&mu_);
    while (responses_.empty() && !ended_) cv_.Wait(&mu_);
    if (responses_.empty()) return false;
    *response = std::move(responses_.front());
    responses_.pop_front();
    return true;
  }
  void TryCancel() override { End(absl::CancelledError("cancelled")); }
  absl::Status Finish() override {
    MutexLock lock(&mu_);
    return status_;
  }

  void Push(StreamResponse response) {
    MutexLock lock(&mu_);
    responses_.push_back(std::move(response));
    cv_.SignalAll();
  }
  void End(absl::Status status) {
    MutexLock lock(&mu_);
    if (ended_) return;
    ended_ = true;
    status_ = std::move(status);
    cv_.SignalAll();
  }
  // NextRequest waits for the proxy's next message.
  std::optional<StreamRequest> NextRequest() {
    MutexLock lock(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !requests_.empty(); };
    if (!cv_.WaitFor(&mu_, any, kWait)) return std::nullopt;
    StreamRequest r = std::move(requests_.front());
    requests_.pop_front();
    return r;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::deque<StreamRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::deque<StreamResponse> responses_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// FakeConnector records how each stream was opened.
class FakeConnector final : public CaConnector {
 public:
  struct Opened {
    std::optional<ClientCredential> client;
    std::shared_ptr<FakeStream> stream;
  };
  std::unique_ptr<CaStream> Open(const std::string&,
                                 const std::optional<ClientCredential>& client) override {
    auto stream = std::make_shared<FakeStream>();
    MutexLock lock(&mu_);
    opened_.push_back({client, stream});
    cv_.SignalAll();
    // The manager owns a handle; the test keeps the stream alive too.
    return std::make_unique<Handle>(stream);
  }
  // WaitOpened: the n-th stream opened (0-based).
  std::optional<Opened> WaitOpened(size_t n) {
    MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return opened_.size() > n; };
    if (!cv_.WaitFor(&mu_, enough, kWait)) return std::nullopt;
    return opened_[n];
  }
  size_t opened() {
    MutexLock lock(&mu_);
    return opened_.size();
  }

 private:
  class Handle final : public CaStream {
   public:
    explicit Handle(std::shared_ptr<FakeStream> s) : s_(std::move(s)) {}
    bool Write(const StreamRequest& r) override { return s_->Write(r); }
    bool Read(StreamResponse* r) override { return s_->Read(r); }
    void TryCancel() override { s_->TryCancel(); }
    absl::Status Finish() override { return s_->Finish(); }

   private:
    std::shared_ptr<FakeStream> s_;
  };
  Mutex mu_;
  CondVar cv_;
  std::vector<Opened> opened_ ABSL_GUARDED_BY(mu_);
};

class IdentityManagerRevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = pki::GenerateP256Key();
    ASSERT_TRUE(key.ok());
    auto root = pki::CreateRootCa(key->get(), "mesh.test", clock_.Now(), absl::Hours(24));
    ASSERT_TRUE(root.ok());
    root_pem_ = pki::CertToPem(root->get());
    issuer_ = std::make_unique<pki::Issuer>(pki::Authority{std::move(*root), std::move(*key), {}});
    token_file_ = std::string(getenv("TEST_TMPDIR")) + "/k8s-token";
    ASSERT_TRUE(WriteFileAtomic(token_file_, "projected-token-1\n").ok());

    IdentityOptions options;
    options.initial_bundle_pem = root_pem_;
    options.bootstrap.kubernetes_token_file = token_file_;
    manager_ = std::make_unique<IdentityManager>(options, &connector_, &clock_);
    ASSERT_TRUE(manager_->Start().ok());
  }
  void TearDown() override { manager_->Stop(); }

  // Sign answers the proxy's next message, a CSR, with a 1-hour certificate;
  // returns its serial ("" on failure).
  std::string Sign(FakeStream& stream) {
    std::optional<StreamRequest> req = stream.NextRequest();
    if (!req || !req->has_certificate_request()) return "";
    auto csr = pki::ParseCsr(req->certificate_request().csr_der());
    if (!csr.ok()) return "";
    auto leaf = issuer_->SignLeaf({.public_key = csr->public_key.get(),
                                   .spiffe_id = csr->spiffe_id,
                                   .now = clock_.Now(),
                                   .ttl = absl::Hours(1)});
    if (!leaf.ok()) return "";
    StreamResponse resp;
    auto* c = resp.mutable_certificate();
    c->set_request_id(req->certificate_request().request_id());
    c->add_chain_der(pki::CertToDer(leaf->get()));
    const std::string serial = pki::SerialHex(leaf->get());
    c->set_serial_hex(serial);
    stream.Push(std::move(resp));
    return serial;
  }
  static void Welcome(FakeStream& stream) {
    StreamResponse w;
    w.mutable_welcome()->set_spiffe_id(kId);
    stream.Push(std::move(w));
  }
  static void Revoke(FakeStream& stream, const std::string& serial, const std::string& id,
                     uint64_t version) {
    StreamResponse r;
    if (!serial.empty()) r.mutable_revocations()->add_serials(serial);
    if (!id.empty()) r.mutable_revocations()->add_spiffe_ids(id);
    r.mutable_revocations()->set_version(version);
    stream.Push(std::move(r));
  }
  bool WaitFor(const std::function<bool()>& cond) {
    const absl::Time until = absl::Now() + kWait;
    while (!cond()) {
      if (absl::Now() > until) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }
  std::string CurrentSerial() {
    auto cur = manager_->Current();
    return cur ? cur->serial_hex : "";
  }
  // Connected: the first stream (bootstrap), welcomed, a certificate held.
  std::shared_ptr<FakeStream> Connected(std::string* serial) {
    auto first = connector_.WaitOpened(0);
    if (!first) return nullptr;
    auto hello = first->stream->NextRequest();
    if (!hello || hello->hello().kubernetes_token() != "projected-token-1") return nullptr;
    Welcome(*first->stream);
    *serial = Sign(*first->stream);
    if (serial->empty() || !WaitFor([&] { return CurrentSerial() == *serial; })) return nullptr;
    return first->stream;
  }

  FakeClock clock_;
  FakeConnector connector_;
  std::string root_pem_;
  std::unique_ptr<pki::Issuer> issuer_;
  std::string token_file_;
  std::unique_ptr<IdentityManager> manager_;
};

TEST_F(IdentityManagerRevocationTest, RevokedSerialIsWithdrawnAndRenewedAtOnce) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  std::vector<RevocationUpdate> updates;
  Mutex mu;
  manager_->SetOnRevocations([&](const RevocationUpdate& u) {
    MutexLock lock(&mu);
    updates.push_back(u);
  });

  Revoke(*stream, s1, "", 7);
  // No time passes on the clock: the new CSR is not the scheduled renewal.
  const std::string s2 = Sign(*stream);
  ASSERT_FALSE(s2.empty()) << "no certificate request after the revocation";
  EXPECT_NE(s2, s1);
  {
    MutexLock lock(&mu);
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_TRUE(updates[0].own_certificate_revoked);
    EXPECT_EQ(updates[0].version, 7u);
    EXPECT_TRUE(updates[0].revocations->serials.contains(s1));
  }
  ASSERT_TRUE(WaitFor([&] { return CurrentSerial() == s2; }));
  IdentityStatus st = manager_->status();
  EXPECT_EQ(st.revoked_serial, "");  // cleared by the new certificate
  EXPECT_EQ(st.revocations_version, 7u);
  EXPECT_EQ(connector_.opened(), 1u);  // renewed on the stream it had
}

TEST_F(IdentityManagerRevocationTest, WithdrawnBeforeTheAnswerAndNeverPresentedAgain) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  Revoke(*stream, s1, "", 2);
  auto csr = stream->NextRequest();  // asked at once; left unanswered
  ASSERT_TRUE(csr && csr->has_certificate_request());
  ASSERT_TRUE(WaitFor([&] { return manager_->Current() == nullptr; }));
  IdentityStatus st = manager_->status();
  EXPECT_EQ(st.revoked_serial, s1);
  EXPECT_NE(st.revoked_reason.find("certificate " + s1), std::string::npos) << st.revoked_reason;
  EXPECT_NE(st.revoked_reason.find("its serial"), std::string::npos) << st.revoked_reason;

  // A trust bundle push must not bring the revoked certificate back.
  StreamResponse bundle;
  auto roots = pki::CertsFromPem(root_pem_);
  ASSERT_TRUE(roots.ok());
  bundle.mutable_trust_bundle()->add_roots_der(pki::CertToDer((*roots)[0].get()));
  bundle.mutable_trust_bundle()->set_version(3);
  stream->Push(std::move(bundle));
  ASSERT_TRUE(WaitFor([&] { return manager_->status().bundle_version == 3; }));
  EXPECT_EQ(manager_->Current(), nullptr);
}

// The point of re-attesting: a stream authenticated by a revoked certificate
// speaks for an identity the mesh withdrew. After the drop the proxy opens
// the next stream with its bootstrap credential, re-read from the file (a
// kubelet-rotated projected token), though the revoked certificate has most
// of its hour left.
TEST_F(IdentityManagerRevocationTest, ReconnectAfterRevocationUsesTheBootstrapCredential) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  Revoke(*stream, "", kId, 2);  // the identity: the CA would refuse the CSR
  ASSERT_TRUE(stream->NextRequest().has_value());
  ASSERT_TRUE(WaitFor([&] { return manager_->Current() == nullptr; }));
  ASSERT_TRUE(WriteFileAtomic(token_file_, "projected-token-2\n").ok());
  stream->End(absl::PermissionDeniedError("certificate revoked"));

  // Backoff is on the fake clock: move past it.
  std::optional<FakeConnector::Opened> second;
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(absl::Seconds(5));
    manager_->Wake();
    return connector_.opened() >= 2;
  }));
  second = connector_.WaitOpened(1);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->client.has_value()) << "the revoked certificate authenticated a stream";
  auto hello = second->stream->NextRequest();
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->hello().kubernetes_token(), "projected-token-2");
}

// Contrast: without a revocation, a dropped stream is reopened with the
// current certificate (so the test above shows the revocation's effect).
TEST_F(IdentityManagerRevocationTest, UnrevokedCertificateAuthenticatesTheReconnect) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  stream->End(absl::UnavailableError("control plane restarted"));
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(absl::Seconds(5));
    manager_->Wake();
    return connector_.opened() >= 2;
  }));
  auto second = connector_.WaitOpened(1);
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(second->client.has_value());
  auto chain = pki::CertsFromPem(second->client->chain_pem);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(pki::SerialHex((*chain)[0].get()), s1);
}

// Replicas of the control plane share one list whose version only grows; a
// proxy that reconnects to a replica that has not caught up yet must not
// forget the revocations it holds.
TEST_F(IdentityManagerRevocationTest, AnOlderListFromAnotherReplicaIsIgnored) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  std::vector<RevocationUpdate> updates;
  Mutex mu;
  manager_->SetOnRevocations([&](const RevocationUpdate& u) {
    MutexLock lock(&mu);
    updates.push_back(u);
  });
  Revoke(*stream, "", "spiffe://mesh.test/ns/shop/sa/mallory", 1'800'000'010);
  ASSERT_TRUE(WaitFor([&] {
    MutexLock lock(&mu);
    return updates.size() == 1;
  }));
  Revoke(*stream, "", "", 1'800'000'009);  // shorter, and older
  Revoke(*stream, "", "spiffe://mesh.test/ns/shop/sa/eve", 1'800'000'011);
  ASSERT_TRUE(WaitFor([&] {
    MutexLock lock(&mu);
    return updates.size() == 2;
  }));
  MutexLock lock(&mu);
  EXPECT_EQ(updates[1].version, 1'800'000'011u);
  EXPECT_TRUE(updates[1].revocations->spiffe_ids.contains("spiffe://mesh.test/ns/shop/sa/eve"));
  IdentityStatus st = manager_->status();
  EXPECT_EQ(st.revocations_version, 1'800'000'011u);
  EXPECT_EQ(st.revocations_ignored, 1u);
}

// The control plane ends a stream's authority with its credential: a stream
// closed with UNAUTHENTICATED because the token (or certificate) it opened
// with expired or was withdrawn. The proxy keeps serving its certificate
// throughout (no gap) and reconnects with it, not with the bootstrap
// credential, and a Welcome on it asks for nothing before the renewal time.
class IdentityManagerReconnectTest : public IdentityManagerRevocationTest {};

TEST_F(IdentityManagerReconnectTest, StreamClosedForAnExpiredCredentialReconnectsOnTheCertificate) {
  std::string s1;
  std::shared_ptr<FakeStream> stream = Connected(&s1);
  ASSERT_NE(stream, nullptr);
  stream->End(absl::UnauthenticatedError(
      "the bootstrap credential this stream authenticated with (Kubernetes token) expired at "
      "2026-12-03T10:00:00Z; reconnect with the current certificate or a fresh token"));
  bool gap = false;
  ASSERT_TRUE(WaitFor([&] {
    gap |= CurrentSerial() != s1;
    clock_.Advance(absl::Milliseconds(500));
    manager_->Wake();
    return connector_.opened() >= 2;
  }));
  EXPECT_FALSE(gap) << "the certificate was not served while the proxy reconnected";
  auto second = connector_.WaitOpened(1);
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(second->client.has_value()) << "reconnected with the bootstrap credential";
  auto chain = pki::CertsFromPem(second->client->chain_pem);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(pki::SerialHex((*chain)[0].get()), s1);
  auto hello = second->stream->NextRequest();
  ASSERT_TRUE(hello.has_value());
  EXPECT_TRUE(hello->has_hello());
  EXPECT_EQ(hello->hello().kubernetes_token(), "");
  EXPECT_EQ(hello->hello().join_token(), "");
  EXPECT_NE(manager_->status().last_error.find("UNAUTHENTICATED"), std::string::npos)
      << manager_->status().last_error;

  Welcome(*second->stream);
  ASSERT_TRUE(WaitFor([&] { return manager_->status().stream_state == "connected"; }));
  EXPECT_EQ(CurrentSerial(), s1);
  // It renews on the new stream when the time comes.
  clock_.Advance(absl::Minutes(40));
  manager_->Wake();
  const std::string s2 = Sign(*second->stream);
  ASSERT_FALSE(s2.empty());
  ASSERT_TRUE(WaitFor([&] { return CurrentSerial() == s2; }));
}

}  // namespace
}  // namespace tether::proxy
