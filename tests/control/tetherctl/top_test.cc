#include "control/tetherctl/top_command.h"

#include <gtest/gtest.h>

namespace tether::tetherctl {
namespace {

TEST(TopTest, ParsesRequestsAndGroupsThem) {
  uint64_t last = 0;
  auto records = ParseRequests(
      R"({"seq": 7, "requests": [
        {"seq": 5, "direction": "inbound", "client": "spiffe://t/ns/a/sa/a", "server": "spiffe://t/ns/b/sa/b",
         "method": "GET", "path": "/x", "status": 200, "duration_ms": 2.0},
        {"seq": 6, "direction": "inbound", "client": "spiffe://t/ns/a/sa/a", "server": "spiffe://t/ns/b/sa/b",
         "method": "GET", "path": "/x", "status": 503, "duration_ms": 0.5},
        {"seq": 7, "direction": "inbound", "client": "", "server": "spiffe://t/ns/b/sa/b",
         "method": "POST", "path": "/y", "status": 0, "duration_ms": 9.0}]})",
      &last);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(last, 7u);
  TopTable table;
  for (const TapRecord& r : *records) table.Add(r);
  std::vector<TopRow> rows = table.Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].path, "/x");
  EXPECT_EQ(rows[0].count, 2u);
  EXPECT_EQ(rows[0].successes, 1u);
  EXPECT_DOUBLE_EQ(rows[0].best_ms, 0.5);
  EXPECT_DOUBLE_EQ(rows[0].worst_ms, 2.0);
  EXPECT_DOUBLE_EQ(rows[0].last_ms, 0.5);
  EXPECT_EQ(rows[1].source, "unauthenticated");
  EXPECT_EQ(rows[1].successes, 0u);  // no response is a failure
}

TEST(TopTest, AGrpcErrorIsAFailureThoughItsStatusIs200) {
  uint64_t last = 0;
  auto records = ParseRequests(
      R"({"seq": 3, "requests": [
        {"seq": 1, "direction": "inbound", "method": "POST", "path": "/shop.Cart/Add", "status": 200,
         "grpc_status": 0, "duration_ms": 1.0},
        {"seq": 2, "direction": "inbound", "method": "POST", "path": "/shop.Cart/Add", "status": 200,
         "grpc_status": 14, "duration_ms": 1.0},
        {"seq": 3, "direction": "inbound", "method": "POST", "path": "/shop.Cart/Add", "status": 200,
         "grpc_status": 99, "duration_ms": 1.0}]})",
      &last);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ((*records)[2].grpc_status, 2);  // beyond 16: UNKNOWN
  TopTable table;
  for (const TapRecord& r : *records) table.Add(r);
  ASSERT_EQ(table.Rows().size(), 1u);
  EXPECT_EQ(table.Rows()[0].count, 3u);
  EXPECT_EQ(table.Rows()[0].successes, 1u);
}

TEST(TopTest, RefusesWhatIsNotARequestsAnswer) {
  uint64_t last = 0;
  EXPECT_FALSE(ParseRequests("<html>", &last).ok());
  EXPECT_FALSE(ParseRequests(R"({"seq": -1, "requests": []})", &last).ok());
  EXPECT_FALSE(ParseRequests(R"({"seq": 1, "requests": [3]})", &last).ok());
  // Fields of the wrong type read as empty, never throw.
  auto odd = ParseRequests(R"({"seq": 1, "requests": [{"seq": "x", "status": "ok", "path": 4}]})",
                           &last);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ((*odd)[0].status, 0);
  EXPECT_EQ((*odd)[0].path, "");
}

}  // namespace
}  // namespace tether::tetherctl
