// The certificate stream end to end: a real ControlPlane on port 0, real
// gRPC clients over TLS, the real CA. Time is a FakeClock that starts at the
// real time (gRPC's TLS checks the serving certificate against the real clock).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/pki/verify.h"
#include "common/policy/policy_proto.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "tests/control/ca_stream_fixture.h"
#include "tests/control/ca_test_client.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::HttpGet;

TEST_F(CaStreamTest, JoinTokenEnrollmentIssuesAVerifiableCertificate) {
  Enrolled e = Enroll("shop", "cart");
  auto bundle = pki::TrustBundle::FromPem(roots_pem_);
  ASSERT_TRUE(bundle.ok());
  std::vector<X509*> raw;
  for (auto& c : e.chain) raw.push_back(c.get());
  auto peer = pki::VerifyChain(raw, *bundle, clock_.Now(), {}, pki::Purpose::kClient, "mesh.test");
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->spiffe_id.ToString(), "spiffe://mesh.test/ns/shop/sa/cart");
  EXPECT_EQ(peer->serial_hex, e.serial);
  pki::CertInfo info = pki::DescribeCert(e.chain[0].get());
  EXPECT_EQ(info.not_after - info.not_before, absl::Hours(1) + absl::Minutes(1));
  // The CA kept a record of it.
  auto listed = cp_->registry()->List("spiffe://mesh.test/ns/shop/sa/cart");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].serial_hex, e.serial);
}

TEST_F(CaStreamTest, RenewalOverMtlsKeepsTheIdentity) {
  Enrolled first = Enroll("shop", "cart");
  CaTestClient client(cp_->grpc_port(), roots_pem_, first.identity());
  ASSERT_TRUE(client.SendHello());
  std::string id = ReadWelcome(client);
  EXPECT_EQ(id, "spiffe://mesh.test/ns/shop/sa/cart");
  auto second = Issue(client, id, 7);
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->serial, first.serial);
  EXPECT_TRUE(client.Finish().ok());
}

TEST_F(CaStreamTest, NoCredentialIsUnauthenticated) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello());
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(st.error_message().find("no credential"), std::string::npos) << st.error_message();
}

TEST_F(CaStreamTest, ReusedAndUnknownTokensAreRefused) {
  std::string token = Token("shop", "cart");
  {
    CaTestClient client(cp_->grpc_port(), roots_pem_);
    ASSERT_TRUE(client.SendHello(token));
    EXPECT_FALSE(ReadWelcome(client).empty());
    EXPECT_TRUE(client.Finish().ok());
  }
  for (const auto& [t, expected] :
       {std::pair{token, "already used"}, std::pair{std::string("tjt_nope"), "unknown"}}) {
    CaTestClient client(cp_->grpc_port(), roots_pem_);
    ASSERT_TRUE(client.SendHello(t));
    EXPECT_FALSE(client.Read().has_value());
    grpc::Status st = client.Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(st.error_message().find(expected), std::string::npos) << st.error_message();
  }
}

TEST_F(CaStreamTest, ExpiredTokenIsRefused) {
  std::string token = Token("shop", "cart");
  clock_.Advance(absl::Minutes(11));
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(token));
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(st.error_message().find("expired"), std::string::npos) << st.error_message();
}

