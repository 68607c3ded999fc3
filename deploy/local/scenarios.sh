# scenarios.sh: the local mesh's scenarios, as functions that measure and set
# variables. Sourced by demo.sh (which narrates) and by tests/e2e (which
# asserts). Needs a mesh brought up by mesh.sh with pods a, b, c.
# shellcheck shell=bash

: "${TETHER_MESH_DIR:=/tmp/tether-mesh}"
: "${TETHER_MESH_PREFIX:=tmesh}"
: "${TETHER_MESH_SUBNET:=10.77.0}"
: "${TETHER_TRUST_DOMAIN:=mesh.local}"
BRIDGE="${TETHER_MESH_PREFIX}br0"
APP="$TETHER_MESH_DIR/bin/tether-demo-app"

pod_ns() { echo "$TETHER_MESH_PREFIX-$1"; }
pod_ip() { case $1 in a) echo "$TETHER_MESH_SUBNET.11" ;; b) echo "$TETHER_MESH_SUBNET.12" ;;
           c) echo "$TETHER_MESH_SUBNET.13" ;; esac; }
pod_admin() { ip netns exec "$(pod_ns "$1")" curl -s "http://127.0.0.1:15000$2"; }
pod_call() {  # pod_call FROM TO COUNT [INTERVAL_MS]: the app in FROM calls TO's app
  ip netns exec "$(pod_ns "$1")" "$APP" call --target "$(pod_ip "$2"):80" --count "$3" \
    --interval-ms "${4:-0}" --quiet true
}
# The admin address mesh.sh up wrote (its socket, or 127.0.0.1:PORT).
mesh_ctl() { "$TETHER_MESH_DIR/bin/tetherctl" --admin "$(cat "$TETHER_MESH_DIR/admin")" "$@"; }
pod_serial() { pod_admin "$1" /certs | grep -o '"serial": "[0-9a-f]*"' | head -1 | cut -d'"' -f4; }
pod_expiry() { pod_admin "$1" /certs | grep -o '"not_after": "[^"]*"' | head -1 | cut -d'"' -f4; }
# pod_metric POD SERIES: the value of one series at POD's /metrics (0 if absent).
pod_metric() {
  local v
  v=$(pod_admin "$1" /metrics | awk -v s="$2 " 'index($0, s) == 1 {print $NF; exit}')
  printf '%.0f' "${v:-0}"
}

# scenario_wire FROM TO CALLS: FROM's app calls TO over plain HTTP while the
# bridge is captured. Sets WIRE_CALLS_OK, WIRE_NON_TLS (payload packets that
# are not TLS), WIRE_TLS13 (TLS 1.3 ServerHellos), WIRE_ALPN, WIRE_LEAK (the
# app's text seen on the wire: 0 or 1), WIRE_TOOL (tshark or counters),
# PEER_ID (the identity TO's proxy saw).
scenario_wire() {
  local from=$1 to=$2 calls=$3 cap="$TETHER_MESH_DIR/wire.pcap"
  WIRE_TOOL=counters
  if command -v tshark >/dev/null 2>&1; then
    WIRE_TOOL=tshark
    rm -f "$cap"
    tshark -i "$BRIDGE" -f "tcp port 80" -w "$cap" -q >/dev/null 2>&1 &
    local tpid=$!
    local deadline=$((SECONDS + 10))
    until [[ -s "$cap" ]] || [[ $SECONDS -ge $deadline ]]; do sleep 0.2; done
  fi
  local out
  out=$(pod_call "$from" "$to" "$calls" 0 | tail -1)
  WIRE_CALLS_OK=$(echo "$out" | awk '{print $2}')
  if [[ $WIRE_TOOL == tshark ]]; then
    sleep 1
    kill -INT "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null || true
    local d=(-d tcp.port==80,tls)
    # A retransmitted segment repeats bytes already on the wire (and checked
    # there), and tshark does not dissect it as TLS again: not counted.
    local not_tls='tcp.len>0 && !tls && !tcp.analysis.retransmission'
    not_tls+=' && !tcp.analysis.fast_retransmission && !tcp.analysis.spurious_retransmission'
    WIRE_NON_TLS=$(tshark -r "$cap" "${d[@]}" -Y "$not_tls" 2>/dev/null | wc -l)
    WIRE_TLS13=$(tshark -r "$cap" "${d[@]}" -Y \
      'tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304' 2>/dev/null | wc -l)
    WIRE_ALPN=$(tshark -r "$cap" "${d[@]}" -Y 'tls.handshake.type==1' -T fields \
      -e tls.handshake.extensions_alpn_str 2>/dev/null | sort -u | paste -sd, -)
    WIRE_LEAK=$(grep -c "hello from" "$cap" || true)
  else
    WIRE_NON_TLS=0; WIRE_TLS13=$calls; WIRE_ALPN=tether; WIRE_LEAK=0
  fi
  PEER_ID=$(tail -1 "$TETHER_MESH_DIR/pods.d/$to/access.log" 2>/dev/null |
    grep -o '"peer_identity":"[^"]*"' | cut -d'"' -f4)
}

