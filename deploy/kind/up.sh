#!/usr/bin/env bash
# up.sh: Tether on a local kind cluster, end to end, for a machine with
# Docker, kind and kubectl:
#   1. creates the kind cluster `tether` (deploy/kind/cluster.yaml) unless it exists;
#   2. builds the images tether/proxy:dev and tether/control:dev
#      (deploy/docker/Dockerfile) and loads them into the cluster;
#   3. generates the mesh CA once (tetherctl ca init, from the control image)
#      into deploy/overlays/kind/cacerts, and installs Tether
#      (kubectl apply -k deploy/overlays/kind);
#   4. deploys the sample (deploy/kind/sample-app.yaml): client and server in
#      the injected namespace `demo`, an outsider in `outside`;
#   5. proves mTLS: the call succeeds, the proxies' /certs name the SPIFFE
#      identities, their metrics count the mTLS connections, and the
#      outsider's plaintext call is refused.
# Usage: deploy/kind/up.sh [--skip-build] | --down
# Environment: KIND_CLUSTER (default tether).
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${KIND_CLUSTER:-tether}
CONTEXT="kind-$CLUSTER"
PROXY_IMAGE=tether/proxy:dev
CONTROL_IMAGE=tether/control:dev
CACERTS=deploy/overlays/kind/cacerts
skip_build=0

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\033[1;31mup.sh: %s\033[0m\n' "$*" >&2
  exit 1
}
k() { kubectl --context "$CONTEXT" "$@"; }

for arg in "$@"; do
  case "$arg" in
    --skip-build) skip_build=1 ;;
    --down)
      step "deleting the kind cluster $CLUSTER"
      kind delete cluster --name "$CLUSTER"
      exit 0
      ;;
    *) die "unknown argument $arg (usage: up.sh [--skip-build] | --down)" ;;
  esac
done

diagnose() {
  local rc=$?
  [[ $rc -eq 0 ]] && return
  printf '\n\033[1;31mup.sh failed (exit %s); the cluster is left as it is for a look:\033[0m\n' "$rc"
  k get pods -A -o wide 2>/dev/null || true
  k -n tether-system logs deploy/tether-control --tail=30 2>/dev/null || true
  k -n demo get events --sort-by=.lastTimestamp 2>/dev/null | tail -15 || true
  echo "delete it with: deploy/kind/up.sh --down"
}
step "checking prerequisites"
for tool in docker kind kubectl curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (needed: docker, kind, kubectl, curl)"
done
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (docker info)"
info "docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), $(kind version), kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -1)"

step "kind cluster $CLUSTER"
trap diagnose EXIT
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  info "exists; reusing it"
else
  kind create cluster --name "$CLUSTER" --config deploy/kind/cluster.yaml --wait 120s
fi
server_minor=$(k version -o json | sed -n '/serverVersion/,/}/s/.*"minor": "\([0-9]*\).*/\1/p' | head -1)
native=true
if [[ -n "$server_minor" && "$server_minor" -lt 29 ]]; then
  native=false
  info "Kubernetes 1.$server_minor has no native sidecars: injecting the proxy as an app container"
fi

if [[ $skip_build -eq 0 ]]; then
  step "building $PROXY_IMAGE and $CONTROL_IMAGE (Bazel inside Docker; the first build takes a while)"
  DOCKER_BUILDKIT=1 docker build -f deploy/docker/Dockerfile --target proxy -t "$PROXY_IMAGE" .
  DOCKER_BUILDKIT=1 docker build -f deploy/docker/Dockerfile --target control -t "$CONTROL_IMAGE" .
fi
step "loading the images into kind"
kind load docker-image --name "$CLUSTER" "$PROXY_IMAGE" "$CONTROL_IMAGE"

step "the mesh CA"
if [[ -f "$CACERTS/ca-key.pem" ]]; then
  info "reusing $CACERTS"
else
  mkdir -p "$(dirname "$CACERTS")"
  docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/deploy/overlays/kind:/out" \
    --entrypoint /usr/local/bin/tetherctl "$CONTROL_IMAGE" ca init --out /out/cacerts
fi

step "installing Tether (kubectl apply -k deploy/overlays/kind)"
k apply -k deploy/overlays/kind
if [[ $native == false ]]; then
  k -n tether-system patch deployment tether-control --type=json \
    -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--inject-native-sidecar=false"}]'