TEST_F(CaStreamTest, PolicyChangesArePushedWithOnlyWhatSelectsTheWorkload) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("shop", "cart")));
  ASSERT_FALSE(ReadWelcome(client).empty());
  auto policy = [](const std::string& name, const std::string& ns, const std::string& sa) {
    return absl::StrCat("apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ",
                        name, ", namespace: ", ns, "}\nspec:\n  selector: {serviceAccounts: [", sa,
                        "]}\n  rules: [{from: [{namespace: web}]}]\n");
  };
  // A policy for another namespace changes nothing for cart: nothing is sent.
  ASSERT_TRUE(cp_->policies()->Apply(policy("vault", "bank", "vault"), "a.yaml").ok());
  ASSERT_TRUE(cp_->policies()->Apply(policy("cart-callers", "shop", "cart"), "b.yaml").ok());
  auto resp = client.Read();
  ASSERT_TRUE(resp && resp->has_policy()) << (resp ? resp->DebugString() : "ended");
  EXPECT_EQ(resp->policy().version(), cp_->policies()->Current()->version);
  ASSERT_EQ(resp->policy().policies_size(), 1);
  EXPECT_EQ(resp->policy().policies(0).name(), "cart-callers");
  EXPECT_EQ(resp->policy().policies(0).rules(0).from(0).namespace_(), "web");
  ASSERT_TRUE(cp_->policies()->Delete("AuthorizationPolicy", "shop", "cart-callers").ok());
  resp = client.Read();
  ASSERT_TRUE(resp && resp->has_policy());
  EXPECT_EQ(resp->policy().policies_size(), 0);
  // A TrafficPolicy of any namespace is for every client: it is pushed to cart
  // too, in the same snapshot, with a new version.
  const uint64_t before = resp->policy().version();
  ASSERT_TRUE(cp_->policies()
                  ->Apply("apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: vault, "
                          "namespace: bank}\nspec:\n  destination: {serviceAccount: vault}\n"
                          "  timeout: 2s\n  retry: {attempts: 2, on: [connect-failure]}\n",
                          "t.yaml")
                  .ok());
  resp = client.Read();
  ASSERT_TRUE(resp && resp->has_policy()) << (resp ? resp->DebugString() : "ended");
  EXPECT_GT(resp->policy().version(), before);
  EXPECT_EQ(resp->policy().policies_size(), 0);
  ASSERT_EQ(resp->policy().traffic_policies_size(), 1);
  EXPECT_EQ(resp->policy().traffic_policies(0).name(), "vault");
  EXPECT_EQ(resp->policy().traffic_policies(0).timeout_ms(), 2000);
  EXPECT_EQ(resp->policy().traffic_policies(0).retry().attempts(), 2);
  auto set = policy::FromProto(resp->policy());
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->traffic.size(), 1u);
  EXPECT_EQ(set->traffic[0].service_account, "vault");
  ASSERT_TRUE(cp_->policies()->Delete("TrafficPolicy", "bank", "vault").ok());
  resp = client.Read();
  ASSERT_TRUE(resp && resp->has_policy());
  EXPECT_EQ(resp->policy().traffic_policies_size(), 0);
}

TEST_F(CaStreamTest, CsrForAnotherIdentityIsRejectedAndNothingIssued) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("shop", "cart")));
  ASSERT_FALSE(ReadWelcome(client).empty());
  auto key = pki::GenerateP256Key();
  auto csr =
      pki::CreateCsr(key->get(), *pki::SpiffeId::Parse("spiffe://mesh.test/ns/bank/sa/vault"));
  ASSERT_TRUE(client.SendCsr(3, *csr));
  auto resp = client.Read();
  ASSERT_TRUE(resp && resp->has_rejected()) << (resp ? resp->DebugString() : "ended");
  EXPECT_EQ(resp->rejected().request_id(), 3u);
  EXPECT_EQ(resp->rejected().code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(resp->rejected().reason(), "identity_mismatch");
  EXPECT_TRUE(cp_->registry()->List().empty());
  // The stream stays usable for a correct request.
  EXPECT_TRUE(Issue(client, "spiffe://mesh.test/ns/shop/sa/cart", 4).has_value());
  EXPECT_TRUE(client.Finish().ok());
  // Both decisions are in the audit log, one JSON object per line.
  auto audit = ReadFile(dir_ + "/audit.jsonl");
  ASSERT_TRUE(audit.ok());
  EXPECT_NE(audit->find(R"("event":"rejected")"), std::string::npos) << *audit;
  EXPECT_NE(audit->find(R"("reason":"identity_mismatch")"), std::string::npos) << *audit;
  EXPECT_NE(audit->find(R"("event":"issued")"), std::string::npos) << *audit;
  EXPECT_NE(audit->find(R"("event":"stream_authenticated")"), std::string::npos) << *audit;
}

