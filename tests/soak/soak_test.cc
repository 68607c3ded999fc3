// Soak: a real tether-control issuing 1-minute certificates and a pair of
// proxies in explicit mode, under constant traffic (new connections and
// long-lived ones) for SOAK_MINUTES (default 10). Every few seconds it
// samples each process's resident memory and open descriptors. It passes
// when no request or long-lived exchange failed, both proxies rotated their
// certificates all along, and memory and descriptors are flat: after a
// warm-up, the last third's samples stay within a bound of the first
// third's. A summary is printed either way.
//
//   make soak                     # 10 minutes
//   make soak SOAK_MINUTES=30
#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/proxy/integration/traffic.h"
#include "tests/testing/proc_stats.h"

namespace tether::testing {
namespace {

// Samples: every 5 s, or often enough for 30 of them in a short run.
constexpr absl::Duration kMaxSampleEvery = absl::Seconds(5);
// Memory may grow by this much, or this fraction, whichever is larger,
// between the first and last thirds (allocator pools settling, histograms).
constexpr int64_t kRssSlackBytes = (4 << 20) * kMemoryScale;
constexpr double kRssSlackFraction = 0.10;
// Descriptors vary with the requests in flight at a sample (two each).
constexpr double kFdSlack = 6;

absl::Duration SoakDuration() {
  double minutes = 10;
  const char* env = getenv("SOAK_MINUTES");
  if (env != nullptr && !absl::SimpleAtod(env, &minutes)) minutes = 10;
  return absl::Seconds(static_cast<int64_t>(minutes * 60));
}

struct Series {
  std::vector<double> rss;  // bytes
  std::vector<double> fds;
};

double Mean(const std::vector<double>& v, size_t from, size_t to) {
  if (to <= from) return 0;
  return std::accumulate(v.begin() + from, v.begin() + to, 0.0) / static_cast<double>(to - from);
}

class SoakTest : public MeshTest {};

TEST_F(SoakTest, ConstantTrafficAndRotationsKeepMemoryAndDescriptorsFlat) {
  const absl::Duration duration = SoakDuration();
  const absl::Duration warmup = std::min(absl::Seconds(60), duration / 5);
  const absl::Duration sample_every = std::min(kMaxSampleEvery, duration / 30);
  StartControl("1m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());

  Traffic traffic({.port = a()->outbound_port(),
                   .long_lived = 4,
                   .request_threads = 2,
                   .request_end = Traffic::RequestEnd::kMixed});
  ASSERT_TRUE(traffic.Start()) << absl::StrJoin(traffic.Snapshot().errors, "\n");
  const absl::Time start = absl::Now();

  struct Process {
    std::string name;
    pid_t pid;
  };
  const std::vector<Process> processes = {
      {"a", a()->pid()}, {"b", b()->pid()}, {"control", control()->pid()}};
  std::map<std::string, Series> samples;
  std::map<std::string, std::vector<std::string>> serials;
  int not_ready = 0;
  std::string why_not_ready;
  size_t first_sample = 0;  // the first one after the warm-up

  for (absl::Time next = start; absl::Now() - start < duration; next += sample_every) {
    absl::SleepFor(std::max(absl::ZeroDuration(), next - absl::Now()));
    if (absl::Now() - start < warmup) first_sample = samples["a"].rss.size() + 1;
    for (const Process& p : processes) {
      samples[p.name].rss.push_back(static_cast<double>(RssBytes(p.pid)));
      samples[p.name].fds.push_back(OpenFds(p.pid));
    }
    for (ProxyProcess* p : {a(), b()}) {
      auto certs = p->Certs();
      auto& seen = serials[p->options().name];
      if (certs && !certs->serial.empty() && (seen.empty() || seen.back() != certs->serial)) {
        seen.push_back(certs->serial);
      }
      std::string ready = p->ReadyResponse();
      if (ready.rfind("HTTP/1.1 200", 0) != 0) {
        ++not_ready;
        why_not_ready = ready;
      }
    }
    const Traffic::Counts c = traffic.Snapshot();
    if (c.requests_failed > 0 || c.long_lived_failed > 0) break;  // nothing more to learn
  }
  const Traffic::Counts counts = traffic.Stop();
  const absl::Duration ran = absl::Now() - start;

  // The summary.
  std::string summary = absl::StrFormat(
      "soak: %s (warm-up %s): %d requests (%d failed), %d long-lived exchanges on %d "
      "connections (%d failed), %.1f MiB relayed\n",
      absl::FormatDuration(ran), absl::FormatDuration(warmup), counts.requests_ok,
      counts.requests_failed, counts.exchanges_ok,
      counts.long_lived_open + counts.long_lived_failed, counts.long_lived_failed,
      static_cast<double>(counts.request_bytes + counts.long_lived_bytes) / (1 << 20));
  for (const auto& [name, seen] : serials) {
    absl::StrAppend(&summary, "  ", name, ": ", seen.size(), " certificates\n");
  }
  for (const Process& p : processes) {
    const Series& s = samples[p.name];
    const size_t n = s.rss.size();
    const size_t third = (n - std::min(n, first_sample)) / 3;
    const size_t first_end = first_sample + third, last_begin = n - third;
    const double rss_first = Mean(s.rss, first_sample, first_end);
    const double rss_last = Mean(s.rss, last_begin, n);
    const double fds_first = Mean(s.fds, first_sample, first_end);
    const double fds_last = Mean(s.fds, last_begin, n);
    absl::StrAppend(
        &summary,
        absl::StrFormat("  %-7s RSS %6.1f -> %6.1f MiB (max %6.1f), fds %5.1f -> %5.1f (max %.0f), "
                        "%d samples\n",
                        p.name, rss_first / (1 << 20), rss_last / (1 << 20),
                        *std::max_element(s.rss.begin(), s.rss.end()) / (1 << 20), fds_first,
                        fds_last, *std::max_element(s.fds.begin(), s.fds.end()), n));
    if (third < 2) {
      ADD_FAILURE() << "too few samples after the warm-up to judge " << p.name;
      continue;
    }
    const double rss_bound =
        rss_first + std::max<double>(kRssSlackBytes, kRssSlackFraction * rss_first);
    // Under ASan freed blocks sit in its quarantine (up to 256 MiB) by
    // design, so memory only flattens in a normal build; there LeakSanitizer
    // checks every process for leaks instead.
    if (!kAddressSanitizer) {
      EXPECT_LE(rss_last, rss_bound) << p.name << "'s memory grows";
    }
    EXPECT_LE(fds_last, fds_first + kFdSlack) << p.name << "'s descriptors grow";
  }
  std::cerr << summary;
  RecordProperty("summary", summary);

  EXPECT_EQ(counts.requests_failed, 0u) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_failed, 0) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(not_ready, 0) << why_not_ready;
  // 1-minute certificates renew every 30-36 s.
  const size_t rotations = static_cast<size_t>(absl::ToDoubleMinutes(ran) * 1.5);
  for (const auto& [name, seen] : serials) {
    EXPECT_GE(seen.size(), rotations) << name << " did not keep rotating";
  }
  const uint64_t connections = counts.requests_ok + 4;
  EXPECT_TRUE(WaitForMetric(a()->admin_port(),
                            R"(tether_proxy_connections_total{direction="outbound",outcome="ok"})",
                            connections));
  ExpectNoFailures();
}

}  // namespace
}  // namespace tether::testing
