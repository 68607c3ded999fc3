#include "proxy/tls/session_ticket.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::shared_ptr<const SessionTicketKey> KeyOf(uint8_t fill) {
  std::vector<uint8_t> k(32, fill);
  return SessionTicketKey::FromBytes(k);
}

TicketBound Bound() {
  return {absl::FromUnixSeconds(1700000000), "0a1b2c3d",
          "spiffe://mesh.test/ns/shop/sa/a"};
}

std::vector<uint8_t> Seal(const SessionTicketKey& key, const TicketBound& bound,
                          const std::vector<uint8_t>& session) {
  std::vector<uint8_t> out(session.size() + SessionTicketKey::MaxOverhead());
  size_t n = 0;
  EXPECT_TRUE(key.Seal(bound, session, out.data(), &n, out.size()));
  out.resize(n);
  return out;
}

TEST(SessionTicketKeyTest, OpenGivesBackTheSessionAndItsBound) {
  auto key = KeyOf(1);
  ASSERT_NE(key, nullptr);
  const std::vector<uint8_t> session = Bytes("a serialized session");
  std::vector<uint8_t> ticket = Seal(*key, Bound(), session);
  std::vector<uint8_t> out(ticket.size());
  size_t n = 0;
  std::optional<TicketBound> b = key->Open(ticket, out.data(), &n, out.size());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->valid_until, Bound().valid_until);
  EXPECT_EQ(b->peer_serial, Bound().peer_serial);
  EXPECT_EQ(b->peer_id, Bound().peer_id);
  out.resize(n);
  EXPECT_EQ(out, session);
}

TEST(SessionTicketKeyTest, OpenWorksInPlace) {
  auto key = KeyOf(1);
  std::vector<uint8_t> ticket = Seal(*key, Bound(), Bytes("in place"));
  size_t n = 0;
  ASSERT_TRUE(key->Open(ticket, ticket.data(), &n, ticket.size()).has_value());
  EXPECT_EQ(std::string(ticket.begin(), ticket.begin() + n), "in place");
}

TEST(SessionTicketKeyTest, TheBoundIsNotReadableOnTheWire) {
  auto key = KeyOf(1);
  std::vector<uint8_t> ticket = Seal(*key, Bound(), Bytes("s"));
  const std::string wire(ticket.begin(), ticket.end());
  EXPECT_EQ(wire.find("0a1b2c3d"), std::string::npos);
  EXPECT_EQ(wire.find("spiffe://"), std::string::npos);
  // Two seals of the same input differ (random nonce).
  EXPECT_NE(Seal(*key, Bound(), Bytes("s")), ticket);
}

TEST(SessionTicketKeyTest, AnotherKeyATamperedOrTruncatedTicketDoesNotOpen) {
  auto key = KeyOf(1);
  std::vector<uint8_t> ticket = Seal(*key, Bound(), Bytes("session"));
  std::vector<uint8_t> out(ticket.size() + 16);
  size_t n = 0;
  EXPECT_FALSE(KeyOf(2)->Open(ticket, out.data(), &n, out.size()).has_value());
  for (size_t i = 0; i < ticket.size(); ++i) {
    std::vector<uint8_t> bad = ticket;
    bad[i] ^= 0x40;
    EXPECT_FALSE(key->Open(bad, out.data(), &n, out.size()).has_value()) << "byte " << i;
  }
  for (size_t len = 0; len < ticket.size(); ++len) {
    EXPECT_FALSE(key->Open(absl::MakeConstSpan(ticket.data(), len), out.data(), &n, out.size())
                     .has_value())
        << "length " << len;
  }
  // An output too small for the session.
  EXPECT_FALSE(key->Open(ticket, out.data(), &n, 3).has_value());
}

TEST(SessionTicketKeyTest, AnOversizedIdentityIsSealedAsNeverResumable) {
  auto key = KeyOf(1);
  TicketBound b = Bound();
  b.peer_id = std::string(kMaxTicketPeerIdLength + 1, 'x');
  std::vector<uint8_t> ticket = Seal(*key, b, Bytes("s"));
  std::vector<uint8_t> out(ticket.size());
  size_t n = 0;
  std::optional<TicketBound> opened = key->Open(ticket, out.data(), &n, out.size());
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->valid_until, absl::FromUnixSeconds(0));
  EXPECT_TRUE(opened->peer_id.empty());
}

TEST(SessionTicketKeyTest, SealFailsWhenTheOutputIsTooSmall) {
  auto key = KeyOf(1);
  uint8_t out[8];
  size_t n = 0;
  EXPECT_FALSE(key->Seal(Bound(), Bytes("session"), out, &n, sizeof(out)));
}

TEST(SessionTicketKeyTest, GeneratedKeysDiffer) {
  auto a = SessionTicketKey::Generate();
  auto b = SessionTicketKey::Generate();
  ASSERT_TRUE(a && b);
  std::vector<uint8_t> ticket = Seal(*a, Bound(), Bytes("s"));
  std::vector<uint8_t> out(ticket.size());
  size_t n = 0;
  EXPECT_TRUE(a->Open(ticket, out.data(), &n, out.size()).has_value());
  EXPECT_FALSE(b->Open(ticket, out.data(), &n, out.size()).has_value());
  EXPECT_EQ(SessionTicketKey::FromBytes(std::vector<uint8_t>(31, 0)), nullptr);
}

}  // namespace
}  // namespace tether::proxy