TEST_F(CaStreamTest, MalformedCsrIsRejected) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("shop", "cart")));
  ASSERT_FALSE(ReadWelcome(client).empty());
  ASSERT_TRUE(client.SendCsr(5, "this is not a CSR"));
  auto resp = client.Read();
  ASSERT_TRUE(resp && resp->has_rejected());
  EXPECT_EQ(resp->rejected().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(resp->rejected().reason(), "malformed_csr");
  EXPECT_TRUE(cp_->registry()->List().empty());
  EXPECT_TRUE(client.Finish().ok());
}

TEST_F(CaStreamTest, FirstMessageMustBeHello) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendCsr(1, "x"));
  EXPECT_FALSE(client.Read().has_value());
  EXPECT_EQ(client.Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(CaStreamTest, RateLimitRefusesABurstAndRefills) {
  TearDown();
  rate_per_minute_ = 1;  // burst 10, then one a minute
  StartControlPlane();
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("shop", "cart")));
  std::string id = ReadWelcome(client);
  auto key = pki::GenerateP256Key();
  auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(id));
  int issued = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(client.SendCsr(i, *csr));
    auto resp = client.Read();
    ASSERT_TRUE(resp.has_value());
    if (resp->has_certificate()) ++issued;
    if (resp->has_rejected()) {
      EXPECT_EQ(resp->rejected().reason(), "rate_limited");
      EXPECT_EQ(resp->rejected().code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
      ++limited;
    }
  }
  EXPECT_EQ(issued, 10);
  EXPECT_EQ(limited, 2);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(client.SendCsr(99, *csr));
  auto resp = client.Read();
  ASSERT_TRUE(resp && resp->has_certificate());
  EXPECT_TRUE(client.Finish().ok());
}

