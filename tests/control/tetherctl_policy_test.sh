#!/usr/bin/env bash
# tetherctl policy apply|list|delete and authz check against a real
# tether-control: what an operator types, with the exit codes scripts rely on.
#   tetherctl_policy_test.sh path/to/tether-control path/to/tetherctl
set -uo pipefail
control=$1
ctl_bin=$2
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ctl-policy-XXXXXX")
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

"$control" --state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 2>"$dir/control.log" &
pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*admin on port \([0-9]*\).*/\1/p' "$dir/control.log")
  [[ -n "$port" ]] && break
  sleep 0.05
done
[[ -n "$port" ]] || { cat "$dir/control.log"; echo "FAIL: tether-control did not start"; exit 1; }
ctl() { "$ctl_bin" --admin "127.0.0.1:$port" "$@"; }

cat >"$dir/policy.yaml" <<'YAML'
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: shop-default, namespace: shop}
spec: {default: DENY}
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [cart]}
  rules:
    - from: [{spiffeId: spiffe://mesh.test/ns/shop/sa/web}]
      ports: [8080]
YAML

out=$(ctl policy apply -f "$dir/policy.yaml" 2>&1) || fail "apply: $out"
[[ "$out" == *"AuthorizationPolicy shop/cart-callers created"* ]] || fail "apply output: $out"
[[ "$out" == *"DefaultPolicy shop/shop-default created"* ]] || fail "apply output: $out"
out=$(ctl policy apply -f - <"$dir/policy.yaml" 2>&1) || fail "apply stdin: $out"
[[ "$out" == *"cart-callers unchanged"* ]] || fail "re-apply output: $out"

out=$(ctl policy list 2>&1) || fail "list: $out"
[[ "$out" == *"AuthorizationPolicy  shop       cart-callers  ALLOW"* ]] || fail "list table: $out"
[[ "$out" == *"(version 1)"* ]] || fail "list version: $out"
ctl policy list --output yaml >"$dir/listed.yaml" || fail "list yaml"
out=$(ctl policy apply -f "$dir/listed.yaml" 2>&1) || fail "apply listed: $out"
[[ "$out" == *"unchanged"* && "$out" != *"configured"* ]] || fail "listed YAML round trip: $out"

out=$(ctl authz check --from spiffe://mesh.test/ns/shop/sa/web \
  --to spiffe://mesh.test/ns/shop/sa/cart --port 8080)
rc=$?
[[ $rc -eq 0 ]] || fail "allowed check exit $rc: $out"
[[ "$out" == "ALLOW: "*"decided by: policy shop/cart-callers rule 0 (ALLOW)"* ]] ||
  fail "allowed check output: $out"
out=$(ctl authz check --from spiffe://mesh.test/ns/shop/sa/web \
  --to spiffe://mesh.test/ns/shop/sa/cart --port 9090)
rc=$?
[[ $rc -eq 1 ]] || fail "denied check exit $rc: $out"
[[ "$out" == *"no ALLOW rule matches"* ]] || fail "denied check output: $out"
out=$(ctl authz check --from spiffe://mesh.test/ns/shop/sa/web \
  --to spiffe://mesh.test/ns/shop/sa/orders --port 8080)
[[ $? -eq 1 && "$out" == *"DefaultPolicy shop/shop-default: DENY"* ]] ||
  fail "namespace default: $out"
# Offline, from a file, without the control plane's policy.
out=$(ctl authz check --policy-file "$dir/policy.yaml" --to spiffe://mesh.test/ns/shop/sa/cart \
  --port 8080)
[[ $? -eq 1 && "$out" == "DENY: a plaintext caller"* ]] || fail "offline plaintext: $out"
out=$(ctl authz check --to spiffe://mesh.test/ns/shop/sa/cart 2>&1)
[[ $? -eq 2 && "$out" == *"needs --to SPIFFE_ID and --port"* ]] || fail "usage: $out"
out=$(ctl authz check --from nonsense --to spiffe://mesh.test/ns/shop/sa/cart --port 1 2>&1)
[[ $? -eq 2 && "$out" == *"--from"* ]] || fail "bad --from: $out"

# Bad input: a clear error naming file and field, and nothing changes.
printf 'apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: shop}\nspec: {rules: [{ports: [70000]}]}\n' >"$dir/bad.yaml"
out=$(ctl policy apply -f "$dir/bad.yaml" 2>&1)
[[ $? -eq 1 && "$out" == *"bad.yaml: document 1 (shop/x): spec.rules[0].ports[0]"* ]] ||
  fail "bad apply: $out"
out=$(ctl policy apply -f "$dir/missing.yaml" 2>&1)
[[ $? -eq 1 && "$out" == *"missing.yaml"* ]] || fail "missing file: $out"
out=$(ctl policy list)
[[ "$out" == *"(version 1)"* && "$out" != *" x "* ]] || fail "bad apply changed the policy: $out"

out=$(ctl policy delete --namespace shop --name cart-callers 2>&1) || fail "delete: $out"
out=$(ctl policy delete --namespace shop --name cart-callers 2>&1)
[[ $? -eq 1 && "$out" == *"no AuthorizationPolicy shop/cart-callers"* ]] || fail "delete twice: $out"
out=$(ctl policy list)
[[ "$out" != *"cart-callers"* && "$out" == *"(version 2)"* ]] || fail "after delete: $out"

# TrafficPolicy: applied, listed (table and YAML round trip), deleted by kind.
cat >"$dir/traffic.yaml" <<'YAML'
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}
  timeout: 2s
  retry: {attempts: 2, on: [5xx, connect-failure], perTryTimeout: 500ms}
  routes:
    - match: {method: GET, pathPrefix: /slow}
      timeout: 10s
YAML
out=$(ctl policy apply -f "$dir/traffic.yaml" 2>&1) || fail "apply traffic: $out"
[[ "$out" == *"TrafficPolicy shop/cart created"* ]] || fail "apply traffic output: $out"
out=$(ctl policy list 2>&1) || fail "list: $out"
[[ "$out" == *"TrafficPolicy"*"cart"*"timeout=2s,retries=2"*"sa cart:8080"*"1"* ]] ||
  fail "list traffic: $out"
ctl policy list --output yaml >"$dir/listed-traffic.yaml" || fail "list yaml"
[[ "$(cat "$dir/listed-traffic.yaml")" == *"kind: TrafficPolicy"* ]] || fail "yaml lacks traffic"
out=$(ctl policy apply -f "$dir/listed-traffic.yaml" 2>&1) || fail "apply listed traffic: $out"
[[ "$out" == *"TrafficPolicy shop/cart unchanged"* ]] || fail "traffic YAML round trip: $out"
printf 'apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: cart, namespace: shop}\nspec: {destination: {serviceAccount: cart}, retry: {attempts: 11, on: [5xx]}}\n' >"$dir/bad-traffic.yaml"
out=$(ctl policy apply -f "$dir/bad-traffic.yaml" 2>&1)
[[ $? -eq 1 && "$out" == *"bad-traffic.yaml: document 1 (shop/cart): spec.retry.attempts: 11 is more than 10"* ]] ||
  fail "bad traffic apply: $out"
out=$(ctl policy delete --kind TrafficPolicy --namespace shop --name cart 2>&1) ||
  fail "delete traffic: $out"
[[ "$out" == "TrafficPolicy shop/cart deleted" ]] || fail "delete traffic output: $out"
out=$(ctl policy list)
[[ "$out" != *"TrafficPolicy"* ]] || fail "after traffic delete: $out"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
