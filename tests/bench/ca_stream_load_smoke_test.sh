#!/usr/bin/env bash
# ca_stream_load_smoke_test: the load tool against a real tether-control on
# loopback, with a few streams, so that the tool keeps working.
#   ca_stream_load_smoke_test.sh path/to/tether-control path/to/ca_stream_load
set -uo pipefail
control=$1
load=$2
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/load-smoke-XXXXXX")
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

"$control" --state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 2>"$dir/control.log" &
pid=$!
for _ in $(seq 300); do
  grep -q "certificate stream on port" "$dir/control.log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
line=$(grep "certificate stream on port" "$dir/control.log") || {
  echo "FAIL: tether-control did not start: $(cat "$dir/control.log")"
  exit 1
}
grpc_port=$(sed -E 's/.*certificate stream on port ([0-9]+).*/\1/' <<<"$line")
admin_port=$(sed -E 's/.*admin on port ([0-9]+).*/\1/' <<<"$line")

"$load" --control "127.0.0.1:$grpc_port" --admin "127.0.0.1:$admin_port" \
  --ca-bundle "$dir/state/serving/roots.pem" --control-pid "$pid" --streams 40 --channels 4 \
  --csr-every 2 --hold 0s >"$dir/load.out" 2>&1
rc=$?
cat "$dir/load.out"
failures=0
check() {
  grep -q "$1" "$dir/load.out" || {
    echo "FAIL: output lacks \"$1\""
    failures=$((failures + 1))
  }
}
[[ $rc -eq 0 ]] || {
  echo "FAIL: ca_stream_load exited $rc"
  failures=$((failures + 1))
}
check "join tokens: 40 minted"
check "established: 40 of 40 streams"
check "failures: none"
check "control plane says: ready: CA for mesh.test, 40 streams"
check "control plane RSS: .* per stream"
# The CSR streams got certificates: 20 issued.
[[ $(grep -c '"event":"issued"' "$dir/state/audit.jsonl") -eq 20 ]] || {
  echo "FAIL: want 20 certificates issued, audit log has $(grep -c '"event":"issued"' "$dir/state/audit.jsonl")"
  failures=$((failures + 1))
}
[[ $failures -eq 0 ]] && echo PASS
exit $((failures > 0))
