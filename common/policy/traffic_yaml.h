// TrafficYaml: the TrafficPolicy resource (see traffic.h for its YAML) read
// from, and written to, YAML. ParsePolicies (policy.h) calls the parser for
// `kind: TrafficPolicy`; ToYaml (policy_proto.h) calls the emitter.
//
//   TrafficPolicy p;
//   absl::Status st = ParseTrafficPolicy(doc, ctx, "cart", "shop", &p);
//   // "f.yaml: document 1 (shop/cart): spec.retry.attempts: 11 is more than 10"
#ifndef TETHER_COMMON_POLICY_TRAFFIC_YAML_H_
#define TETHER_COMMON_POLICY_TRAFFIC_YAML_H_

#include <string>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "common/policy/traffic.h"
#include "common/policy/yaml_util.h"

namespace tether::policy {

// ParseTrafficPolicy reads document `doc`'s spec into `out` (named `name`
// in namespace `ns`), then checks it whole (CheckTrafficPolicy). Every
// problem is InvalidArgument from `ctx` naming the field. Defaults: no
// timeout, no retries, budget {ratio 0.2, minPerSecond 10, ttl 10s}, every
// port. Durations are absl::ParseDuration's ("500ms", "2s", "1m"), above 0.
// May throw YAML exceptions (the caller, ParsePolicies, catches them).
absl::Status ParseTrafficPolicy(const YAML::Node& doc, const internal::Ctx& ctx, std::string name,
                                std::string ns, TrafficPolicy* out);

// EmitTrafficSpec writes `p`'s spec (the value of `spec:`, a mapping) such
// that ParseTrafficPolicy reads it back to the same policy.
void EmitTrafficSpec(YAML::Emitter& out, const TrafficPolicy& p);

// FormatRatio: the shortest text of `ratio` that reads back to it ("0.2").
std::string FormatRatio(double ratio);

}  // namespace tether::policy

#endif  // TETHER_COMMON_POLICY_TRAFFIC_YAML_H_
