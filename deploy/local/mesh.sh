#!/usr/bin/env bash
# mesh.sh: the local mesh. Pods are network namespaces on one bridge; each
# runs the demo app, `tether-proxy init` rules and tether-proxy under its own
# UID, with a join token for its identity; tether-control runs on the host
# side of the bridge.
#
#   deploy/local/mesh.sh up [POD...]   (default pods: a b c)
#   deploy/local/mesh.sh status
#   deploy/local/mesh.sh down
#
# Settings (environment): TETHER_BIN (Bazel's bazel-bin), TETHER_MESH_DIR
# (/tmp/tether-mesh), TETHER_MESH_PREFIX (tmesh), TETHER_MESH_SUBNET
# (10.77.0), TETHER_CERT_TTL (1h), TETHER_TRUST_DOMAIN (mesh.local),
# TETHER_PROXY_ARGS (extra flags for every pod's tether-proxy, word-split),
# TETHER_CONTROL_ADMIN_PORT (serve the admin API on 127.0.0.1:PORT instead of
# the socket $TETHER_MESH_DIR/control.sock, which only root may use).
# $TETHER_MESH_DIR/admin holds the admin address, for tetherctl --admin.
# $TETHER_MESH_DIR/policies is tether-control's policy directory: YAML files
# there (or `tetherctl policy apply`) are streamed to the pods' proxies.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

BIN=${TETHER_BIN:-$(cd "$(dirname "$0")/../.." && bazel info bazel-bin 2>/dev/null)}
DIR=${TETHER_MESH_DIR:-/tmp/tether-mesh}
PREFIX=${TETHER_MESH_PREFIX:-tmesh}
SUBNET=${TETHER_MESH_SUBNET:-10.77.0}
TTL=${TETHER_CERT_TTL:-1h}
TD=${TETHER_TRUST_DOMAIN:-mesh.local}
BRIDGE="${PREFIX}br0"
PROXY_UID=1337
NAMESPACE=demo
if [[ -n ${TETHER_CONTROL_ADMIN_PORT:-} ]]; then
  CONTROL_ADMIN=127.0.0.1:$TETHER_CONTROL_ADMIN_PORT
else
  CONTROL_ADMIN=unix:$DIR/control.sock
fi

log() { printf '  %s\n' "$*" >&2; }
die() { printf 'mesh: %s\n' "$*" >&2; exit 1; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die "the local mesh needs root (network namespaces, iptables): run with sudo"
}

pod_ip() {  # pod_ip INDEX -> 10.77.0.(11+INDEX)
  echo "$SUBNET.$((11 + $1))"
}

ctl() { "$DIR/bin/tetherctl" --admin "$CONTROL_ADMIN" "$@"; }
admin_get() {  # admin_get PATH: GET on tether-control's admin API (socket or TCP)
  if [[ $CONTROL_ADMIN == unix:* ]]; then
    curl -sf --unix-socket "${CONTROL_ADMIN#unix:}" "http://localhost$1"
  else
    curl -sf "http://$CONTROL_ADMIN$1"
  fi
}

wait_for() {  # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.2
  done
}

start_bg() {  # start_bg NAME LOGFILE CMD...: runs CMD in the background, records its pid
  local name=$1 logfile=$2; shift 2
  setsid "$@" >"$logfile" 2>&1 < /dev/null &
  echo $! >"$DIR/pids/$name"
}

