// Fuzzes the policy YAML parser (files in local mode, ConfigMaps on Kubernetes).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto set = tether::policy::ParsePolicies(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (set.ok()) {
    auto compiled = tether::policy::CompiledPolicy::Compile(
        *set, *tether::pki::SpiffeId::Parse("spiffe://td/ns/shop/sa/cart"));
    (void)compiled->Evaluate(tether::policy::Peer{}, 80);
  }
  return 0;
}
