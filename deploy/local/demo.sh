#!/usr/bin/env bash
# demo.sh: the local mesh demo (`make demo`). Brings up three pods a, b, c as
# network namespaces with the real interception, tells the story step by
# step, prints a summary, and always tears the mesh down. Exit code 0 only if
# every step did what it claims.
set -uo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
HERE=$(cd "$(dirname "$0")" && pwd)
export TETHER_MESH_DIR=${TETHER_MESH_DIR:-/tmp/tether-mesh}
export TETHER_CERT_TTL=${TETHER_CERT_TTL:-1m}
# shellcheck source=deploy/local/scenarios.sh
source "$HERE/scenarios.sh"

failures=0
step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
ok() { printf '  \033[32m✔\033[0m %s\n' "$*"; }
bad() { printf '  \033[31m✘\033[0m %s\n' "$*"; failures=$((failures + 1)); }
check() { if [[ $1 == 1 ]]; then ok "$2"; else bad "$2"; fi; }

if [[ $(id -u) -ne 0 ]]; then
  echo "demo: the local mesh needs root (network namespaces, iptables): run with sudo" >&2
  exit 1
fi
cleanup() { "$HERE/mesh.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

step "1. The control plane starts and issues identities; each pod becomes ready"
mkdir -p "$TETHER_MESH_DIR/policies"
cat >"$TETHER_MESH_DIR/policies/b.yaml" <<POLICY
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: b-callers, namespace: demo}
spec:
  selector: {serviceAccounts: [b]}
  action: ALLOW
  rules:
    - from: [{spiffeId: spiffe://$TETHER_TRUST_DOMAIN/ns/demo/sa/a}]
POLICY
if "$HERE/mesh.sh" up a b c; then
  ok "pods a, b, c hold certificates (lifetime $TETHER_CERT_TTL); b allows only a"
else
  bad "the mesh did not come up"
  exit 1
fi

step "2. Pod a calls pod b over plain HTTP; only TLS 1.3 crosses the wire"
scenario_wire a b 10
check $((WIRE_CALLS_OK == 10)) "a's app made 10 plain HTTP calls to b ($(pod_ip b):80): $WIRE_CALLS_OK answered"
check $((WIRE_NON_TLS == 0)) "packets with a payload that is not TLS on the bridge ($WIRE_TOOL): $WIRE_NON_TLS"
check $((WIRE_TLS13 >= 10)) "TLS 1.3 handshakes seen: $WIRE_TLS13 (ALPN: ${WIRE_ALPN:-none})"
check $((WIRE_LEAK == 0)) "the app's text never appears in the capture"
check $([[ $PEER_ID == "spiffe://$TETHER_TRUST_DOMAIN/ns/demo/sa/a" ]] && echo 1 || echo 0) \
  "b's proxy saw the caller as $PEER_ID"

step "3. Certificates rotate while traffic flows"
scenario_rotation a b 90
check $([[ $ROT_AFTER_FROM != "$ROT_BEFORE_FROM" ]] && echo 1 || echo 0) \
  "a renewed: ${ROT_BEFORE_FROM:0:12}… → ${ROT_AFTER_FROM:0:12}…"
check $([[ $ROT_AFTER_TO != "$ROT_BEFORE_TO" ]] && echo 1 || echo 0) \
  "b renewed: ${ROT_BEFORE_TO:0:12}… → ${ROT_AFTER_TO:0:12}…"
check $((ROT_FAILED == 0 && ROT_OK > 0)) "requests during rotation: $ROT_OK ok, $ROT_FAILED failed"

step "4. A policy denies pod c"
scenario_policy_deny c b
check "$DENY_CALL_FAILED" "c's call to b was refused"
check $((DENY_COUNT >= 1)) "b's proxy counted the denial (tether_proxy_authorization_decisions_total{decision=\"deny\"} +$DENY_COUNT)"
check $([[ -n $DENY_REASON ]] && echo 1 || echo 0) "b's reason: ${DENY_REASON:-none}"

step "5. An operator allows c as well, live: tetherctl policy apply"
scenario_policy_live c b
echo "  \$ tetherctl policy apply -f live-policy.yaml"
echo "  ${LIVE_APPLY//$'\n'/$'\n'  }"
check $((LIVE_MS >= 0 && LIVE_MS < 1000)) "b's proxy enforced the new policy ${LIVE_MS} ms after the apply"
check "$LIVE_ALLOWED" "c's call to b now succeeds (decided by: ${LIVE_CHECK:-?})"

step "6. A process outside the mesh talks plaintext to b (strict mode)"
scenario_outside_plaintext b
check "$OUTSIDE_REFUSED" "the host's plain HTTP request to $(pod_ip b):80 got no answer"
check $((OUTSIDE_COUNTED >= 1)) "b's proxy counted it as a handshake failure with reason \"plaintext\""

step "7. The operator asks why: tetherctl check and diagnose"
scenario_operator b c
echo "  \$ tetherctl check"
echo "$CHECK_OUT" | grep -E '✔|!|✖' | sed 's/^/  /'
check $((CHECK_RC == 0)) "tetherctl check: control plane, CA and every workload's certificate healthy"
check $((POD_CHECK_RC == 0)) "tetherctl check --proxy on b's proxy passes (the refusals are warnings)"
echo "  \$ tetherctl diagnose --proxy <b's admin>   (abridged)"
echo "$DIAG_OUT" | grep -E '^  [0-9]{4}-|^    (what|fix):' | head -6 | sed 's/^/  /'
check "$DIAG_NAMES_DENIED" "diagnose names c's identity as denied by b's policy"
check "$DIAG_NAMES_PLAINTEXT" "diagnose shows the plaintext caller from outside the mesh"

step "8. Pod a calls a service outside the mesh: passed through, untouched"
scenario_passthrough a
check "$PASS_OK" "a's app called the host's plain HTTP service ($TETHER_MESH_SUBNET.1:18099) and was answered"
check $((PASS_COUNTED >= 3)) "a's proxy passed it through as plain TCP (tether_proxy_outbound_routes_total{route=\"passthrough\"} +$PASS_COUNTED)"

step "9. An impostor with a valid certificate takes over b's address"
scenario_impostor a b
check "$IMP_REFUSED" "a's call to $(pod_ip b):80 was refused: the registry binds it to b"
check $((IMP_COUNTED >= 1)) "a's proxy counted it (reason \"wrong_server_identity\", +$IMP_COUNTED)"
echo "  \$ tetherctl diagnose --proxy <a's admin>   (abridged)"
echo "$IMP_DIAG" | grep -E '^  [0-9]{4}-|^    (what|fix|detail):' | head -4 | sed 's/^/  /'
check "$IMP_NAMES_BOTH" "diagnose names the identity expected (b) and the one that answered (impostor)"

step "10. Summary"
printf '  %-4s %-36s %-34s %-22s %6s %8s\n' POD IDENTITY SERIAL "NOT AFTER" CONNS REFUSED
for pod in a c; do
  m=$(pod_admin "$pod" /metrics)
  conns=$(echo "$m" | grep '^tether_proxy_connections_total' | awk '{s+=$NF} END {printf "%d", s}')
  failed=$(echo "$m" | grep '^tether_proxy_connections_total' | grep -v 'outcome="ok"' |
    awk '{s+=$NF} END {printf "%d", s}')
  printf '  %-4s %-36s %-34s %-22s %6s %8s\n' "$pod" "spiffe://$TETHER_TRUST_DOMAIN/ns/demo/sa/$pod" \
    "$(pod_serial "$pod")" "$(pod_expiry "$pod")" "$conns" "$failed"
done
echo
if [[ $failures -eq 0 ]]; then
  printf '\033[32mdemo passed: every step did what it claims\033[0m\n'
  exit 0
fi
printf '\033[31mdemo failed: %d checks did not hold\033[0m\n' "$failures"
exit 1
