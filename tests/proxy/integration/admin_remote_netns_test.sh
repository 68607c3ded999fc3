#!/usr/bin/env bash
# admin_remote_netns_test: the admin endpoints from a non-loopback address.
# Two network namespaces of its own joined by a veth pair: "srv"
# (10.124.0.1) runs tether-control and tether-proxy, "cli" (10.124.0.2)
# plays a remote peer.
#  - tether-control refuses to start with a non-loopback --admin-listen
#    (unless --admin-allow-remote);
#  - tether-proxy's admin endpoint bound to 0.0.0.0 serves loopback only: a
#    remote peer's connection is closed unanswered (and logged), for HTTP
#    and for anything else on that port;
#  - its --health-listen port answers /ready and /live to the remote peer,
#    and nothing else.
# Needs root. Usage: admin_remote_netns_test.sh TETHER_CONTROL TETHERCTL TETHER_PROXY
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
control=$(realpath "$1")
tetherctl=$(realpath "$2")
proxy=$(realpath "$3")
srv="tether-admin-srv-$$"
cli="tether-admin-cli-$$"
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/admin-remote.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done
  exit 1
}

ip netns add "$srv"
ip netns add "$cli"
ip -n "$srv" link set lo up
ip -n "$cli" link set lo up
ip -n "$srv" link add veth0 type veth peer name veth1 netns "$cli"
ip -n "$srv" addr add 10.124.0.1/24 dev veth0
ip -n "$cli" addr add 10.124.0.2/24 dev veth1
ip -n "$srv" link set veth0 up
ip -n "$cli" link set veth1 up
in_srv() { ip netns exec "$srv" "$@"; }
in_cli() { ip netns exec "$cli" "$@"; }
# curl from a namespace: the HTTP status ("000" when no answer came).
status() { "${@:1:1}" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${@:2}" || true; }

# The veth works: a listener in srv is reachable from cli.
in_srv python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.124.0.1", 18000)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello"); c.close()' &
pids+=($!)
for _ in $(seq 50); do
  got=$(status in_cli http://10.124.0.1:18000/) && [[ "$got" == 200 ]] && break
  sleep 0.1
done
[[ "$got" == 200 ]] || fail "the namespaces cannot reach each other ($got)"
echo "ok: cli reaches srv over the veth"

# 1. tether-control will not put its admin API on a non-loopback address.
if in_srv "$control" --state-dir "$work/state-remote" --trust-domain mesh.test \
    --grpc-listen 127.0.0.1:0 --admin-listen 0.0.0.0:15014 >"$work/control-remote.log" 2>&1; then
  fail "tether-control started with --admin-listen 0.0.0.0"
fi
grep -q "not a loopback address" "$work/control-remote.log" ||
  fail "tether-control did not say why: $(cat "$work/control-remote.log")"
echo "ok: tether-control refuses --admin-listen 0.0.0.0"

# 2. A control plane on loopback and a proxy whose admin port is on 0.0.0.0.
in_srv "$control" --state-dir "$work/state" --trust-domain mesh.test --cert-ttl 10m \
  --grpc-listen 127.0.0.1:15012 --admin-listen 127.0.0.1:15014 >"$work/control.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "admin on port" "$work/control.log" && break; sleep 0.1; done
ctl() { in_srv "$tetherctl" --admin 127.0.0.1:15014 "$@"; }
ctl ca bundle >"$work/roots.pem" || fail "no trust bundle"
ctl token create --namespace shop --service-account b >"$work/b.token" || fail "no token"
in_srv "$proxy" --control 127.0.0.1:15012 --ca-bundle "$work/roots.pem" \
  --join-token-file "$work/b.token" --inbound-listen 0.0.0.0:18443 \
  --inbound-forward 127.0.0.1:18080 --admin-listen 0.0.0.0:15000 \
  --health-listen 0.0.0.0:15021 >"$work/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  [[ $(status in_srv http://127.0.0.1:15000/ready) == 200 ]] && break
  sleep 0.1
done
[[ $(status in_srv http://127.0.0.1:15000/ready) == 200 ]] || fail "the proxy never got ready"
echo "ok: the proxy is ready (loopback admin)"

for path in /metrics /certs /config /ready; do
  got=$(status in_srv "http://127.0.0.1:15000$path")
  [[ "$got" == 200 ]] || fail "loopback $path answered $got"
  got=$(status in_cli "http://10.124.0.1:15000$path")
  [[ "$got" == 000 ]] || fail "remote $path on the admin port answered $got"
done
for method in POST; do
  got=$(status in_cli -X "$method" http://10.124.0.1:15000/quitquitquit)
  [[ "$got" == 000 ]] || fail "remote POST /quitquitquit answered $got"
done
# Not HTTP either: the connection is closed without a byte.
bytes=$(in_cli python3 -c '
import socket
s = socket.create_connection(("10.124.0.1", 15000), timeout=5)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0" * 64)
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d: break
        data += d
except (ConnectionResetError, socket.timeout):
    pass
print(len(data))')
[[ "$bytes" == 0 ]] || fail "a remote HTTP/2 client got $bytes bytes from the admin port"
grep -q "refused connection from 10.124.0.2" "$work/proxy.log" ||
  fail "the proxy did not log the refused remote peer"
kill -0 "${pids[-1]}" || fail "the remote /quitquitquit stopped the proxy"
echo "ok: the admin port is closed to remote peers (and says so in its log)"

# 3. The health port serves remote probes, and only /ready and /live.
got=$(status in_cli http://10.124.0.1:15021/ready)
[[ "$got" == 200 ]] || fail "remote /ready on the health port answered $got"
got=$(status in_cli http://10.124.0.1:15021/live)
[[ "$got" == 200 ]] || fail "remote /live on the health port answered $got"
for path in /metrics /certs /config; do
  got=$(status in_cli "http://10.124.0.1:15021$path")
  [[ "$got" == 404 ]] || fail "remote $path on the health port answered $got"
done
got=$(status in_cli -X POST http://10.124.0.1:15021/quitquitquit)
[[ "$got" == 404 || "$got" == 405 ]] || fail "remote POST /quitquitquit on the health port answered $got"
kill -0 "${pids[-1]}" || fail "the proxy stopped"
echo "ok: the health port answers remote probes only"
echo "PASS"
