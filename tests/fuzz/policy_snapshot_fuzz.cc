// Fuzzes what a proxy does with a message from its certificate stream that
// carries a policy: parse the StreamResponse, check the PolicySnapshot
// (FromProto), and compile it (the authorization policy and the
// TrafficTable). Also checks a property: whatever FromProto
// accepts renders to YAML that ParsePolicies reads back to the same set.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "api/tether/ca/v1/ca.pb.h"
#include "common/policy/policy_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::ca::v1::StreamResponse msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size)) || !msg.has_policy()) return 0;
  auto set = tether::policy::FromProto(msg.policy());
  if (!set.ok()) return 0;
  const auto workload = *tether::pki::SpiffeId::Parse("spiffe://td/ns/shop/sa/cart");
  auto compiled = tether::policy::CompiledPolicy::Compile(*set, workload);
  (void)compiled->Evaluate(tether::policy::Peer{}, 80);
  auto traffic = tether::policy::TrafficTable::Compile(set->traffic);
  if (const auto* p = traffic->FindPolicy({&workload, 1}, 8080)) {
    (void)tether::policy::TrafficTable::Behaviour(*p, traffic->IndexOf(p), "POST", "/checkout");
  }
  const std::string yaml = tether::policy::ToYaml(*set);
  auto again = tether::policy::ParsePolicies(yaml, "rendered");
  if (!again.ok() || tether::policy::ToYaml(*again) != yaml) abort();
  return 0;
}
