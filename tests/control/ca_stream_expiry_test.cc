// A stream's authority ends with the credential it authenticated with.
// Before, an open certificate stream signed for its identity for as long as
// it stayed open, however long ago its join token or certificate expired.
// Now the control plane's maintenance (on the fake clock here) closes it
// with UNAUTHENTICATED once that credential expires, audits and counts the
// closing, and the workload comes back with its current certificate.
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "tests/control/ca_stream_fixture.h"
#include "tests/control/ca_test_client.h"

namespace tether {
namespace {

using testing::HttpGet;

class CaStreamExpiryTest : public CaStreamTest {
 protected:
  // ExpectClosedAsExpired: the stream ends, without another answer, with
  // UNAUTHENTICATED naming `credential` and what to do.
  void ExpectClosedAsExpired(CaTestClient& client, const std::string& credential) {
    auto next = client.Read();
    EXPECT_FALSE(next.has_value()) << "the stream stayed open: " << next->DebugString();
    grpc::Status st = client.Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    EXPECT_TRUE(absl::StrContains(
        st.error_message(),
        absl::StrCat("the bootstrap credential this stream authenticated with (", credential,
                     ") expired at ")))
        << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(),
                                  "reconnect with the current certificate or a fresh token"))
        << st.error_message();
  }

  size_t AuditCount(const std::string& event) {
    absl::StatusOr<std::string> audit = ReadFile(dir_ + "/audit.jsonl");
    EXPECT_TRUE(audit.ok()) << audit.status();
    size_t n = 0;
    for (size_t at = audit->find(event); at != std::string::npos; at = audit->find(event, at + 1)) {
      ++n;
    }
    return n;
  }

  bool Counted(const std::string& series) {
    return absl::StrContains(HttpGet(cp_->admin_port(), "/metrics"), series);
  }
};

TEST_F(CaStreamExpiryTest, JoinTokenStreamIsClosedWhenTheTokenExpires) {
  const std::string cart = "spiffe://mesh.test/ns/shop/sa/cart";
  auto id = pki::SpiffeId::Parse(cart);
  auto minted = cp_->tokens()->Create(*id, absl::Minutes(10));
  ASSERT_TRUE(minted.ok());
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(minted->token));
  ASSERT_EQ(ReadWelcome(client), cart);
  std::optional<Enrolled> cert = Issue(client, cart, 1);
  ASSERT_TRUE(cert.has_value());

  // Before the token's expiry the stream signs on.
  clock_.Advance(absl::Minutes(9));
  cp_->RunMaintenance();
  ASSERT_TRUE(Issue(client, cart, 2).has_value());
  EXPECT_EQ(AuditCount("stream_closed_expired"), 0u);

  clock_.Advance(absl::Minutes(1) + absl::Seconds(1));
  cp_->RunMaintenance();
  ExpectClosedAsExpired(client, "join token");
  EXPECT_EQ(AuditCount("stream_closed_expired"), 1u);
  EXPECT_TRUE(Counted("tether_control_streams_rejected_total{reason=\"unauthenticated\"} 1"));

  // The proxy comes back on the certificate the stream issued (valid for an
  // hour), and that stream signs.
  CaTestClient renewal(cp_->grpc_port(), roots_pem_, cert->identity());
  ASSERT_TRUE(renewal.SendHello());
  ASSERT_EQ(ReadWelcome(renewal), cart);
  EXPECT_TRUE(Issue(renewal, cart, 3).has_value());
  EXPECT_TRUE(renewal.Finish().ok());
}

TEST_F(CaStreamExpiryTest, ACsrAfterTheCredentialExpiredIsNotSigned) {
  const std::string cart = "spiffe://mesh.test/ns/shop/sa/cart";
  auto minted = cp_->tokens()->Create(*pki::SpiffeId::Parse(cart), absl::Minutes(1));
  ASSERT_TRUE(minted.ok());
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(minted->token));
  ASSERT_EQ(ReadWelcome(client), cart);
  const size_t issued = cp_->registry()->List().size();

  // No maintenance round in between (one may run on its own thread: either
  // way nothing is signed).
  clock_.Advance(absl::Minutes(2));
  auto key = pki::GenerateP256Key();
  auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(cart));
  ASSERT_TRUE(client.SendCsr(1, *csr));
  ExpectClosedAsExpired(client, "join token");
  EXPECT_EQ(cp_->registry()->List().size(), issued);
}

TEST_F(CaStreamExpiryTest, RenewalStreamIsClosedAtItsCertificatesNotAfter) {
  const std::string web = "spiffe://mesh.test/ns/shop/sa/web";
  Enrolled first = Enroll("shop", "web");
  const absl::Time not_after = pki::DescribeCert(first.chain.front().get()).not_after;
  ASSERT_GT(not_after, clock_.Now());

  CaTestClient client(cp_->grpc_port(), roots_pem_, first.identity());
  ASSERT_TRUE(client.SendHello());
  ASSERT_EQ(ReadWelcome(client), web);
  // The renewal, at about half the first's lifetime: a new certificate on
  // the strength of the first, valid beyond it.
  clock_.Advance(absl::Minutes(30));
  cp_->RunMaintenance();
  std::optional<Enrolled> renewed = Issue(client, web, 1);
  ASSERT_TRUE(renewed.has_value());

  clock_.Advance(not_after - clock_.Now() - absl::Seconds(1));
  cp_->RunMaintenance();
  ASSERT_TRUE(Issue(client, web, 2).has_value()) << "closed before the notAfter";

  clock_.Advance(absl::Seconds(2));
  cp_->RunMaintenance();
  ExpectClosedAsExpired(client, absl::StrCat("certificate ", first.serial));
  EXPECT_EQ(AuditCount("stream_closed_expired"), 1u);

  // The renewed certificate authenticates the next stream.
  CaTestClient next(cp_->grpc_port(), roots_pem_, renewed->identity());
  ASSERT_TRUE(next.SendHello());
  ASSERT_EQ(ReadWelcome(next), web);
  EXPECT_TRUE(next.Finish().ok());
}

}  // namespace
}  // namespace tether