// The replicas of a Deployment share one identity (their service account):
// the CA's rate limit is per workload instance, so one noisy replica does not
// starve the others, with a larger cap per identity on top. A renewal counts
// for the instance that bootstrapped its certificate.
TEST_F(CaStreamTest, RateLimitPerWorkloadInstanceWithAPerIdentityCap) {
  TearDown();
  rate_per_minute_ = 1;  // per instance: burst 10, then one a minute
  identity_rate_per_minute_ = 1;
  identity_burst_ = 25;
  StartControlPlane();
  const std::string cart = "spiffe://mesh.test/ns/shop/sa/cart";
  auto key = pki::GenerateP256Key();
  auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(cart));
  struct Counts {
    int issued = 0;
    int limited = 0;
    std::string message;  // of the last refusal
  };
  auto send = [&](CaTestClient& client, int n) {
    Counts c;
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(client.SendCsr(i + 1, *csr));
      auto resp = client.Read();
      if (!resp) {
        ADD_FAILURE() << "stream ended";
        break;
      }
      if (resp->has_certificate()) ++c.issued;
      if (resp->has_rejected()) {
        EXPECT_EQ(resp->rejected().reason(), "rate_limited");
        ++c.limited;
        c.message = resp->rejected().message();
      }
    }
    return c;
  };

  // Two replicas, each with a join token of its own.
  CaTestClient a(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(a.SendHello(Token("shop", "cart")));
  ASSERT_EQ(ReadWelcome(a), cart);
  std::optional<Enrolled> a_cert = Issue(a, cart, 100);
  ASSERT_TRUE(a_cert.has_value());
  CaTestClient b(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(b.SendHello(Token("shop", "cart")));
  ASSERT_EQ(ReadWelcome(b), cart);

  // A exhausts its bucket; B still gets every certificate it asks for.
  Counts noisy = send(a, 12);
  EXPECT_EQ(noisy.issued, 9);  // 10 with the one above
  EXPECT_EQ(noisy.limited, 3);
  EXPECT_TRUE(absl::StrContains(noisy.message, "from join:")) << noisy.message;
  EXPECT_TRUE(absl::StrContains(noisy.message, "per workload instance")) << noisy.message;
  Counts quiet = send(b, 10);
  EXPECT_EQ(quiet.issued, 10);
  EXPECT_EQ(quiet.limited, 0);

  // A's renewal stream speaks for A's instance: its bucket is still empty.
  CaTestClient renewal(cp_->grpc_port(), roots_pem_, a_cert->identity());
  ASSERT_TRUE(renewal.SendHello());
  ASSERT_EQ(ReadWelcome(renewal), cart);
  EXPECT_EQ(send(renewal, 1).limited, 1);

  // The identity's cap (25) bounds what more replicas get: 20 went out, so
  // a third gets 5, then is refused by the identity's bucket.
  CaTestClient c(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(c.SendHello(Token("shop", "cart")));
  ASSERT_EQ(ReadWelcome(c), cart);
  Counts third = send(c, 8);
  EXPECT_EQ(third.issued, 5);
  EXPECT_EQ(third.limited, 3);
  EXPECT_TRUE(absl::StrContains(third.message, "from all its instances")) << third.message;
  for (CaTestClient* client : {&a, &b, &c, &renewal}) EXPECT_TRUE(client->Finish().ok());
}

TEST_F(CaStreamTest, ExpiredCertificateCannotRenewButTokenCan) {
  Enrolled e = Enroll("shop", "cart");
  clock_.Advance(absl::Hours(2));
  CaTestClient client(cp_->grpc_port(), roots_pem_, e.identity());
  ASSERT_TRUE(client.SendHello());
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(st.error_message().find("expired"), std::string::npos) << st.error_message();
  // A fresh bootstrap credential works again (the way back after a suspend).
  Enroll("shop", "cart");
}

TEST_F(CaStreamTest, DiscoveryIsSentInFullThenAJoinTokensAddressesAsADelta) {
  CaTestClient watcher(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(watcher.SendHello(Token("shop", "watcher")));
  ASSERT_FALSE(ReadWelcome(watcher).empty());
  auto full = watcher.ReadDiscovery();
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full());
  EXPECT_EQ(full->endpoints_size(), 0);

  // A workload whose token binds an address: every stream learns it when
  // the workload authenticates, before its Welcome.
  auto vm = pki::SpiffeId::Make("mesh.test", "shop", "vm");
  auto token = cp_->tokens()->Create(*vm, absl::ZeroDuration(), {"10.0.0.5", "10.0.0.6:8080"});
  ASSERT_TRUE(token.ok());
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(token->token));
  ASSERT_FALSE(ReadWelcome(client).empty());
  auto own = client.ReadDiscovery();
  ASSERT_TRUE(own && own->full());
  EXPECT_EQ(own->endpoints_size(), 2);

  auto delta = watcher.ReadDiscovery();
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->full());
  EXPECT_GT(delta->version(), full->version());
  ASSERT_EQ(delta->endpoints_size(), 2);
  EXPECT_EQ(delta->endpoints(0).ip(), "10.0.0.5");
  EXPECT_EQ(delta->endpoints(0).port(), 0u);
  EXPECT_EQ(delta->endpoints(0).identities(0), vm->ToString());
  EXPECT_EQ(delta->endpoints(0).source(), "join_token");
  EXPECT_EQ(delta->endpoints(1).port(), 8080u);
  EXPECT_EQ(delta->removed_size(), 0);

  // The admin API lists the same.
  grpc::ClientContext ctx;
  tether::admin::v1::ListEndpointsResponse listed;
  ASSERT_TRUE(
      Admin()->ListEndpoints(&ctx, tether::admin::v1::ListEndpointsRequest(), &listed).ok());
  EXPECT_EQ(listed.version(), delta->version());
  ASSERT_EQ(listed.endpoints_size(), 2);
  EXPECT_GT(listed.endpoints(0).since_unix(), 0);
  const std::string metrics = testing::HttpGet(cp_->admin_port(), "/metrics");
  EXPECT_NE(metrics.find("tether_control_endpoints{source=\"join_token\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tether_control_endpoints_complete 1"), std::string::npos) << metrics;
}

TEST_F(CaStreamTest, RevocationIsPushedToOpenStreamsAndBlocksRenewal) {
  Enrolled e = Enroll("shop", "cart");
  CaTestClient watcher(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(watcher.SendHello(Token("shop", "watcher")));
  ASSERT_FALSE(ReadWelcome(watcher).empty());

  grpc::ClientContext ctx;
  tether::admin::v1::RevokeRequest req;
  req.set_serial_hex(e.serial);
  tether::admin::v1::RevokeResponse resp;
  ASSERT_TRUE(Admin()->Revoke(&ctx, req, &resp).ok());

  auto pushed = watcher.Read();
  ASSERT_TRUE(pushed && pushed->has_revocations());
  ASSERT_EQ(pushed->revocations().serials_size(), 1);
  EXPECT_EQ(pushed->revocations().serials(0), e.serial);
  EXPECT_EQ(pushed->revocations().version(), resp.revocations_version());

  CaTestClient client(cp_->grpc_port(), roots_pem_, e.identity());
  ASSERT_TRUE(client.SendHello());
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("revoked"), std::string::npos) << st.error_message();
  EXPECT_TRUE(watcher.Finish().ok());
}

