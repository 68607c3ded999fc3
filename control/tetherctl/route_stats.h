// RouteRows: per (direction, peer, route), the HTTP golden metrics of one
// proxy's /metrics (tether_proxy_http_*), and what `tetherctl stat
// --routes` derives from them: success rate, requests per second over a
// window, and latency quantiles from the duration histogram.
//
//   std::vector<RouteRow> before = RouteRows(scrape1), after = RouteRows(scrape2);
//   std::vector<RouteRow> window = RouteDelta(after, before);   // what happened between
//   double p99 = HistogramQuantile(0.99, window[0].buckets);
#ifndef TETHER_CONTROL_TETHERCTL_ROUTE_STATS_H_
#define TETHER_CONTROL_TETHERCTL_ROUTE_STATS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control/tetherctl/prom_text.h"

namespace tether::tetherctl {

struct RouteRow {
  std::string direction;  // inbound, outbound
  std::string peer;
  std::string route;
  double requests = 0;
  double successes = 0;
  double failures = 0;
  // Duration histogram: upper bound (seconds, +Inf last) -> cumulative count.
  std::map<double, double> buckets;

  double responses() const { return successes + failures; }
};

// RouteRows: one row per (direction, peer, route), most requests first.
std::vector<RouteRow> RouteRows(const std::vector<Sample>& metrics);

// RouteDelta: `after` minus `before` by (direction, peer, route); a row
// only in `after` is taken whole (it appeared in between); counters that
// went down (the proxy restarted) count from zero.
std::vector<RouteRow> RouteDelta(const std::vector<RouteRow>& after,
                                 const std::vector<RouteRow>& before);

// HistogramQuantile: the q-quantile (0 < q < 1) of cumulative `buckets`, by
// linear interpolation inside the bucket that holds it, as Prometheus'
// histogram_quantile; the highest finite bound when it falls in +Inf;
// nullopt with no samples.
std::optional<double> HistogramQuantile(double q, const std::map<double, double>& buckets);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_ROUTE_STATS_H_
