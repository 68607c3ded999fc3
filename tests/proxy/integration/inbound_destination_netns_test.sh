#!/usr/bin/env bash
# inbound_destination_netns_test: where transparent inbound traffic goes. Two
# pods of the local mesh (deploy/local/mesh.sh: network namespaces on a
# bridge of their own, the real `tether-proxy init` rules, proxies as UID
# 1337); a is the meshed client, b the server.
#  - b's app listens on 127.0.0.1:8080 only, and on 127.0.0.1:8081 and
#    <b's pod IP>:8081: a's call to b:8080 fails (the loopback-only listener
#    is never reached), a's call to b:8081 reaches the pod-IP listener, from
#    b's pod IP, redirected exactly once (TETHER_IN_REDIRECT's counter);
#  - a's calls to b's own proxy ports (15001 outbound, 15006 inbound, 15021
#    health, 15090 metrics) are refused by b's proxy as own_listener, one
#    count each, nothing left open (no loop), and /debug/failures says why;
#    b's admin port 15000 is not redirected and not reachable from a;
#  - a's app dialling its own proxy's 127.0.0.1:15001 is refused, no loop;
#  - a connection to an address that is not b's, routed through b, is
#    refused as not_pod_address (b is no relay);
#  - the kubelet's view from the node (the host namespace, no certificate):
#    b's app port is refused under strict mTLS, while the rewritten probes on
#    b's health port run against the app: 200 for an open port, 503 otherwise.
# Needs root. Args: the four binaries, as local_mesh_test.
set -uo pipefail
RUNFILES=${TEST_SRCDIR:-$PWD/..}/tether
[[ -d "$RUNFILES" ]] || RUNFILES=$PWD
# shellcheck source=tests/testing/mesh_test_env.sh
source "$RUNFILES/tests/testing/mesh_test_env.sh" ti 10.79 "$@"
export TETHER_CERT_TTL=10m
# App probes as `tetherctl inject` rewrites them: ready when the demo app's
# port 80 accepts, live when port 9 does (nothing listens there).
probes='{"/app-health/app/readyz":{"tcpSocket":{"port":80}},"/app-health/app/livez":{"tcpSocket":{"port":9}}}'
export TETHER_PROXY_ARGS="--health-listen 0.0.0.0:15021 --metrics-listen 0.0.0.0:15090 --app-probes=$probes"
# shellcheck source=deploy/local/scenarios.sh
source "$RUNFILES/deploy/local/scenarios.sh"

failures=0
expect() {  # expect COND MESSAGE
  if [[ $1 == 1 ]]; then echo "ok: $2"; else echo "FAIL: $2"; failures=$((failures + 1)); fi
}
app_pids=()
cleanup() {
  for p in "${app_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$MESH" down >/dev/null 2>&1 || true
  rm -rf "$TETHER_MESH_DIR"
}
trap cleanup EXIT

"$MESH" up a b || { echo "FAIL: mesh up"; exit 1; }
A=$(pod_ns a)
B=$(pod_ns b)
BIP=$(pod_ip b)
call() {  # call FROM TARGET: one call from FROM's app; prints its answer
  ip netns exec "$(pod_ns "$1")" "$APP" call --target "$2" --count 1 2>&1 | head -1
}
# inbound SERIES OUTCOME: b's proxy's tether_proxy_connections_total for it.
conns() { pod_metric "$1" "tether_proxy_connections_total{direction=\"$2\",outcome=\"$3\"}"; }
conns_all() {  # conns_all POD DIRECTION: every outcome summed
  pod_admin "$1" /metrics | grep "^tether_proxy_connections_total{direction=\"$2\"" |
    awk '{s += $NF} END {printf "%d", s}'
}
active() { pod_metric "$1" "tether_proxy_connections_active{direction=\"$2\"}"; }
in_redirects() {  # packets TETHER_IN_REDIRECT has redirected in b (one per connection)
  local t
  for t in iptables-nft-save iptables-legacy-save; do
    ip netns exec "$B" "$t" -c -t nat 2>/dev/null | grep -- '-A TETHER_IN_REDIRECT' |
      sed -n 's/^\[\([0-9]*\):.*/\1/p' | head -1
  done | awk '{s += $1} END {printf "%d", s}'
}
wait_listen() {  # wait_listen NS ADDR:PORT
  local i
  for i in $(seq 100); do
    ip netns exec "$1" ss -Hltn "src $2" 2>/dev/null | grep -q LISTEN && return 0
    sleep 0.1
  done
  return 1
}

# b's app: loopback only on 8080; loopback and the pod IP on 8081.
for spec in "127.0.0.1:8080 b-loopback-only" "127.0.0.1:8081 b-loopback" "$BIP:8081 b-pod-ip"; do
  read -r addr name <<<"$spec"
  ip netns exec "$B" "$APP" serve --listen "$addr" --name "$name" \
    >>"$TETHER_MESH_DIR/b-apps.log" 2>&1 &
  app_pids+=($!)
  wait_listen "$B" "$addr" || { echo "FAIL: b's app did not listen on $addr"; exit 1; }
done
got=$(ip netns exec "$B" "$APP" call --target 127.0.0.1:8080 --count 1 | head -1)
expect $([[ $got == "hello from b-loopback-only"* ]] && echo 1 || echo 0) \
  "inside b, 127.0.0.1:8080 answers ($got)"

