// Writes seed StreamResponses carrying policies for policy_snapshot_fuzz:
//   gen_policy_snapshot OUT_DIR
#include <fstream>
#include <iostream>
#include <string>

#include "api/tether/ca/v1/ca.pb.h"
#include "common/policy/policy_proto.h"

namespace {

constexpr const char* kSeeds[] = {
    R"(apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [cart]}
  rules:
    - from: [{spiffeId: spiffe://td/ns/shop/sa/web}, {namespace: checkout}]
      ports: [8080, 9090]
)",
    R"(apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: no-plaintext, namespace: shop}
spec:
  action: DENY
  rules: [{from: [{unauthenticated: true}]}, {from: [{trustDomain: other.org}]}]
---
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: shop, namespace: shop}
spec: {default: DENY}
)",
    R"(apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: watch, namespace: shop}
spec:
  action: AUDIT
  rules: [{from: [{authenticated: true}]}, {}]
---
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: mesh}
spec: {default: ALLOW_AUTHENTICATED}
)",
    R"(apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}
  timeout: 2s
  retry: {attempts: 2, on: [5xx, connect-failure, reset, gateway-error, 429],
          perTryTimeout: 500ms, nonIdempotent: true}
  retryBudget: {ratio: 0.2, minPerSecond: 10, ttl: 10s}
  routes:
    - match: {method: GET, pathPrefix: /slow}
      timeout: 10s
    - match: {path: /checkout}
      retry: {attempts: 0}
---
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: vault, namespace: bank}
spec: {destination: {serviceAccount: vault}}
)",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gen_policy_snapshot OUT_DIR\n";
    return 2;
  }
  int i = 0;
  for (const char* yaml : kSeeds) {
    auto set = tether::policy::ParsePolicies(yaml, "seed");
    if (!set.ok()) {
      std::cerr << set.status() << "\n";
      return 1;
    }
    tether::ca::v1::StreamResponse msg;
    *msg.mutable_policy() = tether::policy::ToProto(*set);
    msg.mutable_policy()->set_version(++i);
    msg.mutable_policy()->set_close_denied_connections(i == 2);
    std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(i) + ".bin", std::ios::binary)
        << msg.SerializeAsString();
  }
  return 0;
}
