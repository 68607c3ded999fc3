#!/usr/bin/env bash
# mesh_bench_smoke_test: the side-by-side benchmark harness end to end with
# --smoke (about a second per scenario, tiny counts), so that `make test`
# knows the harness still works. It checks that the run wrote the JSON, the
# Markdown table and the charts, that every contender answered without
# errors, and that tether-proxy resumed sessions (its /metrics). Numbers are
# not judged here.
#
# `make test` installs the bench group (tools/install-deps.sh), so HAProxy,
# nginx, stunnel, wrk and iperf3 are required; only where that group is not
# installed (a bare `bazel test` on a machine without it) are they skipped,
# with the scenarios that need them.
#   mesh_bench_smoke_test.sh mesh_bench.py install-deps.sh
set -uo pipefail
harness=$1
install_deps=$2
root="${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-tether}"
out=$(mktemp -d "${TEST_TMPDIR:-/tmp}/bench-smoke-XXXXXX")
trap 'rm -rf "$out"' EXIT

contenders=direct,tether,haproxy,nginx,stunnel
scenarios=keepalive,latency,newconn,h2,bulk,memory,control
if ! "$install_deps" --check bench; then
  echo "SKIP: the bench group is not installed: HAProxy, nginx, stunnel, wrk and iperf3 left out"
  contenders=direct,tether
  scenarios=latency,newconn,memory,control
fi

/usr/bin/python3 "$harness" --bin-dir "$root" --out "$out" --smoke --contenders "$contenders" \
  --scenarios "$scenarios" >"$out/stdout" 2>"$out/stderr"
rc=$?
tail -40 "$out/stderr"
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
[[ $rc -eq 0 ]] || fail "mesh_bench.py exited $rc"
for f in results.json results.md latency.png throughput.png; do
  [[ -s "$out/$f" ]] || fail "no $f"
done
/usr/bin/python3 - "$out/results.json" "$contenders" "$scenarios" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
contenders = sys.argv[2].split(",")
scenarios = sys.argv[3].split(",")
bad = []
key = {"keepalive": "keepalive", "latency": "fixed_rate", "newconn": "new_connections",
       "h2": "h2", "bulk": "bulk", "memory": "memory", "control": "control_plane"}
for s in scenarios:
    if key[s] not in r:
        bad.append(f"scenario {s} missing")
for n in contenders:
    if "keepalive" in r and r["keepalive"].get(n, {}).get("rps", 0) <= 0:
        bad.append(f"keep-alive: no requests through {n}")
    if "fixed_rate" in r:
        for conns, d in r["fixed_rate"]["by_connections"].items():
            x = d.get(n)
            if not x or x["requests"] == 0 or x["errors"] != 0:
                bad.append(f"fixed rate, {conns} connections: {n}: {x and (x['requests'], x['errors'])}")
    if "new_connections" in r:
        x = r["new_connections"]["full_handshake"].get(n)
        if not x or x["requests"] == 0 or x["errors"] != 0:
            bad.append(f"new connections: {n}: {x and (x['requests'], x['errors'])}")
    if "h2" in r and (r["h2"].get(n, {}).get("rps", 0) <= 0 or r["h2"][n].get("failed", 1) != 0):
        bad.append(f"h2: no clean HTTP/2 requests through {n}: {r['h2'].get(n)}")
    if "bulk" in r and r["bulk"].get(n, {}).get("gbit_per_s", 0) <= 0:
        bad.append(f"bulk: nothing through {n}")
    if "memory" in r and n != "direct":
        m = r["memory"]["by_contender"].get(n)
        if not m or any(h["connections"] != int(c) for c, h in m["held"].items()):
            bad.append(f"memory: {n} did not hold every connection")
if "new_connections" in r:
    if r["new_connections"]["resumption"]["tether"].get("resumed_handshakes", 0) <= 0:
        bad.append("tether-proxy resumed no session (tether_proxy_tls_sessions_resumed_total)")
if "control_plane" in r:
    cp = r["control_plane"]
    if cp["signing"]["certificates"] != 20 or cp["streams"].get("established") != 20:
        bad.append(f"control plane: {cp['signing']}, {cp['streams'].get('established')} streams")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
grep -q "^### Headline" "$out/results.md" || fail "results.md has no headline table"
if [[ $failures -ne 0 ]]; then
  echo "--- stdout"; cat "$out/stdout"
  exit 1
fi
echo PASS