cmd_up() {
  require_root
  local pods=("$@")
  [[ ${#pods[@]} -gt 0 ]] || pods=(a b c)
  cmd_down >/dev/null 2>&1 || true
  for b in control/tether-control control/tetherctl/tetherctl proxy/tether-proxy \
           deploy/local/demo_app/tether-demo-app; do
    [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: build first (make build)"
  done
  mkdir -p "$DIR"/{bin,pids,policies}
  chmod 755 "$DIR"
  # Binaries where the proxy's UID can run them.
  install -m 0755 "$BIN/control/tether-control" "$BIN/control/tetherctl/tetherctl" \
    "$BIN/proxy/tether-proxy" "$BIN/deploy/local/demo_app/tether-demo-app" "$DIR/bin/"
  echo "${pods[*]}" >"$DIR/pods"

  log "bridge $BRIDGE with $SUBNET.1/24"
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  if [[ $CONTROL_ADMIN != unix:* ]] && curl -s -o /dev/null "http://$CONTROL_ADMIN/healthz" 2>/dev/null; then
    die "$CONTROL_ADMIN is already in use (another tether-control?); set TETHER_CONTROL_ADMIN_PORT"
  fi
  echo "$CONTROL_ADMIN" >"$DIR/admin"
  log "tether-control on $SUBNET.1:15012 (certificate TTL $TTL)"
  start_bg control "$DIR/control.log" "$DIR/bin/tether-control" --state-dir "$DIR/control" \
    --trust-domain "$TD" --grpc-listen "$SUBNET.1:15012" --admin-listen "$CONTROL_ADMIN" \
    --cert-ttl "$TTL" --policy-dir "$DIR/policies"
  wait_for 15 admin_get /ready ||
    die "tether-control did not start: $(tail -3 "$DIR/control.log")"
  kill -0 "$(cat "$DIR/pids/control")" 2>/dev/null ||
    die "tether-control exited: $(tail -3 "$DIR/control.log")"
  ctl ca bundle >"$DIR/roots.pem"
  chmod 644 "$DIR/roots.pem"

  local i=0
  for pod in "${pods[@]}"; do
    local ns="$PREFIX-$pod" ip; ip=$(pod_ip $i)
    local pdir="$DIR/pods.d/$pod"
    mkdir -p "$pdir"
    log "pod $pod: namespace $ns, $ip, identity spiffe://$TD/ns/$NAMESPACE/sa/$pod"
    ip netns add "$ns"
    ip link add "$PREFIX-$pod-h" type veth peer name eth0 netns "$ns"
    ip link set "$PREFIX-$pod-h" master "$BRIDGE" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$SUBNET.1"

    # The token binds the pod's address: the endpoint registry then tells
    # every proxy that only this identity may answer there.
    ctl token create --namespace "$NAMESPACE" --service-account "$pod" --ttl 10m \
      --address "$ip" >"$pdir/token" 2>/dev/null
    chown -R "$PROXY_UID:$PROXY_UID" "$pdir"
    chmod 600 "$pdir/token"

    # The init container's job: the pod's redirection rules.
    ip netns exec "$ns" "$DIR/bin/tether-proxy" init --proxy-uid "$PROXY_UID" >/dev/null

    start_bg "$pod-app" "$pdir/app.log" ip netns exec "$ns" \
      "$DIR/bin/tether-demo-app" serve --listen 0.0.0.0:80 --name "$pod"
    # shellcheck disable=SC2086  # TETHER_PROXY_ARGS: several flags
    start_bg "$pod-proxy" "$pdir/proxy.log" ip netns exec "$ns" \
      setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
      "$DIR/bin/tether-proxy" --control "$SUBNET.1:15012" --ca-bundle "$DIR/roots.pem" \
      --join-token-file "$pdir/token" --workload-name "$pod" --admin-listen 127.0.0.1:15000 \
      --access-log "$pdir/access.log" ${TETHER_PROXY_ARGS:-}
    i=$((i + 1))
  done
  for pod in "${pods[@]}"; do
    wait_for 30 ip netns exec "$PREFIX-$pod" curl -sf http://127.0.0.1:15000/ready ||
      die "pod $pod's proxy is not ready: $(tail -3 "$DIR/pods.d/$pod/proxy.log")"
  done
  log "mesh up: ${#pods[@]} pods ready"
}

cmd_status() {
  [[ -f "$DIR/pods" ]] || { echo "no local mesh is up"; return 1; }
  local i=0
  printf '%-6s %-12s %-45s %-10s\n' POD IP IDENTITY READY
  for pod in $(cat "$DIR/pods"); do
    local ready id
    ready=$(ip netns exec "$PREFIX-$pod" curl -s -o /dev/null -w '%{http_code}' \
      http://127.0.0.1:15000/ready 2>/dev/null || echo down)
    id="spiffe://$TD/ns/$NAMESPACE/sa/$pod"
    printf '%-6s %-12s %-45s %-10s\n' "$pod" "$(pod_ip $i)" "$id" "$ready"
    i=$((i + 1))
  done
  ctl workloads
}

cmd_down() {
  require_root
  if [[ -d "$DIR/pids" ]]; then
    for f in "$DIR"/pids/*; do
      [[ -f "$f" ]] || continue
      local pid; pid=$(cat "$f")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.3
    for f in "$DIR"/pids/*; do
      [[ -f "$f" ]] || continue
      local pid; pid=$(cat "$f")
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      rm -f "$f"
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true); do
    ip netns del "$ns"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$DIR/pods" "$DIR/admin"
  echo "mesh down"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) echo "usage: mesh.sh up [POD...] | status | down" >&2; exit 2 ;;
esac
