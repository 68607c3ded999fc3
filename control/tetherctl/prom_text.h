// ParsePrometheusText: samples from Prometheus' text exposition format
// (0.0.4), as a proxy's or tether-control's /metrics serve it.
//
//   absl::StatusOr<std::vector<Sample>> s = ParsePrometheusText(body);
//   double ok = SumSamples(*s, "tether_proxy_connections_total", {{"outcome", "ok"}});
//
// Comments (# HELP, # TYPE) and blank lines are skipped. A sample line is
// `name{label="value",...} value [timestamp]`; label values may hold the
// escapes \\, \" and \n; values may be NaN, +Inf, -Inf. A malformed line is
// InvalidArgument "line N: ...", and nothing is returned.
#ifndef TETHER_CONTROL_TETHERCTL_PROM_TEXT_H_
#define TETHER_CONTROL_TETHERCTL_PROM_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::tetherctl {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;

  // Label returns the value of label `name`, or "" when it has none.
  const std::string& Label(const std::string& name) const;
};

absl::StatusOr<std::vector<Sample>> ParsePrometheusText(absl::string_view text);

// SumSamples adds the values of the samples named `name` whose labels
// include every pair of `match`.
double SumSamples(const std::vector<Sample>& samples, absl::string_view name,
                  const std::map<std::string, std::string>& match = {});

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_PROM_TEXT_H_