# 1. The pod-IP listener is reached, from b's pod IP, redirected once.
r0=$(in_redirects)
ok0=$(conns b inbound ok)
all0=$(conns_all b inbound)
got=$(call a "$BIP:8081")
expect $([[ $got == "hello from b-pod-ip (you are $BIP:"* ]] && echo 1 || echo 0) \
  "a -> b:8081 reaches the pod-IP listener, from b's own address ($got)"
r1=$(in_redirects)
expect $((r1 - r0 == 1)) "b redirected that connection once, its proxy's own connection not again ($((r1 - r0)))"
expect $(($(conns b inbound ok) - ok0 == 1 && $(conns_all b inbound) - all0 == 1)) \
  "b's proxy counted exactly one inbound connection, ok"

# 2. The loopback-only listener is not reachable through the mesh.
cf0=$(conns b inbound connect_failed)
got=$(call a "$BIP:8080")
expect $([[ $got == error:* ]] && echo 1 || echo 0) "a -> b:8080 (loopback only) fails ($got)"
expect $([[ $got != *b-loopback-only* ]] && echo 1 || echo 0) "the loopback-only app was not reached"
expect $(($(conns b inbound connect_failed) - cf0 == 1)) "b counted it as connect_failed"
expect $(grep "\"destination\":\"$BIP:8080\"" "$TETHER_MESH_DIR/pods.d/b/access.log" |
  grep -q '"outcome":"connect_failed"' && echo 1 || echo 0) \
  "b's access log: destination $BIP:8080, connect_failed"

# 3. b's own proxy ports, through b's pod IP: refused, counted once each.
own0=$(conns b inbound own_listener)
all0=$(conns_all b inbound)
for port in 15001 15006 15021 15090; do
  got=$(call a "$BIP:$port")
  expect $([[ $got == error:* ]] && echo 1 || echo 0) "a -> b:$port refused ($got)"
done
sleep 1  # a loop, if there were one, would keep counting meanwhile
own1=$(conns b inbound own_listener)
expect $((own1 - own0 == 4)) "b counted 4 own_listener refusals ($((own1 - own0)))"
expect $(($(conns_all b inbound) - all0 == 4)) \
  "b's inbound connections grew by exactly 4 (no loop: $(($(conns_all b inbound) - all0)))"
expect $(($(active b inbound) == 0 && $(active b outbound) == 0)) "b holds no open connection"
fails=$(pod_admin b /debug/failures)
for listener in outbound inbound health metrics; do
  expect $(grep -q "is this proxy's own $listener listener" <<<"$fails" && echo 1 || echo 0) \
    "/debug/failures names the $listener listener"
done
diag=$(ip netns exec "$B" "$TETHER_MESH_DIR/bin/tetherctl" diagnose --proxy 127.0.0.1:15000 2>&1)
expect $(grep -q "inbound  own_listener" <<<"$diag" && echo 1 || echo 0) \
  "tetherctl diagnose lists own_listener"
# The admin port is never redirected (init's rule), and b's admin is on loopback.
all0=$(conns_all b inbound)
got=$(call a "$BIP:15000")
expect $([[ $got == error:* ]] && echo 1 || echo 0) "a -> b:15000 (admin) refused ($got)"
expect $(($(conns_all b inbound) - all0 == 0)) "b's proxy never saw it"

# 4. a's app dialling its own proxy's outbound port: refused once, no loop.
own0=$(conns a outbound own_listener)
nod0=$(conns a outbound no_original_destination)
all0=$(conns_all a outbound)
got=$(call a 127.0.0.1:15001)
sleep 1
expect $([[ $got == error:* ]] && echo 1 || echo 0) "a -> 127.0.0.1:15001 refused ($got)"
expect $(($(conns a outbound own_listener) - own0 == 1)) \
  "a counted one outbound own_listener (no_original_destination +$(($(conns a outbound no_original_destination) - nod0)))"
expect $(($(conns_all a outbound) - all0 == 1)) "a's outbound connections grew by exactly 1"

# 5. An address that is not b's, routed through b: not relayed.
ip -n "$A" route add 10.99.0.0/24 via "$BIP"
npa0=$(conns b inbound not_pod_address)
got=$(call a 10.99.0.5:8081)
expect $([[ $got == error:* ]] && echo 1 || echo 0) "a -> 10.99.0.5:8081 via b refused ($got)"
expect $(($(conns b inbound not_pod_address) - npa0 == 1)) "b counted it as not_pod_address"

# 6. Probes from the node: the app port itself is refused (strict mTLS), the
#    proxy's /app-health/ paths answer for the app. An injected pod's init
#    excludes the health port from redirection; b gets that rule now, after
#    step 3 has shown what happens without it.
ip netns exec "$B" iptables -t nat -I TETHER_INBOUND 1 -p tcp --dport 15021 -j RETURN
got=$("$APP" call --target "$BIP:80" --count 1 2>&1 | head -1)
expect $([[ $got == error:* ]] && echo 1 || echo 0) "the node -> b:80 in plaintext is refused ($got)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$BIP:15021/app-health/app/readyz")
expect $([[ $code == 200 ]] && echo 1 || echo 0) "the node -> b:15021/app-health/app/readyz: $code (port 80 open)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$BIP:15021/app-health/app/livez")
expect $([[ $code == 503 ]] && echo 1 || echo 0) "the node -> b:15021/app-health/app/livez: $code (port 9 closed)"

# The mesh itself still works: a's app calls b's demo app on 0.0.0.0:80.
got=$(call a "$BIP:80")
expect $([[ $got == "hello from b"* ]] && echo 1 || echo 0) "a -> b:80 ($got)"

[[ $failures -eq 0 ]] && echo PASS || echo "$failures failures"
exit $((failures > 0))
