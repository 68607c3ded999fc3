#include "control/tetherctl/route_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "absl/strings/numbers.h"

namespace tether::tetherctl {
namespace {

using Key = std::tuple<std::string, std::string, std::string>;

Key KeyOf(const RouteRow& r) { return {r.direction, r.peer, r.route}; }

double Minus(double after, double before) { return after >= before ? after - before : after; }

}  // namespace

std::vector<RouteRow> RouteRows(const std::vector<Sample>& metrics) {
  std::map<Key, RouteRow> rows;
  for (const Sample& s : metrics) {
    const bool requests = s.name == "tether_proxy_http_requests_total";
    const bool responses = s.name == "tether_proxy_http_responses_total";
    const bool bucket = s.name == "tether_proxy_http_request_duration_seconds_bucket";
    if (!requests && !responses && !bucket) continue;
    RouteRow& row = rows[{s.Label("direction"), s.Label("peer"), s.Label("route")}];
    row.direction = s.Label("direction");
    row.peer = s.Label("peer");
    row.route = s.Label("route");
    if (requests) {
      row.requests += s.value;
    } else if (responses) {
      (s.Label("classification") == "success" ? row.successes : row.failures) += s.value;
    } else {
      const std::string& le = s.Label("le");
      double bound = std::numeric_limits<double>::infinity();
      if (le != "+Inf" && !absl::SimpleAtod(le, &bound)) continue;
      row.buckets[bound] += s.value;
    }
  }
  std::vector<RouteRow> out;
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  std::stable_sort(out.begin(), out.end(),
                   [](const RouteRow& a, const RouteRow& b) { return a.requests > b.requests; });
  return out;
}

std::vector<RouteRow> RouteDelta(const std::vector<RouteRow>& after,
                                 const std::vector<RouteRow>& before) {
  std::map<Key, const RouteRow*> old;
  for (const RouteRow& r : before) old[KeyOf(r)] = &r;
  std::vector<RouteRow> out;
  for (const RouteRow& r : after) {
    RouteRow d = r;
    auto it = old.find(KeyOf(r));
    if (it != old.end()) {
      const RouteRow& b = *it->second;
      d.requests = Minus(r.requests, b.requests);
      d.successes = Minus(r.successes, b.successes);
      d.failures = Minus(r.failures, b.failures);
      for (auto& [bound, count] : d.buckets) {
        auto ob = b.buckets.find(bound);
        if (ob != b.buckets.end()) count = Minus(count, ob->second);
      }
    }
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RouteRow& a, const RouteRow& b) { return a.requests > b.requests; });
  return out;
}

std::optional<double> HistogramQuantile(double q, const std::map<double, double>& buckets) {
  if (buckets.empty()) return std::nullopt;
  const double total = buckets.rbegin()->second;
  if (!(total > 0)) return std::nullopt;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  double highest_finite = 0;
  for (const auto& [bound, cumulative] : buckets) {
    if (std::isinf(bound)) {
      return highest_finite;  // in +Inf: the highest bound known
    }
    highest_finite = bound;
    if (cumulative >= rank) {
      const double in_bucket = cumulative - below;
      if (in_bucket <= 0) return bound;
      return lower + (bound - lower) * (rank - below) / in_bucket;
    }
    lower = bound;
    below = cumulative;
  }
  return highest_finite;
}

}  // namespace tether::tetherctl
