// Fuzzes the policy YAML parser (files in local mode, ConfigMaps on
// Kubernetes), every kind: AuthorizationPolicy, DefaultPolicy, TrafficPolicy.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/policy/policy.h"
#include "common/policy/traffic.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto set = tether::policy::ParsePolicies(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (set.ok()) {
    auto compiled = tether::policy::CompiledPolicy::Compile(
        *set, *tether::pki::SpiffeId::Parse("spiffe://td/ns/shop/sa/cart"));
    (void)compiled->Evaluate(tether::policy::Peer{}, 80);
    // TrafficPolicies: compiled and looked up as the HTTP forwarder does.
    auto traffic = tether::policy::TrafficTable::Compile(set->traffic);
    const tether::pki::SpiffeId ids[] = {
        *tether::pki::SpiffeId::Parse("spiffe://td/ns/shop/sa/cart")};
    if (const auto* p = traffic->FindPolicy(ids, 8080)) {
      (void)tether::policy::TrafficTable::Behaviour(*p, traffic->IndexOf(p), "GET", "/slow/x");
    }
  }
  return 0;
}
