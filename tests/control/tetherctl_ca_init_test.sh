#!/usr/bin/env bash
# tetherctl ca init writes a root CA in the cacerts layout (key 0600, nothing
# overwritten), and tether-control --ca-dir signs with it: two control planes
# given the same directory serve the same trust bundle.
#   tetherctl_ca_init_test.sh path/to/tetherctl path/to/tether-control
set -uo pipefail
ctl=$1
control=$2
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ca-init-XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

"$ctl" ca init --out "$dir/cacerts" --trust-domain mesh.test >"$dir/out" 2>&1 ||
  fail "ca init: $(cat "$dir/out")"
for f in ca-cert.pem ca-key.pem cert-chain.pem root-cert.pem; do
  [[ -s "$dir/cacerts/$f" ]] || fail "$f missing"
done
[[ $(stat -c %a "$dir/cacerts/ca-key.pem") == 600 ]] || fail "ca-key.pem is not 0600"
cmp -s "$dir/cacerts/ca-cert.pem" "$dir/cacerts/root-cert.pem" || fail "a self-signed root: ca-cert = root-cert"
key_before=$(cat "$dir/cacerts/ca-key.pem")
"$ctl" ca init --out "$dir/cacerts" >"$dir/again" 2>&1 && fail "ca init overwrote a CA"
grep -q "exists; not overwriting" "$dir/again" || fail "refusal: $(cat "$dir/again")"
[[ "$(cat "$dir/cacerts/ca-key.pem")" == "$key_before" ]] || fail "the key changed"
"$ctl" ca init >"$dir/usage" 2>&1
[[ $? -eq 2 ]] || fail "ca init without --out: want exit 2"

# Two replicas on the same CA: the same bundle from both admin ports.
for i in 1 2; do
  "$control" --state-dir "$dir/state$i" --trust-domain mesh.test --ca-dir "$dir/cacerts" \
    --grpc-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$dir/stderr$i" &
  pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 300); do
    grep -q "admin on port" "$dir/stderr$i" && break
    sleep 0.1
  done
  port=$(sed -n 's/.*admin on port \([0-9]*\).*/\1/p' "$dir/stderr$i")
  [[ -n "$port" ]] || { fail "replica $i did not start: $(cat "$dir/stderr$i")"; continue; }
  "$ctl" --admin "127.0.0.1:$port" ca bundle >"$dir/bundle$i" 2>&1 || fail "ca bundle $i"
  cmp -s "$dir/bundle$i" "$dir/cacerts/root-cert.pem" ||
    fail "replica $i serves another bundle: $(cat "$dir/bundle$i")"
done

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "tetherctl ca init: all checks passed"
