#include "control/tetherctl/prom_text.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tether::tetherctl {
namespace {

TEST(PromTextTest, ParsesSamplesLabelsAndEscapes) {
  auto s = ParsePrometheusText(
      "# HELP tether_proxy_connections_total Connections ended\n"
      "# TYPE tether_proxy_connections_total counter\n"
      "tether_proxy_connections_total{direction=\"inbound\",outcome=\"ok\"} 12\n"
      "\n"
      "tether_proxy_policy_version 3 1700000000000\n"
      "odd{v=\"a\\\"b\\\\c\\nd\", w = \"x\" ,} 1.5e3\r\n"
      "h_bucket{le=\"+Inf\"} +Inf\n"
      "n NaN\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 5u);
  EXPECT_EQ((*s)[0].name, "tether_proxy_connections_total");
  EXPECT_EQ((*s)[0].Label("direction"), "inbound");
  EXPECT_EQ((*s)[0].Label("missing"), "");
  EXPECT_EQ((*s)[0].value, 12);
  EXPECT_EQ((*s)[1].value, 3);
  EXPECT_EQ((*s)[2].Label("v"), "a\"b\\c\nd");
  EXPECT_EQ((*s)[2].Label("w"), "x");
  EXPECT_EQ((*s)[2].value, 1500);
  EXPECT_TRUE(std::isinf((*s)[3].value));
  EXPECT_TRUE(std::isnan((*s)[4].value));
}

TEST(PromTextTest, RefusesMalformedLinesNamingThem) {
  for (const char* bad : {"x{a=\"1\"\n", "x{a=1} 2\n", "x 1 2 3\n", "x{a=\"1\",a=\"2\"} 1\n",
                          "x abc\n", "1x 2\n", "x{a=\"\\q\"} 1\n", "x\n", "x{a=\"open} 1\n"}) {
    auto s = ParsePrometheusText(std::string("ok 1\n") + bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("line 2"), absl::string_view::npos) << s.status();
  }
}

TEST(PromTextTest, SumsMatchingSamples) {
  auto s = ParsePrometheusText(
      "c{d=\"in\",o=\"ok\"} 1\nc{d=\"in\",o=\"denied\"} 2\nc{d=\"out\",o=\"ok\"} 4\nother 8\n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(SumSamples(*s, "c"), 7);
  EXPECT_EQ(SumSamples(*s, "c", {{"d", "in"}}), 3);
  EXPECT_EQ(SumSamples(*s, "c", {{"d", "in"}, {"o", "ok"}}), 1);
  EXPECT_EQ(SumSamples(*s, "none"), 0);
}

}  // namespace
}  // namespace tether::tetherctl
