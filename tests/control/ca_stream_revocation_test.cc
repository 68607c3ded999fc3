// Revocation bites credentials already in use. Before, a renewal stream
// authenticated by a certificate went on signing after that certificate was
// revoked, so a stolen key could be renewed forever. Now revoking a serial
// or an identity closes every stream authenticated by it, with
// PERMISSION_DENIED after the new revocation list (so the proxy learns why),
// and that workload must attest again with a bootstrap credential. A stream
// authenticated by a bootstrap credential whose issued certificate is
// revoked stays open and signs a new one: the legitimate proxy renews at
// once with a new key. Other streams stay open.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/control/ca_stream_fixture.h"
#include "tests/control/ca_test_client.h"

namespace tether {
namespace {

class CaStreamRevocationTest : public CaStreamTest {
 protected:
  uint64_t Revoke(const std::string& serial, const std::string& spiffe_id) {
    grpc::ClientContext ctx;
    tether::admin::v1::RevokeRequest req;
    if (!serial.empty()) req.set_serial_hex(serial);
    if (!spiffe_id.empty()) req.set_spiffe_id(spiffe_id);
    tether::admin::v1::RevokeResponse resp;
    grpc::Status st = Admin()->Revoke(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.revocations_version();
  }

  // ExpectClosedAsRevoked: the stream's next answer is the revocation list
  // of `version`, then it ends with PERMISSION_DENIED saying `why`.
  void ExpectClosedAsRevoked(CaTestClient& client, uint64_t version, const std::string& why) {
    auto pushed = client.Read();
    ASSERT_TRUE(pushed && pushed->has_revocations()) << (pushed ? pushed->DebugString() : "ended");
    EXPECT_EQ(pushed->revocations().version(), version);
    EXPECT_FALSE(client.Read().has_value()) << "the stream stayed open";
    grpc::Status st = client.Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), why)) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "attest again")) << st.error_message();
  }

  // ExpectStillOpen: the stream got the list of `version` and still signs.
  void ExpectStillOpen(CaTestClient& client, uint64_t version, const std::string& id,
                       uint64_t request_id) {
    auto pushed = client.Read();
    ASSERT_TRUE(pushed && pushed->has_revocations());
    EXPECT_EQ(pushed->revocations().version(), version);
    EXPECT_TRUE(Issue(client, id, request_id).has_value());
  }
};

TEST_F(CaStreamRevocationTest, RevokingWhatAStreamIsAuthenticatedByClosesItAndOnlyIt) {
  const std::string cart = "spiffe://mesh.test/ns/shop/sa/cart";
  const std::string web = "spiffe://mesh.test/ns/shop/sa/web";
  const std::string db = "spiffe://mesh.test/ns/shop/sa/db";

  // A: authenticated by a join token; it has issued a certificate.
  CaTestClient a(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(a.SendHello(Token("shop", "cart")));
  ASSERT_EQ(ReadWelcome(a), cart);
  std::optional<Enrolled> issued = Issue(a, cart, 1);
  ASSERT_TRUE(issued.has_value());
  // B: a renewal stream, authenticated by web's certificate.
  Enrolled web_cert = Enroll("shop", "web");
  CaTestClient b(cp_->grpc_port(), roots_pem_, web_cert.identity());
  ASSERT_TRUE(b.SendHello());
  ASSERT_EQ(ReadWelcome(b), web);
  // C: another workload, untouched until its identity is revoked.
  CaTestClient c(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(c.SendHello(Token("shop", "db")));
  ASSERT_EQ(ReadWelcome(c), db);

  // The certificate A issued is revoked: A (a join-token stream) renews on
  // it; whoever holds the revoked key cannot authenticate with it.
  uint64_t v = Revoke(issued->serial, "");
  ExpectStillOpen(a, v, cart, 5);
  ExpectStillOpen(b, v, web, 2);
  ExpectStillOpen(c, v, db, 3);
  CaTestClient thief(cp_->grpc_port(), roots_pem_, issued->identity());
  ASSERT_TRUE(thief.SendHello());
  EXPECT_FALSE(thief.Read().has_value());
  EXPECT_EQ(thief.Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The certificate B authenticated with is revoked: B is closed.
  v = Revoke(web_cert.serial, "");
  ExpectClosedAsRevoked(b, v, absl::StrCat("certificate ", web_cert.serial, " of ", web));
  ExpectStillOpen(c, v, db, 4);
  ExpectStillOpen(a, v, cart, 6);

  // C's whole identity is revoked: C is closed, and so is A's when cart is.
  v = Revoke("", db);
  ExpectClosedAsRevoked(c, v, absl::StrCat(db, " is revoked"));
  ExpectStillOpen(a, v, cart, 7);
  v = Revoke("", cart);
  ExpectClosedAsRevoked(a, v, absl::StrCat(cart, " is revoked"));

  // Each closing is audited.
  absl::StatusOr<std::string> audit = ReadFile(dir_ + "/audit.jsonl");
  ASSERT_TRUE(audit.ok()) << audit.status();
  size_t closed = 0;
  for (size_t at = audit->find("stream_closed_revoked"); at != std::string::npos;
       at = audit->find("stream_closed_revoked", at + 1)) {
    ++closed;
  }
  EXPECT_EQ(closed, 3u) << *audit;  // B, C and A
}

}  // namespace
}  // namespace tether
