#include "proxy/server/failure_log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tether::proxy {
namespace {

FailureRecord At(int64_t unix_seconds, const std::string& reason) {
  FailureRecord r;
  r.time = absl::FromUnixSeconds(unix_seconds);
  r.reason = reason;
  return r;
}

TEST(FailureLogTest, KeepsTheNewestWhenFull) {
  FailureLog log(3);
  for (int i = 1; i <= 5; ++i) log.Add(At(i, "r" + std::to_string(i)));
  std::vector<FailureRecord> s = log.Snapshot();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].reason, "r3");  // oldest first
  EXPECT_EQ(s[1].reason, "r4");
  EXPECT_EQ(s[2].reason, "r5");
  EXPECT_EQ(log.total(), 5u);
}

TEST(FailureLogTest, PartlyFilledInOrder) {
  FailureLog log(8);
  log.Add(At(1, "a"));
  log.Add(At(2, "b"));
  std::vector<FailureRecord> s = log.Snapshot();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].reason, "a");
  EXPECT_EQ(s[1].reason, "b");
}

TEST(FailureLogTest, CutsLongFields) {
  FailureLog log(1);
  FailureRecord r = At(1, "untrusted");
  r.detail = std::string(10000, 'x');
  r.peer_identity = std::string(10000, 'y');
  log.Add(r);
  EXPECT_EQ(log.Snapshot()[0].detail.size(), kMaxFailureFieldBytes);
  EXPECT_EQ(log.Snapshot()[0].peer_identity.size(), kMaxFailureFieldBytes);
}

TEST(FailureLogTest, MergesWorkersNewestFirst) {
  std::vector<FailureRecord> w0 = {At(1, "a"), At(4, "d")};
  std::vector<FailureRecord> w1 = {At(2, "b"), At(3, "c"), At(5, "e")};
  std::vector<FailureRecord> all = MergeNewestFirst({w0, w1});
  ASSERT_EQ(all.size(), 5u);
  std::string order;
  for (const auto& r : all) order += r.reason;
  EXPECT_EQ(order, "edcba");
}

TEST(FailureLogTest, JsonHasTheDocumentedFields) {
  FailureRecord r = At(1700000000, "untrusted");
  r.direction = Direction::kInbound;
  r.peer_address = "10.0.0.7:41822";
  r.peer_identity = "spiffe://mesh.test/ns/shop/sa/x";
  r.destination = "127.0.0.1:8080";
  r.detail = "certificate verify failed";
  std::string text = FailuresJson({r, At(1690000000, "denied")}, 1, 7);
  nlohmann::json j = nlohmann::json::parse(text);
  ASSERT_EQ(j["failures"].size(), 1u);  // the limit
  const nlohmann::json& f = j["failures"][0];
  EXPECT_EQ(f["time"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(f["direction"], "inbound");
  EXPECT_EQ(f["peer_address"], "10.0.0.7:41822");
  EXPECT_EQ(f["peer_identity"], "spiffe://mesh.test/ns/shop/sa/x");
  EXPECT_EQ(f["peer_identity_verified"], false);
  EXPECT_EQ(f["destination"], "127.0.0.1:8080");
  EXPECT_EQ(f["reason"], "untrusted");
  EXPECT_EQ(f["detail"], "certificate verify failed");
  EXPECT_EQ(j["total"], 7);
}

TEST(FailureLogTest, JsonSurvivesInvalidUtf8) {
  FailureRecord r = At(1, "tls_error");
  r.detail = "bad \xff\xfe bytes";
  nlohmann::json j = nlohmann::json::parse(FailuresJson({r}, 10, 1));
  EXPECT_EQ(j["failures"].size(), 1u);
}

TEST(FailureLogTest, FailureOutcomes) {
  for (const char* o : {"denied", "handshake_failed", "handshake_timeout", "connect_failed",
                        "connect_timeout", "no_certificate", "over_limit", "closed_by_policy",
                        "own_listener", "not_pod_address", "closed_by_revocation"}) {
    EXPECT_TRUE(IsFailureOutcome(o)) << o;
  }
  for (const char* o : {"ok", "reset_by_downstream", "reset_by_upstream", "idle_timeout"}) {
    EXPECT_FALSE(IsFailureOutcome(o)) << o;
  }
}

}  // namespace
}  // namespace tether::proxy
