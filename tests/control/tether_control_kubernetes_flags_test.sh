#!/usr/bin/env bash
# tether-control --kubernetes: refuses to start, with a message naming the
# problem, when the API server is unknown or the CA / token file unreadable;
# starts and announces the TokenReview API when they are fine.
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
