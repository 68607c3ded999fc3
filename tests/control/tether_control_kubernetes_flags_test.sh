#!/usr/bin/env bash
# tether-control --kubernetes: refuses to start, with a message naming the
# problem, when the API server is unknown or the CA / token file unreadable,
# or a --policy-* flag is wrong; starts and announces the TokenReview API and
# the ConfigMap policy source when they are fine, not ready until the
# policies (and the shared revocations) were read.
#   tether_control_kubernetes_flags_test.sh path/to/tether-control
set -uo pipefail
bin=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/k8s-flags-XXXXXX")
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

common=(--state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0
  --admin-listen 127.0.0.1:0)
printf 'eyJhbGciOiJSUzI1NiJ9.b3du.c2ln\n' >"$dir/token"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$dir/ca.crt"

# expect_refusal NAME EXPECTED-TEXT ARGS...: exits 1 and says EXPECTED-TEXT.
expect_refusal() {
  local name=$1 expected=$2
  shift 2
  local out rc
  out=$(env -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT timeout 30 "$bin" "${common[@]}" \
    "$@" 2>&1)
  rc=$?
  [[ $rc -eq 1 ]] || fail "$name: exit status $rc, want 1 (output: $out)"
  [[ "$out" == *"$expected"* ]] || fail "$name: output lacks \"$expected\": $out"
}

expect_refusal "no API server" "no Kubernetes API server: give --kubernetes-api-host" \
  --kubernetes --kubernetes-token-file "$dir/token" --kubernetes-ca-file "$dir/ca.crt"
expect_refusal "token file missing" \
  "cannot read the control plane's own service-account token: cannot open $dir/missing" \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/missing" \
  --kubernetes-ca-file "$dir/ca.crt"
expect_refusal "CA file missing" \
  "cannot read the Kubernetes API server's CA bundle: cannot open $dir/missing.crt" \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/token" \
  --kubernetes-ca-file "$dir/missing.crt"
expect_refusal "bad port" "--kubernetes-api-port 70000 is not a port number" \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-api-port 70000 \
  --kubernetes-token-file "$dir/token" --kubernetes-ca-file "$dir/ca.crt"
expect_refusal "empty audience" "audience is empty" \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/token" \
  --kubernetes-ca-file "$dir/ca.crt" --kubernetes-audience ""

expect_refusal "unknown policy source" '--policy-source "configmaps" is not dir or kubernetes' \
  --policy-source configmaps
expect_refusal "policy dir with ConfigMaps" "--policy-dir is for --policy-source dir" \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/token" \
  --kubernetes-ca-file "$dir/ca.crt" --policy-dir "$dir/policies"
expect_refusal "bad root namespace" \
  'policies: policy root namespace "Tether_System" is not a namespace name' \
  --policy-source kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/token" \
  --kubernetes-ca-file "$dir/ca.crt" --policy-root-namespace Tether_System
expect_refusal "ConfigMaps without a token" \
  "policies: cannot read the control plane's own service-account token: cannot open $dir/missing" \
  --policy-source kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/missing" \
  --kubernetes-ca-file "$dir/ca.crt"
expect_refusal "bad revocations ConfigMap" \
  'revocations: --revocations-configmap "tether-revocations" is not NAMESPACE/NAME' \
  --kubernetes --kubernetes-api-host 127.0.0.1 --kubernetes-token-file "$dir/token" \
  --kubernetes-ca-file "$dir/ca.crt" --revocations-configmap tether-revocations

# Fine files: the control plane starts (the API server is asked only when a
# workload presents a token) and says where it will ask.
KUBERNETES_SERVICE_HOST=127.0.0.2 KUBERNETES_SERVICE_PORT=6443 "$bin" "${common[@]}" --kubernetes \
  --kubernetes-token-file "$dir/token" --kubernetes-ca-file "$dir/ca.crt" \
  --kubernetes-audience mesh-ca 2>"$dir/stderr" &
pid=$!
for _ in $(seq 300); do
  grep -q "certificate stream on port" "$dir/stderr" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "certificate stream on port" "$dir/stderr" || fail "did not start: $(cat "$dir/stderr")"
grep -q "Kubernetes tokens (audience mesh-ca) are checked with the TokenReview API at 127.0.0.2:6443" \
  "$dir/stderr" || fail "no TokenReview line: $(cat "$dir/stderr")"
grep -q "policies come from ConfigMaps labelled tether.io/policy at 127.0.0.2:6443 (root namespace tether-system), read every 1s" \
  "$dir/stderr" || fail "no policy source line: $(cat "$dir/stderr")"
grep -q "revocations are shared with the other replicas in ConfigMap tether-system/tether-revocations, read every 1s" \
  "$dir/stderr" || fail "no revocation sharing line: $(cat "$dir/stderr")"
# Nothing answers at 127.0.0.2:6443: no policy was read, so not ready.
admin=$(sed -n 's/.*admin on port \([0-9]*\).*/\1/p' "$dir/stderr")
ready=""
if [[ -n "$admin" ]] && exec 3<>"/dev/tcp/127.0.0.1/$admin"; then
  printf 'GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  ready=$(cat <&3)
  exec 3<&-
fi
[[ "$ready" == "HTTP/1.1 503"*"not ready: no policy read yet: cannot read the policies from ConfigMaps labelled tether.io/policy: listing ConfigMaps failed: "* ]] ||
  fail "/ready while the API server is unreachable: $ready"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
[[ $rc -eq 0 ]] || fail "exit status $rc after SIGTERM, want 0"

if [[ $failures -gt 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
