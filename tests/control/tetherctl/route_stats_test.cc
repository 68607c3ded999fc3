// RouteRows, RouteDelta and HistogramQuantile on a proxy's /metrics text.
#include "control/tetherctl/route_stats.h"

#include <gtest/gtest.h>

namespace tether::tetherctl {
namespace {

std::vector<Sample> Parse(const std::string& text) {
  absl::StatusOr<std::vector<Sample>> s = ParsePrometheusText(text);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::vector<Sample>{};
}

std::string Page(int requests, int ok, int failed, int fast, int slow) {
  const std::string labels =
      R"(direction="inbound",peer="spiffe://mesh.test/ns/shop/sa/web",route="GET /users/{id}")";
  std::string out;
  out += "tether_proxy_http_requests_total{" + labels + "} " + std::to_string(requests) + "\n";
  out += "tether_proxy_http_responses_total{" + labels +
         R"(,status_code="200",classification="success"} )" + std::to_string(ok) + "\n";
  out += "tether_proxy_http_responses_total{" + labels +
         R"(,status_code="503",classification="failure"} )" + std::to_string(failed) + "\n";
  // fast requests in (0, 1ms], slow ones in (10ms, 25ms].
  const int n = fast + slow;
  for (const auto& [le, count] : std::vector<std::pair<std::string, int>>{
           {"0.001", fast}, {"0.01", fast}, {"0.025", n}, {"+Inf", n}}) {
    out += "tether_proxy_http_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
           std::to_string(count) + "\n";
  }
  return out;
}

TEST(RouteStatsTest, RowsCarryCountsAndTheHistogram) {
  std::vector<RouteRow> rows = RouteRows(Parse(Page(10, 9, 1, 8, 2)));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].route, "GET /users/{id}");
  EXPECT_EQ(rows[0].requests, 10);
  EXPECT_EQ(rows[0].successes, 9);
  EXPECT_EQ(rows[0].failures, 1);
  EXPECT_EQ(rows[0].buckets.size(), 4u);
  // p50 inside (0, 1ms]; p95 inside (10ms, 25ms].
  EXPECT_NEAR(*HistogramQuantile(0.5, rows[0].buckets), 0.001 * 5 / 8, 1e-9);
  EXPECT_NEAR(*HistogramQuantile(0.95, rows[0].buckets), 0.01 + 0.015 * 1.5 / 2, 1e-9);
}

TEST(RouteStatsTest, TheWindowIsTheDifference) {
  std::vector<RouteRow> d =
      RouteDelta(RouteRows(Parse(Page(30, 27, 3, 20, 10))), RouteRows(Parse(Page(10, 9, 1, 8, 2))));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].requests, 20);
  EXPECT_EQ(d[0].successes, 18);
  EXPECT_EQ(d[0].failures, 2);
  EXPECT_EQ(d[0].buckets.at(0.001), 12);
  // A proxy that restarted in between counts from zero.
  std::vector<RouteRow> restarted =
      RouteDelta(RouteRows(Parse(Page(3, 3, 0, 3, 0))), RouteRows(Parse(Page(10, 9, 1, 8, 2))));
  EXPECT_EQ(restarted[0].requests, 3);
}

TEST(RouteStatsTest, QuantilesOfNothingOrOfTheOverflow) {
  EXPECT_FALSE(HistogramQuantile(0.5, {}).has_value());
  EXPECT_FALSE(HistogramQuantile(0.5, {{0.1, 0}, {INFINITY, 0}}).has_value());
  // Everything above the highest bound: that bound.
  EXPECT_EQ(*HistogramQuantile(0.99, {{0.1, 0}, {30, 0}, {INFINITY, 5}}), 30);
}

}  // namespace
}  // namespace tether::tetherctl
