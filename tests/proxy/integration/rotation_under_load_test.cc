// Certificate rotation under load: the client proxy (a) holds 1-minute
// certificates and renews every 30-36 s, the server proxy (b) 2-minute ones
// and renews every 60-72 s, while long-lived connections keep exchanging
// bytes and a steady stream of new connections (one per request, almost
// all of them resumed TLS sessions) keeps arriving. The control plane is
// killed and restarted once in the middle. Several rotations of both
// proxies must cost no request, no handshake, and no open connection.
//
// The run crosses a "stale-session window" on purpose: the server (b)
// rotated, then the client (a) rotated, and the certificate a held before
// its rotation has since expired while b still holds the certificate (and
// ticket key) it had then. Sessions a made in between carry a's now-expired
// certificate; before tickets were bound to the certificates they were
// made with, every resumption of one failed its handshake, and each failure
// handed a two fresh stale tickets: a burst of thousands until b's next
// rotation. With b's certificates living twice as long as a's, the window
// opens in most of b's cycles; the control-plane outage makes it certain:
// once b then a have rotated, the control plane goes down before b's
// renewal is due and comes back a few seconds after a's previous
// certificate expired, so b renews only then (with a minute to spare).

#include <algorithm>
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
constexpr int kRotationsA = 4;
constexpr int kRotationsB = 2;
// Room for the rotations, for waiting for a rotation of b followed by one
// of a (half the cycles), and for a slow (sanitizer) build.
constexpr absl::Duration kDeadline = absl::Minutes(8);
// b's 2-minute certificates renew 60-72 s after they are issued.
constexpr absl::Duration kEarliestRenewal = absl::Seconds(60);
// What b needs after the restart to reconnect and renew before its
// certificate expires: the reconnect backoff (doubling from 1 s while the
// control plane is down) and a renewal.
constexpr absl::Duration kRenewalRoom = absl::Seconds(15);
// The shortest outage, when the window would open by itself.
constexpr absl::Duration kMinOutage = absl::Seconds(5);
// A window counts once it has lasted this long past the old certificate's
// expiry (whole seconds at /certs, and the /certs poll interval).
constexpr absl::Duration kWindowMargin = absl::Seconds(2);

// What one proxy's /certs showed over the run.
struct Observed {
  std::vector<std::string> serials;
  std::vector<absl::Time> not_after;  // of each serial
  std::vector<absl::Time> seen_at;    // when each serial was first seen
  // Traffic counts when each serial was first seen.
  std::vector<Traffic::Counts> at_change;
  int not_ready = 0;
  std::string last_not_ready;
};

// StaleSessionWindow tells, from both proxies' histories, whether the
// client is now in a window where its cached sessions (if not flushed on
// its own rotation) would carry an expired client certificate: b's latest
// rotation came before a's latest, and the certificate a held at b's latest
// rotation expired more than kWindowMargin ago.
bool StaleSessionWindow(const Observed& a, const Observed& b, absl::Time now,
                        std::string* which) {
  if (a.serials.size() < 2 || b.serials.empty()) return false;
  const absl::Time b_rotated = b.seen_at.back();
  // The certificate a held when b rotated.
  size_t held = 0;
  while (held + 1 < a.seen_at.size() && a.seen_at[held + 1] <= b_rotated) ++held;
  if (held + 1 == a.serials.size()) return false;  // a has not rotated since
  if (now < a.not_after[held] + kWindowMargin) return false;
  *which = absl::StrCat("a's ", a.serials[held], " expired while b held ", b.serials.back());
  return true;
}

class RotationUnderLoadTest : public MeshTest {};