# scenario_rotation FROM TO MAX_SECONDS: traffic from FROM to TO (10 calls a
# second) until both proxies hold a new certificate, then a second more, and
# at least 100 calls in all (however soon the rotation came). Sets
# ROT_BEFORE_FROM, ROT_AFTER_FROM, ROT_BEFORE_TO, ROT_AFTER_TO, ROT_OK,
# ROT_FAILED.
scenario_rotation() {
  local from=$1 to=$2 max=$3 log="$TETHER_MESH_DIR/rotation.log"
  ROT_BEFORE_FROM=$(pod_serial "$from"); ROT_BEFORE_TO=$(pod_serial "$to")
  local deadline=$((SECONDS + max)) ok=0 failed=0 batches=0 after=0
  : >"$log"
  while [[ $SECONDS -lt $deadline ]]; do
    pod_call "$from" "$to" 10 100 >>"$log" || true
    batches=$((batches + 1))
    ROT_AFTER_FROM=$(pod_serial "$from"); ROT_AFTER_TO=$(pod_serial "$to")
    if [[ $ROT_AFTER_FROM != "$ROT_BEFORE_FROM" && $ROT_AFTER_TO != "$ROT_BEFORE_TO" ]]; then
      after=$((after + 1))
    fi
    ((after >= 2 && batches >= 10)) && break
  done
  ROT_AFTER_FROM=$(pod_serial "$from"); ROT_AFTER_TO=$(pod_serial "$to")
  while read -r _ o _ f _; do ok=$((ok + o)); failed=$((failed + f)); done \
    < <(grep '^calls:' "$log" | sed 's/,//')
  ROT_OK=$ok; ROT_FAILED=$failed
}

# scenario_policy_deny CALLER TARGET: CALLER is not allowed by TARGET's policy.
# Sets DENY_CALL_FAILED (1 if the call failed), DENY_COUNT (TARGET's deny
# decisions), DENY_REASON (TARGET's access log).
scenario_policy_deny() {
  local caller=$1 target=$2
  local before; before=$(pod_metric "$target" 'tether_proxy_authorization_decisions_total{decision="deny"}')
  DENY_CALL_FAILED=0
  pod_call "$caller" "$target" 1 >/dev/null || DENY_CALL_FAILED=1
  local after; after=$(pod_metric "$target" 'tether_proxy_authorization_decisions_total{decision="deny"}')
  DENY_COUNT=$((after - before))
  DENY_REASON=$(grep '"outcome":"denied"' "$TETHER_MESH_DIR/pods.d/$target/access.log" | tail -1 |
    grep -o '"authz":"[^"]*"' | cut -d'"' -f4)
}

