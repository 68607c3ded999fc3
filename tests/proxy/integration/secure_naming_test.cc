// Secure naming on loopback: the control plane's endpoint registry names
// who must answer at an address (bound with `tetherctl token create
// --address`), and the calling proxy refuses any other server there, even
// one holding a valid mesh certificate. 127.0.0.2 and 127.0.0.3 are
// loopback addresses of their own, so that each proxy has an address.

#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr char kRouteVerified[] = R"(tether_proxy_outbound_routes_total{route="mtls_verified"})";
constexpr char kRouteAny[] = R"(tether_proxy_outbound_routes_total{route="mtls_any_identity"})";
constexpr char kWrongServer[] =
    R"(tether_proxy_tls_handshake_failures_total{direction="outbound",reason="wrong_server_identity"})";

bool EchoThrough(int port) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  const bool ok = Echo(fd, "secure naming");
  close(fd);
  return ok;
}

// WhenBound: the time of the control plane's audit record binding `id`.
std::optional<absl::Time> WhenBound(const std::string& audit_log, const std::string& id) {
  std::ifstream in(audit_log);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("event", "") != "endpoints_bound" ||
        j.value("spiffe_id", "") != id) {
      continue;
    }
    absl::Time t;
    std::string err;
    if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", j.value("time", ""), &t, &err)) return t;
  }
  return std::nullopt;
}

class SecureNamingTest : public MeshTest {};

TEST_F(SecureNamingTest, AServerWithAnotherIdentityAtAKnownAddressIsRefused) {
  StartControl("1h");
  ProxyProcess* b = StartProxy("b", absl::StrCat("127.0.0.1:", backend().port()), "", "",
                               {"--inbound-listen", "127.0.0.2:0"}, {"127.0.0.2"});
  ASSERT_NE(b, nullptr);
  const int port = b->inbound_port();
  // a names no identity for its upstream: the registry must.
  ProxyProcess* a = StartProxy("a", "", absl::StrCat("127.0.0.2:", port));
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] { return absl::StrContains(HttpGet(a->admin_port(), "/endpoints"), SpiffeId("b")); }));
  ASSERT_TRUE(EchoThrough(a->outbound_port()));
  EXPECT_TRUE(WaitForMetric(a->admin_port(), kRouteVerified, 1));

  // b goes; c, a valid mesh workload of another identity, takes its address.
  ASSERT_EQ(b->Terminate(absl::Seconds(30)), 0);
  ProxyProcess* c = StartProxy("c", absl::StrCat("127.0.0.1:", backend().port()), "", "",
                               {"--inbound-listen", absl::StrCat("127.0.0.2:", port)});
  ASSERT_NE(c, nullptr);
  const int reached = backend().connections();
  EXPECT_FALSE(EchoThrough(a->outbound_port()));
  EXPECT_TRUE(WaitForMetric(a->admin_port(), kWrongServer, 1));
  EXPECT_EQ(backend().connections(), reached) << "a byte reached the impostor's app";

  // The refusal says what was expected and what answered, and diagnose
  // explains it.
  const std::string failures = HttpGet(a->admin_port(), "/debug/failures");
  EXPECT_TRUE(absl::StrContains(failures, "wrong_server_identity")) << failures;
  EXPECT_TRUE(absl::StrContains(failures, SpiffeId("b"))) << failures;
  EXPECT_TRUE(absl::StrContains(failures, SpiffeId("c"))) << failures;
  // (diagnose exits 1 when it found failures; its report is in the error.)
  auto diagnosis =
      control()->Tetherctl({"diagnose", "--proxy", absl::StrCat("127.0.0.1:", a->admin_port())});
  ASSERT_FALSE(diagnosis.ok());
  const std::string report(diagnosis.status().message());
  EXPECT_TRUE(absl::StrContains(report, "endpoint registry")) << report;
  EXPECT_TRUE(absl::StrContains(report, SpiffeId("c"))) << report;

  // Every connection of a went by the registry, none with any identity.
  auto ma = a->Scrape();
  ASSERT_TRUE(ma.has_value());
  EXPECT_EQ(MetricValue(*ma, kRouteAny), 0);
}

TEST_F(SecureNamingTest, AnUnknownAddressIsMtlsWithAnyIdentityOrRefusedUnderDeny) {
  StartControl("1h");
  ProxyProcess* b = StartProxy("b", absl::StrCat("127.0.0.1:", backend().port()), "", "",
                               {"--inbound-listen", "127.0.0.3:0"});
  ASSERT_NE(b, nullptr);
  const std::string upstream = absl::StrCat("127.0.0.3:", b->inbound_port());
  ProxyProcess* open = StartProxy("a", "", upstream);
  ASSERT_NE(open, nullptr);
  EXPECT_TRUE(EchoThrough(open->outbound_port()));
  EXPECT_TRUE(WaitForMetric(open->admin_port(), kRouteAny, 1));

  ProxyProcess* strict = StartProxy("d", "", upstream, "", {"--outbound-unknown", "deny"});
  ASSERT_NE(strict, nullptr);
  const int reached = backend().connections();
  EXPECT_FALSE(EchoThrough(strict->outbound_port()));
  EXPECT_TRUE(WaitForMetric(
      strict->admin_port(),
      R"(tether_proxy_connections_total{direction="outbound",outcome="unknown_destination"})", 1));
  EXPECT_EQ(backend().connections(), reached);
}

TEST_F(SecureNamingTest, ANewBindingReachesARunningProxyWithinASecond) {
  StartControl("1h");
  ProxyProcess* a = StartProxy("a", "", "127.0.0.1:9");  // any upstream: a only listens
  ASSERT_NE(a, nullptr);
  // d authenticates with a token bound to 127.0.0.4: from then on the
  // registry holds the binding; a must hold it within a second.
  std::optional<absl::Time> seen;
  std::thread watch([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (absl::StrContains(HttpGet(a->admin_port(), "/endpoints"), "127.0.0.4")) {
        seen = absl::Now();
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  ProxyProcess* d = StartProxy("d", absl::StrCat("127.0.0.1:", backend().port()), "", "",
                               {"--inbound-listen", "127.0.0.4:0"}, {"127.0.0.4"});
  watch.join();
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(seen.has_value()) << HttpGet(a->admin_port(), "/endpoints");
  std::optional<absl::Time> bound = WhenBound(control()->audit_log(), SpiffeId("d"));
  ASSERT_TRUE(bound.has_value()) << "no endpoints_bound record in " << control()->audit_log();
  EXPECT_LT(*seen - *bound, absl::Seconds(1));
  std::cerr << "binding reached a " << absl::FormatDuration(*seen - *bound)
            << " after the control plane recorded it\n";

  // The control plane lists it.
  auto listed = control()->Tetherctl({"endpoints"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(absl::StrContains(*listed, "127.0.0.4")) << *listed;
  EXPECT_TRUE(absl::StrContains(*listed, SpiffeId("d"))) << *listed;
  EXPECT_TRUE(absl::StrContains(*listed, "join_token")) << *listed;

  // A malformed address is refused when the token is minted.
  auto bad = control()->MintToken("shop", "e", {"cart.shop.svc"});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace tether::testing
