// Certificate rotation under load: tether-control issues 1-minute
// certificates, so each proxy of the pair renews about every 30-36 s while
// long-lived connections keep exchanging bytes and new connections keep
// arriving. Several rotations of both proxies must cost no request, no
// handshake, and no open connection.
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/proxy/integration/traffic.h"

namespace tether::testing {
namespace {

// Serial changes to see on each proxy (after its first certificate).
constexpr int kRotations = 3;
// 1-minute certificates renew after 30-36 s: three rotations take under
// two minutes; the rest is room for a slow (sanitizer) build.
constexpr absl::Duration kRotationDeadline = absl::Minutes(5);

// What one proxy's /certs showed over the run.
struct Observed {
  std::vector<std::string> serials;
  // Traffic counts when each serial was first seen.
  std::vector<Traffic::Counts> at_change;
  int not_ready = 0;
  std::string last_not_ready;
};

class RotationUnderLoadTest : public MeshTest {};

TEST_F(RotationUnderLoadTest, BothProxiesRotateRepeatedlyWithoutAFailedRequest) {
  StartControl("1m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());

  Traffic traffic({.port = a()->outbound_port()});
  ASSERT_TRUE(traffic.Start()) << absl::StrJoin(traffic.Snapshot().errors, "\n");
  const absl::Time started = absl::Now();

  std::map<std::string, Observed> seen;
  auto observe = [&](ProxyProcess* p) {
    Observed& o = seen[p->options().name];
    auto certs = p->Certs();
    if (certs && !certs->serial.empty() &&
        (o.serials.empty() || o.serials.back() != certs->serial)) {
      o.serials.push_back(certs->serial);
      o.at_change.push_back(traffic.Snapshot());
    }
    std::string ready = p->ReadyResponse();
    if (ready.rfind("HTTP/1.1 200", 0) != 0) {
      ++o.not_ready;
      o.last_not_ready = ready;
    }
    return o.serials.size() >= kRotations + 1;
  };
  bool rotated = WaitFor(
      [&] {
        bool done_a = observe(a());
        bool done_b = observe(b());
        // A failed request ends the wait early: there is nothing more to learn.
        return (done_a && done_b) || traffic.Snapshot().requests_failed > 0;
      },
      kRotationDeadline);
  // A little more traffic on the newest certificates.
  const uint64_t before_end = traffic.Snapshot().requests_ok;
  WaitFor([&] { return traffic.Snapshot().requests_ok >= before_end + 20; });
  const Traffic::Counts counts = traffic.Stop();
  const absl::Duration ran = absl::Now() - started;

  // Rotations seen at /certs, and /ready stayed 200 throughout.
  EXPECT_TRUE(rotated);
  for (const auto& [name, o] : seen) {
    EXPECT_GE(o.serials.size(), kRotations + 1)
        << "proxy " << name << " serials: " << absl::StrJoin(o.serials, ", ");
    EXPECT_EQ(o.not_ready, 0) << "proxy " << name << ": " << o.last_not_ready;
    // Every certificate carried new connections, and the long-lived ones
    // kept exchanging bytes through each of them.
    for (size_t i = 1; i < o.at_change.size(); ++i) {
      EXPECT_GT(o.at_change[i].requests_ok, o.at_change[i - 1].requests_ok)
          << "proxy " << name << ": no request completed on serial " << o.serials[i - 1];
      EXPECT_GT(o.at_change[i].exchanges_ok, o.at_change[i - 1].exchanges_ok)
          << "proxy " << name << ": long-lived connections stalled on serial " << o.serials[i - 1];
    }
    ASSERT_FALSE(o.at_change.empty());
    EXPECT_GT(counts.requests_ok, o.at_change.back().requests_ok);
  }

  // Not one failure, and the long-lived connections outlived the
  // certificates they were opened with (1 minute), byte-exact.
  EXPECT_EQ(counts.requests_failed, 0u) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_failed, 0) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_open, 4);
  EXPECT_GT(ran, absl::Minutes(1));
  std::cerr << "rotation under load: " << absl::FormatDuration(ran) << ", " << counts.requests_ok
            << " requests (" << counts.request_bytes << " bytes), " << counts.exchanges_ok
            << " long-lived exchanges (" << counts.long_lived_bytes
            << " bytes); serials a: " << absl::StrJoin(seen["a"].serials, " ")
            << "; b: " << absl::StrJoin(seen["b"].serials, " ") << "\n";

  // The proxies counted exactly that: every connection ended ok (the
  // requests and the 4 long-lived ones), every byte went both ways.
  const uint64_t connections = counts.requests_ok + 4;
  const uint64_t bytes = counts.request_bytes + counts.long_lived_bytes;
  const std::string a_ok = R"(tether_proxy_connections_total{direction="outbound",outcome="ok"})";
  const std::string b_ok = R"(tether_proxy_connections_total{direction="inbound",outcome="ok"})";
  EXPECT_TRUE(WaitForMetric(a()->admin_port(), a_ok, connections));
  EXPECT_TRUE(WaitForMetric(b()->admin_port(), b_ok, connections));
  auto ma = a()->Scrape();
  auto mb = b()->Scrape();
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(MetricValue(*ma, a_ok), connections);
  EXPECT_EQ(MetricValue(*mb, b_ok), connections);
  for (const char* flow : {"to_upstream", "to_downstream"}) {
    EXPECT_EQ(
        MetricValue(*ma, absl::StrCat(R"(tether_proxy_bytes_total{direction="outbound",flow=")",
                                      flow, "\"}")),
        bytes)
        << flow;
    EXPECT_EQ(
        MetricValue(*mb, absl::StrCat(R"(tether_proxy_bytes_total{direction="inbound",flow=")",
                                      flow, "\"}")),
        bytes)
        << flow;
  }
  EXPECT_GE(MetricValue(*ma, "tether_proxy_certificate_renewals_total"), kRotations + 1);
  EXPECT_GE(MetricValue(*mb, "tether_proxy_certificate_renewals_total"), kRotations + 1);
  EXPECT_EQ(backend().connections(), static_cast<int>(connections));
  ExpectNoFailures();
}

}  // namespace
}  // namespace tether::testing