TEST_F(RotationUnderLoadTest, BothProxiesRotateRepeatedlyWithoutAFailedRequest) {
  StartControl("2m");
  StartPair({"--cert-ttl", "1m"});
  ASSERT_FALSE(HasFatalFailure());

  // Four request threads with short pauses: a few hundred new connections a
  // second, each reading its echo before it closes, as an HTTP/1.0 client
  // does. The client proxy so receives every connection's tickets, its
  // session cache never runs dry, and it resumes nearly every connection:
  // a chain of resumptions that, unbound, outlives the client certificate
  // it began with. (A client that half-closes first makes the proxy send
  // close_notify before the tickets arrive; those connections never resume,
  // and drain the cache often enough to hide the bug.)
  Traffic traffic({.port = a()->outbound_port(),
                   .request_threads = 4,
                   .request_pause = absl::Milliseconds(2),
                   .request_end = Traffic::RequestEnd::kReadThenClose});
  ASSERT_TRUE(traffic.Start()) << absl::StrJoin(traffic.Snapshot().errors, "\n");
  const absl::Time started = absl::Now();

  std::map<std::string, Observed> seen;
  auto observe = [&](ProxyProcess* p) {
    Observed& o = seen[p->options().name];
    auto certs = p->Certs();
    if (certs && !certs->serial.empty() &&
        (o.serials.empty() || o.serials.back() != certs->serial)) {
      o.serials.push_back(certs->serial);
      o.not_after.push_back(certs->not_after);
      o.seen_at.push_back(absl::Now());
      o.at_change.push_back(traffic.Snapshot());
    }
    std::string ready = p->ReadyResponse();
    if (ready.rfind("HTTP/1.1 200", 0) != 0) {
      ++o.not_ready;
      o.last_not_ready = ready;
    }
    return o.serials.size() >= (p == a() ? kRotationsA : kRotationsB) + 1u;
  };

  // The outage, planned once b then a have rotated (see the top).
  absl::Time kill_at = absl::InfiniteFuture();
  absl::Time restart_at = absl::InfiniteFuture();
  bool killed = false;
  bool restarted = false;
  absl::Duration outage;
  auto plan_outage = [&](absl::Time now) {
    const Observed& oa = seen["a"];
    const Observed& ob = seen["b"];
    if (kill_at != absl::InfiniteFuture() || oa.serials.size() < 2 || ob.serials.size() < 2) {
      return;
    }
    const absl::Time b_rotated = ob.seen_at.back();
    // b's renewal is due no earlier than this (it was seen after issuance).
    const absl::Time b_renews = b_rotated + kEarliestRenewal;
    if (oa.seen_at.back() <= b_rotated || now >= b_renews - absl::Seconds(1)) return;
    restart_at = oa.not_after[oa.not_after.size() - 2] + kWindowMargin + absl::Seconds(1);
    // b must still have time to reconnect (its backoff grew during the
    // outage) and renew before its own certificate expires; when a's
    // previous certificate expires too close to b's, wait for a later cycle.
    if (restart_at + kRenewalRoom > ob.not_after.back()) return;
    kill_at = std::max(now, std::min(b_renews - absl::Seconds(1), restart_at - kMinOutage));
  };
  std::vector<std::string> windows;
  bool in_window = false;
  bool done = WaitFor(
      [&] {
        bool done_a = observe(a());
        bool done_b = observe(b());
        const absl::Time now = absl::Now();
        plan_outage(now);
        if (!killed && now >= kill_at) {
          control()->Kill();
          killed = true;
          outage = restart_at - now;
        }
        if (killed && !restarted && now >= restart_at) {
          RestartControl();
          restarted = true;
        }
        std::string which;
        bool window = StaleSessionWindow(seen["a"], seen["b"], now, &which);
        if (window && !in_window) windows.push_back(which);
        in_window = window;
        // A failed request ends the wait early: there is nothing more to learn.
        return (done_a && done_b && restarted && !windows.empty()) ||
               traffic.Snapshot().requests_failed > 0 || HasFatalFailure();
      },
      kDeadline);
  ASSERT_FALSE(HasFatalFailure());
  // A little more traffic on the newest certificates.
  const uint64_t before_end = traffic.Snapshot().requests_ok;
  WaitFor([&] { return traffic.Snapshot().requests_ok >= before_end + 20; });
  const Traffic::Counts counts = traffic.Stop();
  const absl::Duration ran = absl::Now() - started;

  // Rotations seen at /certs, and /ready stayed 200 throughout.
  EXPECT_TRUE(done);
  EXPECT_TRUE(restarted);
  EXPECT_FALSE(windows.empty()) << "the run never crossed a stale-session window";
  for (const auto& [name, o] : seen) {
    EXPECT_GE(o.serials.size(), (name == "a" ? kRotationsA : kRotationsB) + 1u)
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
  // certificates they were opened with (a's: 1 minute), byte-exact.
  EXPECT_EQ(counts.requests_failed, 0u) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_failed, 0) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_open, 4);
  EXPECT_GT(ran, absl::Minutes(1));

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
  EXPECT_GE(MetricValue(*ma, "tether_proxy_certificate_renewals_total"), kRotationsA + 1);
  EXPECT_GE(MetricValue(*mb, "tether_proxy_certificate_renewals_total"), kRotationsB + 1);
  // Resumption stayed on through all of it: most requests were resumed.
  const double resumed =
      MetricValue(*mb, R"(tether_proxy_tls_sessions_resumed_total{direction="inbound"})");
  EXPECT_GT(resumed, counts.requests_ok / 2.0);
  // The client never offered a session its own rotation made stale, so the
  // server had no ticket to decline for an expired client certificate;
  // tickets of b's earlier certificates (unknown_key) are declined.
  EXPECT_EQ(MetricValue(*mb, R"(tether_proxy_tls_tickets_declined_total{reason="expired"})"), 0);
  EXPECT_EQ(backend().connections(), static_cast<int>(connections));
  ExpectNoFailures();

  std::cerr << "rotation under load: " << absl::FormatDuration(ran) << ", " << counts.requests_ok
            << " requests (" << counts.request_bytes << " bytes), " << resumed
            << " resumed at b, " << counts.exchanges_ok << " long-lived exchanges ("
            << counts.long_lived_bytes << " bytes); serials a: "
            << absl::StrJoin(seen["a"].serials, " ")
            << "; b: " << absl::StrJoin(seen["b"].serials, " ")
            << "; control plane down for " << absl::FormatDuration(outage)
            << "; stale-session windows crossed: " << absl::StrJoin(windows, "; ") << "\n";
}

}  // namespace
}  // namespace tether::testing