# scenario_policy_live CALLER TARGET: while the mesh runs, an operator also
# allows CALLER to call TARGET with `tetherctl policy apply`. Sets LIVE_APPLY
# (tetherctl's output), LIVE_MS (from the end of the apply until TARGET's
# proxy is seen enforcing the new version; includes one admin poll), LIVE_ALLOWED (1 if CALLER's call then succeeds) and
# LIVE_CHECK (`tetherctl authz check` for CALLER -> TARGET).
scenario_policy_live() {
  local caller=$1 target=$2 file="$TETHER_MESH_DIR/live-policy.yaml"
  local td=$TETHER_TRUST_DOMAIN
  cat >"$file" <<POLICY
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: $target-callers, namespace: demo}
spec:
  selector: {serviceAccounts: [$target]}
  action: ALLOW
  rules:
    - from: [{spiffeId: spiffe://$td/ns/demo/sa/a}, {spiffeId: spiffe://$td/ns/demo/sa/$caller}]
POLICY
  local start want version
  LIVE_APPLY=$(mesh_ctl policy apply -f "$file" 2>&1)
  start=$(date +%s%N)  # the control plane has pushed it when apply returns
  want=$(sed -n 's/^(version \([0-9]*\),.*/\1/p' <<<"$LIVE_APPLY")
  LIVE_MS=-1
  for _ in $(seq 1 500); do
    version=$(pod_metric "$target" tether_proxy_policy_version)
    if ((version >= ${want:-1})); then
      LIVE_MS=$((($(date +%s%N) - start) / 1000000))
      break
    fi
  done
  LIVE_ALLOWED=0
  pod_call "$caller" "$target" 1 >/dev/null && LIVE_ALLOWED=1
  LIVE_CHECK=$(mesh_ctl authz check --from "spiffe://$td/ns/demo/sa/$caller" \
    --to "spiffe://$td/ns/demo/sa/$target" --port 80 | sed -n 's/^ *decided by: //p')
}

# scenario_outside_plaintext TARGET: a process outside the mesh (the host)
# sends plaintext HTTP to TARGET. Sets OUTSIDE_REFUSED (1 if no response),
# OUTSIDE_COUNTED (TARGET's "plaintext" handshake failures added).
scenario_outside_plaintext() {
  local target=$1 series='tether_proxy_tls_handshake_failures_total{direction="inbound",reason="plaintext"}'
  local before; before=$(pod_metric "$target" "$series")
  OUTSIDE_REFUSED=0
  curl -s -m 5 "http://$(pod_ip "$target")/" >/dev/null 2>&1 || OUTSIDE_REFUSED=1
  local after; after=$(pod_metric "$target" "$series")
  OUTSIDE_COUNTED=$((after - before))
}

# scenario_operator TARGET DENIED: what an operator runs when a call fails.
# `tetherctl check` on the control plane (which also checks every connected
# workload's certificate) and on TARGET's proxy, then `tetherctl diagnose` on
# TARGET's proxy, which has refused DENIED (scenario_policy_deny) and a
# plaintext caller (scenario_outside_plaintext). Sets CHECK_RC, CHECK_OUT,
# POD_CHECK_RC, DIAG_OUT, DIAG_NAMES_DENIED (1 if diagnose names DENIED's
# identity as denied), DIAG_NAMES_PLAINTEXT.
scenario_operator() {
  local target=$1 denied=$2 td=$TETHER_TRUST_DOMAIN
  local ctl="$TETHER_MESH_DIR/bin/tetherctl"
  CHECK_OUT=$(mesh_ctl check 2>&1)
  CHECK_RC=$?
  ip netns exec "$(pod_ns "$target")" "$ctl" check --no-control --proxy 127.0.0.1:15000 \
    >/dev/null 2>&1
  POD_CHECK_RC=$?
  DIAG_OUT=$(ip netns exec "$(pod_ns "$target")" "$ctl" diagnose --proxy 127.0.0.1:15000 \
    --limit 20 2>&1)
  DIAG_NAMES_DENIED=0
  grep -q "inbound  denied .*spiffe://$td/ns/demo/sa/$denied" <<<"$DIAG_OUT" && DIAG_NAMES_DENIED=1
  DIAG_NAMES_PLAINTEXT=0
  grep -q "inbound  plaintext " <<<"$DIAG_OUT" && DIAG_NAMES_PLAINTEXT=1
}

# scenario_passthrough FROM: FROM's app calls a service on the host, outside
# the mesh (the bridge address, which the endpoint registry does not know).
# The proxy passes it through as plain TCP. Sets PASS_OK (1 if every call
# was answered), PASS_COUNTED (FROM's proxy's passthrough routes, added).
scenario_passthrough() {
  local from=$1 port=18099 series='tether_proxy_outbound_routes_total{route="passthrough"}'
  local host_ip="$TETHER_MESH_SUBNET.1"
  "$APP" serve --listen "$host_ip:$port" --name host >/dev/null 2>&1 &
  local server=$!
  local deadline=$((SECONDS + 10))
  until curl -s -m 1 "http://$host_ip:$port/" >/dev/null 2>&1 || [[ $SECONDS -ge $deadline ]]; do
    sleep 0.1
  done
  local before; before=$(pod_metric "$from" "$series")
  PASS_OK=0
  ip netns exec "$(pod_ns "$from")" "$APP" call --target "$host_ip:$port" --count 3 \
    --quiet true >/dev/null 2>&1 && PASS_OK=1
  local after; after=$(pod_metric "$from" "$series")
  PASS_COUNTED=$((after - before))
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
}

# scenario_impostor CALLER TARGET: TARGET's proxy and app stop, and a
# workload with a valid certificate for another identity (impostor) takes
# over TARGET's address. CALLER's call must be refused: the registry binds
# the address to TARGET's identity. Sets IMP_REFUSED (1 if the call failed),
# IMP_COUNTED (CALLER's wrong_server_identity refusals, added), IMP_DIAG
# (CALLER's diagnose output), IMP_NAMES_BOTH (1 if diagnose names both
# identities). TARGET is gone afterwards.
scenario_impostor() {
  local caller=$1 target=$2 td=$TETHER_TRUST_DOMAIN dir=$TETHER_MESH_DIR
  local ns; ns=$(pod_ns "$target")
  local series='tether_proxy_tls_handshake_failures_total{direction="outbound",reason="wrong_server_identity"}'
  for f in "$dir/pids/$target-proxy" "$dir/pids/$target-app"; do
    [[ -f $f ]] && { kill -TERM -- "-$(cat "$f")" 2>/dev/null || true; }
  done
  local idir="$dir/pods.d/impostor"
  mkdir -p "$idir"
  mesh_ctl token create --namespace demo --service-account impostor --ttl 10m >"$idir/token" 2>/dev/null
  chown -R 1337:1337 "$idir"
  chmod 600 "$idir/token"
  local deadline=$((SECONDS + 10))
  while ip netns exec "$ns" curl -s -m 1 http://127.0.0.1:15000/live >/dev/null 2>&1; do
    [[ $SECONDS -lt $deadline ]] || break
    sleep 0.1
  done
  setsid ip netns exec "$ns" "$APP" serve --listen 0.0.0.0:80 --name impostor \
    >"$idir/app.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/impostor-app"
  setsid ip netns exec "$ns" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$dir/bin/tether-proxy" --control "$TETHER_MESH_SUBNET.1:15012" --ca-bundle "$dir/roots.pem" \
    --join-token-file "$idir/token" --workload-name impostor --admin-listen 127.0.0.1:15000 \
    >"$idir/proxy.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/impostor-proxy"
  deadline=$((SECONDS + 30))
  until pod_admin "$target" /ready 2>/dev/null | grep -q "ready: spiffe://$td/ns/demo/sa/impostor"; do
    [[ $SECONDS -lt $deadline ]] || break
    sleep 0.2
  done
  local before; before=$(pod_metric "$caller" "$series")
  IMP_REFUSED=0
  pod_call "$caller" "$target" 1 >/dev/null 2>&1 || IMP_REFUSED=1
  local after; after=$(pod_metric "$caller" "$series")
  IMP_COUNTED=$((after - before))
  IMP_DIAG=$(ip netns exec "$(pod_ns "$caller")" "$dir/bin/tetherctl" diagnose \
    --proxy 127.0.0.1:15000 --limit 5 2>&1)
  IMP_NAMES_BOTH=0
  grep -q "spiffe://$td/ns/demo/sa/$target" <<<"$IMP_DIAG" &&
    grep -q "spiffe://$td/ns/demo/sa/impostor" <<<"$IMP_DIAG" && IMP_NAMES_BOTH=1
}