fi
k -n tether-system rollout status deployment/tether-control --timeout=300s
info "waiting for tether-control to write the mesh root into the webhook's caBundle"
for _ in $(seq 60); do
  bundle=$(k get mutatingwebhookconfiguration tether-sidecar-injector \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null || true)
  [[ -n "$bundle" ]] && break
  sleep 2
done
[[ -n "$bundle" ]] || die "the webhook's caBundle is still empty after 120 s"
info "caBundle set"

step "the sample app (deploy/kind/sample-app.yaml)"
# The namespace first: tether-control writes the trust bundle ConfigMap into
# it (within 30 s) before any pod needs to mount it.
k apply -f - <<'NS'
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    tether.io/injection: enabled
NS
for _ in $(seq 45); do
  k -n demo get configmap tether-trust-bundle >/dev/null 2>&1 && break
  sleep 2
done
k -n demo get configmap tether-trust-bundle >/dev/null || die "no trust bundle ConfigMap in demo"
k apply -f deploy/kind/sample-app.yaml
k -n demo rollout status deployment/server --timeout=300s
k -n demo rollout status deployment/client --timeout=300s
k -n outside wait --for=condition=Ready pod/outsider --timeout=300s

client_pod=$(k -n demo get pod -l app=client -o jsonpath='{.items[0].metadata.name}')
server_pod=$(k -n demo get pod -l app=server -o jsonpath='{.items[0].metadata.name}')
containers=$(k -n demo get pod "$client_pod" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}')
info "$client_pod runs: $containers"
[[ "$containers" == *tether-proxy* ]] || die "the client pod was not injected"

step "client -> server over the mesh"
code=$(k -n demo exec "$client_pod" -c client -- curl -sS -o /dev/null -w '%{http_code}' \
  --max-time 10 http://server.demo.svc/)
[[ "$code" == 200 ]] || die "client -> server answered HTTP $code"
info "HTTP $code"

# admin GET: the proxy's admin endpoint (loopback in the pod) through a port-forward.
admin() {
  local pod=$1 path=$2 port
  port=$((20000 + RANDOM % 20000))
  k -n demo port-forward "pod/$pod" "$port:15000" >/dev/null 2>&1 &
  local pf=$!
  local out=""
  for _ in $(seq 50); do
    out=$(curl -sS --max-time 2 "http://127.0.0.1:$port$path" 2>/dev/null) && break
    sleep 0.2
  done
  kill "$pf" 2>/dev/null || true
  wait "$pf" 2>/dev/null || true
  printf '%s' "$out"
}
metric() { grep -E "^$2 " <<<"$1" | awk '{print $2}' | head -1; }

step "the proxies' identities (/certs)"
for pod in "$client_pod" "$server_pod"; do
  id=$(admin "$pod" /certs | sed -n 's/.*"spiffe_id": "\([^"]*\)".*/\1/p' | head -1)
  info "$pod: ${id:-(none)}"
  [[ "$id" == spiffe://cluster.local/ns/demo/sa/* ]] || die "$pod holds no mesh certificate"
done

step "mTLS in the metrics"
client_metrics=$(admin "$client_pod" /metrics)
server_metrics=$(admin "$server_pod" /metrics)
out_ok=$(metric "$client_metrics" 'tether_proxy_connections_total\{direction="outbound",outcome="ok"\}')
in_ok=$(metric "$server_metrics" 'tether_proxy_connections_total\{direction="inbound",outcome="ok"\}')
info "client outbound ok: ${out_ok:-0}, server inbound ok: ${in_ok:-0}"
[[ "${out_ok:-0}" != 0 && "${in_ok:-0}" != 0 ]] || die "no mTLS connection counted"

step "plaintext from outside the mesh is refused"
if k -n outside exec outsider -- curl -sS -o /dev/null --max-time 5 http://server.demo.svc/ 2>/dev/null; then
  die "the outsider's plaintext call got through"
fi
server_metrics=$(admin "$server_pod" /metrics)
refused=$(metric "$server_metrics" 'tether_proxy_tls_handshake_failures_total\{direction="inbound",reason="plaintext"\}')
info "refused plaintext handshakes at the server: ${refused:-0}"
[[ "${refused:-0}" != 0 ]] || die "the server's proxy did not count the plaintext attempt"

trap - EXIT
step "done: Tether runs on kind-$CLUSTER and the sample talks mTLS"
info "kubectl --context $CONTEXT -n demo get pods"
info "kubectl --context $CONTEXT -n tether-system exec deploy/tether-control -- tetherctl workloads"
info "remove everything: deploy/kind/up.sh --down"