TEST_F(CaStreamTest, RevokedIdentityGetsNoCertificate) {
  grpc::ClientContext ctx;
  tether::admin::v1::RevokeRequest req;
  req.set_spiffe_id("spiffe://mesh.test/ns/shop/sa/cart");
  tether::admin::v1::RevokeResponse resp;
  ASSERT_TRUE(Admin()->Revoke(&ctx, req, &resp).ok());
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("shop", "cart")));
  EXPECT_FALSE(client.Read().has_value());
  EXPECT_EQ(client.Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(CaStreamTest, RotationPushesBothRootsAndSignsWithTheNewOne) {
  Enrolled before = Enroll("shop", "cart");
  CaTestClient watcher(cp_->grpc_port(), roots_pem_, before.identity());
  ASSERT_TRUE(watcher.SendHello());
  ASSERT_FALSE(ReadWelcome(watcher).empty());

  grpc::ClientContext ctx;
  tether::admin::v1::RotateCaRequest req;
  // Shorter than the watcher's certificate: its stream ends when that does.
  req.set_overlap_seconds(1800);
  tether::admin::v1::RotateCaResponse resp;
  ASSERT_TRUE(Admin()->RotateCa(&ctx, req, &resp).ok());
  EXPECT_NE(resp.new_root_serial_hex(), resp.old_root_serial_hex());

  auto pushed = watcher.Read();
  ASSERT_TRUE(pushed && pushed->has_trust_bundle());
  ASSERT_EQ(pushed->trust_bundle().roots_der_size(), 2);
  pki::CertChain roots;
  for (const auto& der : pushed->trust_bundle().roots_der()) {
    roots.push_back(std::move(*pki::CertFromDer(der)));
  }
  EXPECT_EQ(pki::SerialHex(roots[0].get()), resp.new_root_serial_hex());
  auto both = pki::TrustBundle::FromCerts(pki::CopyChain(roots));
  ASSERT_TRUE(both.ok());

  // The open stream renews; the new leaf chains to the new root only.
  auto after = Issue(watcher, "spiffe://mesh.test/ns/shop/sa/cart", 2);
  ASSERT_TRUE(after.has_value());
  pki::CertChain new_only;
  new_only.push_back(bssl::UniquePtr<X509>(X509_dup(roots[0].get())));
  auto new_bundle = pki::TrustBundle::FromCerts(std::move(new_only));
  std::vector<X509*> raw_after = {after->chain[0].get()};
  std::vector<X509*> raw_before = {before.chain[0].get()};
  EXPECT_TRUE(pki::VerifyChain(raw_after, *new_bundle, clock_.Now(), {}, pki::Purpose::kAny).ok());
  EXPECT_FALSE(
      pki::VerifyChain(raw_before, *new_bundle, clock_.Now(), {}, pki::Purpose::kAny).ok());
  // During the overlap, both old and new certificates verify against the bundle.
  EXPECT_TRUE(pki::VerifyChain(raw_after, *both, clock_.Now(), {}, pki::Purpose::kAny).ok());
  EXPECT_TRUE(pki::VerifyChain(raw_before, *both, clock_.Now(), {}, pki::Purpose::kAny).ok());

  // After the overlap the old root is dropped and the bundle is pushed again.
  clock_.Advance(absl::Minutes(30) + absl::Seconds(1));
  cp_->RunMaintenance();
  pushed = watcher.Read();
  ASSERT_TRUE(pushed && pushed->has_trust_bundle());
  EXPECT_EQ(pushed->trust_bundle().roots_der_size(), 1);
  EXPECT_TRUE(watcher.Finish().ok());
}

TEST_F(CaStreamTest, RestartWithTheSameStateDirKeepsCertificatesValid) {
  Enrolled e = Enroll("shop", "cart");
  std::string root_before = cp_->store()->Current()->active_root_serial;
  cp_->Stop();
  cp_.reset();
  StartControlPlane();
  EXPECT_EQ(cp_->store()->Current()->active_root_serial, root_before);
  EXPECT_EQ(cp_->registry()->List().size(), 1u);
  // The certificate from before the restart renews over mTLS.
  CaTestClient client(cp_->grpc_port(), roots_pem_, e.identity());
  ASSERT_TRUE(client.SendHello());
  EXPECT_EQ(ReadWelcome(client), "spiffe://mesh.test/ns/shop/sa/cart");
  EXPECT_TRUE(client.Finish().ok());
}

TEST_F(CaStreamTest, RootKeyIsPrivate) {
  std::string serial = cp_->store()->Current()->active_root_serial;
  struct stat st;
  ASSERT_EQ(stat(absl::StrCat(dir_, "/ca/", serial, ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(CaStreamTest, AdminListsCertificatesAndWorkloads) {
  Enrolled e = Enroll("shop", "cart");
  CaTestClient client(cp_->grpc_port(), roots_pem_, e.identity());
  ASSERT_TRUE(client.SendHello());
  ASSERT_FALSE(ReadWelcome(client).empty());
  auto admin = Admin();
  {
    grpc::ClientContext ctx;
    tether::admin::v1::ListCertificatesResponse resp;
    ASSERT_TRUE(admin->ListCertificates(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.certificates_size(), 1);
    EXPECT_EQ(resp.certificates(0).serial_hex(), e.serial);
  }
  {
    grpc::ClientContext ctx;
    tether::admin::v1::ListWorkloadsResponse resp;
    ASSERT_TRUE(admin->ListWorkloads(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.workloads_size(), 1);
    EXPECT_EQ(resp.workloads(0).spiffe_id(), "spiffe://mesh.test/ns/shop/sa/cart");
    EXPECT_EQ(resp.workloads(0).authenticated_by(), "certificate");
  }
  {
    grpc::ClientContext ctx;
    tether::admin::v1::GetTrustBundleResponse resp;
    ASSERT_TRUE(admin->GetTrustBundle(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.roots_pem(), roots_pem_);
  }
  EXPECT_TRUE(client.Finish().ok());
}

TEST_F(CaStreamTest, AdminPortServesMetricsAndHealthBesideGrpc) {
  Enroll("shop", "cart");
  {
    CaTestClient client(cp_->grpc_port(), roots_pem_);
    ASSERT_TRUE(client.SendHello("tjt_bogus"));
    EXPECT_FALSE(client.Read().has_value());
    client.Finish();
  }
  std::string metrics = testing::HttpGet(cp_->admin_port(), "/metrics");
  EXPECT_NE(metrics.find("HTTP/1.1 200"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tether_control_certificates_issued_total 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tether_control_streams_rejected_total{reason=\"unauthenticated\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tether_control_signing_seconds_count 1"), std::string::npos);
  EXPECT_NE(metrics.find("tether_control_trust_bundle_roots 1"), std::string::npos);
  EXPECT_NE(testing::HttpGet(cp_->admin_port(), "/healthz").find("200"), std::string::npos);
  // gRPC on the same port keeps working after HTTP requests.
  grpc::ClientContext ctx;
  tether::admin::v1::GetTrustBundleResponse resp;
  ASSERT_TRUE(Admin()->GetTrustBundle(&ctx, {}, &resp).ok());
}

TEST(ControlPlaneOptions, RefusesRemoteAdminAndShortTtl) {
  FakeClock clock;
  control::ControlPlaneOptions opts;
  opts.state_dir = MakeTempDir();
  opts.trust_domain = "mesh.test";
  opts.grpc_listen = "127.0.0.1:0";
  opts.admin_listen = "0.0.0.0:0";
  auto cp = control::ControlPlane::Start(opts, &clock);
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kInvalidArgument);
  opts.admin_listen = "127.0.0.1:0";
  opts.cert_ttl = absl::Seconds(30);
  cp = control::ControlPlane::Start(opts, &clock);
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
