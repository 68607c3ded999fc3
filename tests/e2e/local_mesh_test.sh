#!/usr/bin/env bash
# local_mesh_test: the local mesh's scenarios as assertions, in network
# namespaces with the real iptables rules: mTLS-only on the wire with the
# caller's identity seen, rotation under traffic with zero failures, a policy
# denial, strict mode refusing plaintext, passthrough to a service outside
# the mesh, an impostor refused at a bound address, and a clean teardown (no namespace,
# rule or process left). Needs root.
set -uo pipefail
RUNFILES=${TEST_SRCDIR:-$PWD/..}/tether
[[ -d "$RUNFILES" ]] || RUNFILES=$PWD
# shellcheck source=tests/testing/mesh_test_env.sh
source "$RUNFILES/tests/testing/mesh_test_env.sh" te 10.78 "$@"
export TETHER_CERT_TTL=1m
# shellcheck source=deploy/local/scenarios.sh
source "$RUNFILES/deploy/local/scenarios.sh"

failures=0
expect() {  # expect COND MESSAGE
  if [[ $1 == 1 ]]; then echo "ok: $2"; else echo "FAIL: $2"; failures=$((failures + 1)); fi
}
cleanup() {
  "$MESH" down >/dev/null 2>&1 || true
  rm -rf "$TETHER_MESH_DIR"
}
trap cleanup EXIT

mkdir -p "$TETHER_MESH_DIR/policies"
cat >"$TETHER_MESH_DIR/policies/b.yaml" <<POLICY
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: b-callers, namespace: demo}
spec:
  selector: {serviceAccounts: [b]}
  rules:
    - from: [{spiffeId: spiffe://mesh.local/ns/demo/sa/a}]
POLICY

"$MESH" up a b c || { echo "FAIL: mesh up"; exit 1; }

scenario_wire a b 10
expect $((WIRE_CALLS_OK == 10)) "10 plain calls a->b answered ($WIRE_CALLS_OK)"
expect $((WIRE_NON_TLS == 0)) "no non-TLS payload on the bridge ($WIRE_NON_TLS, $WIRE_TOOL)"
expect $((WIRE_TLS13 >= 10)) "TLS 1.3 handshakes on the wire ($WIRE_TLS13)"
expect $([[ $WIRE_ALPN == tether ]] && echo 1 || echo 0) "ALPN tether ($WIRE_ALPN)"
expect $((WIRE_LEAK == 0)) "no plaintext leak"
expect $([[ $PEER_ID == spiffe://mesh.local/ns/demo/sa/a ]] && echo 1 || echo 0) "b saw a's identity ($PEER_ID)"

scenario_rotation a b 90
expect $([[ -n $ROT_AFTER_FROM && $ROT_AFTER_FROM != "$ROT_BEFORE_FROM" ]] && echo 1 || echo 0) "a rotated"
expect $([[ -n $ROT_AFTER_TO && $ROT_AFTER_TO != "$ROT_BEFORE_TO" ]] && echo 1 || echo 0) "b rotated"
expect $((ROT_FAILED == 0 && ROT_OK >= 100)) "no failed request during rotation ($ROT_OK ok, $ROT_FAILED failed)"

scenario_policy_deny c b
expect "$DENY_CALL_FAILED" "c is denied by b's policy"
expect $((DENY_COUNT >= 1)) "b counted the denial"

scenario_policy_live c b
expect $([[ $LIVE_APPLY == *"AuthorizationPolicy demo/b-callers configured"* ]] && echo 1 || echo 0) \
  "tetherctl policy apply configured b-callers ($LIVE_APPLY)"
expect $((LIVE_MS >= 0 && LIVE_MS < 1000)) "b enforced the applied policy within a second ($LIVE_MS ms)"
expect "$LIVE_ALLOWED" "c is allowed after the live change"
expect $([[ $LIVE_CHECK == "policy demo/b-callers rule 0 (ALLOW)" ]] && echo 1 || echo 0) \
  "authz check names the rule ($LIVE_CHECK)"

scenario_outside_plaintext b
expect "$OUTSIDE_REFUSED" "plaintext from outside the mesh is refused"
expect $((OUTSIDE_COUNTED >= 1)) "b counted the plaintext attempt"

scenario_operator b c
expect $((CHECK_RC == 0)) "tetherctl check passes on the control plane ($CHECK_RC)"
expect $((POD_CHECK_RC == 0)) "tetherctl check passes on b's proxy ($POD_CHECK_RC)"
expect "$DIAG_NAMES_DENIED" "tetherctl diagnose names c as denied by b"
expect "$DIAG_NAMES_PLAINTEXT" "tetherctl diagnose shows the plaintext caller"

# The calls that succeeded really came through the mesh: a's app dialled
# b's pod IP, b's app saw the connection from its own proxy.
expect $(grep -q '"outcome":"ok"' "$TETHER_MESH_DIR/pods.d/a/access.log" 2>/dev/null; echo $((1 - $?))) \
  "a's proxy relayed outbound"

# Outside the mesh: a service on the host is passed through, untouched.
scenario_passthrough a
expect "$PASS_OK" "a's app reached a plain service outside the mesh"
expect $((PASS_COUNTED >= 3)) "a's proxy passed it through ($PASS_COUNTED)"

# Secure naming: an impostor with a valid mesh certificate at b's address.
scenario_impostor a b
expect "$IMP_REFUSED" "a's call to the impostor at b's address is refused"
expect $((IMP_COUNTED >= 1)) "a counted wrong_server_identity ($IMP_COUNTED)"
expect "$IMP_NAMES_BOTH" "diagnose names b (expected) and the impostor (answered)"

"$MESH" down >/dev/null
left_ns=$(ip netns list | grep -c "^$TETHER_MESH_PREFIX-" || true)
left_link=$(ip link show "${TETHER_MESH_PREFIX}br0" 2>/dev/null | wc -l)
left_proc=$(pgrep -f "$TETHER_MESH_DIR/bin/" | wc -l)
expect $((left_ns == 0 && left_link == 0 && left_proc == 0)) \
  "nothing left behind (namespaces $left_ns, bridge $left_link, processes $left_proc)"

[[ $failures -eq 0 ]] && echo PASS || echo "$failures failures"
exit $((failures > 0))
