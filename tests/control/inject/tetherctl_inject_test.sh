#!/usr/bin/env bash
# tetherctl inject / uninject as a user runs them: files and stdin, several
# documents, idempotence, the round trip, and refusals with exit status 1
# (2 for a usage error) and a message naming the problem.
#   tetherctl_inject_test.sh path/to/tetherctl tests/control/inject/testdata
set -uo pipefail
ctl=$1
data=$2
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/inject-XXXXXX")
trap 'rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# From a file: the YAML on stdout, one line per object on stderr.
"$ctl" inject -f "$data/multi.yaml" >"$dir/multi.out" 2>"$dir/multi.err" ||
  fail "inject -f multi.yaml: exit $?: $(cat "$dir/multi.err")"
[[ $(grep -c '^---$' "$dir/multi.out") -eq 4 ]] || fail "want 5 documents: $(cat "$dir/multi.out")"
[[ $(grep -c 'name: tether-proxy$' "$dir/multi.out") -eq 3 ]] ||
  fail "want the proxy in 3 workloads: $(cat "$dir/multi.out")"
grep -qx 'StatefulSet/shop/web: injected' "$dir/multi.err" || fail "report: $(cat "$dir/multi.err")"
grep -qx 'DaemonSet/monitoring/node-exporter: skipped (hostNetwork)' "$dir/multi.err" ||
  fail "report: $(cat "$dir/multi.err")"

# From stdin (kubectl's spelling), flags reach the containers.
"$ctl" inject -f - --proxy-image registry.example/tether/proxy:0.1.0 \
  --proxy-image-pull-policy IfNotPresent <"$data/deployment.yaml" >"$dir/deploy.out" 2>"$dir/err" ||
  fail "inject -f -: exit $?: $(cat "$dir/err")"
[[ $(grep -c 'image: registry.example/tether/proxy:0.1.0' "$dir/deploy.out") -eq 2 ]] ||
  fail "--proxy-image: $(cat "$dir/deploy.out")"
grep -q 'imagePullPolicy: IfNotPresent' "$dir/deploy.out" || fail "--proxy-image-pull-policy"
"$ctl" inject --filename="$data/deployment.yaml" --inject-native-sidecar=false >"$dir/legacy.out" \
  2>/dev/null || fail "--filename= and --inject-native-sidecar=false"
grep -q 'postStart' "$dir/legacy.out" || fail "the fallback has no postStart hook"
grep -q 'restartPolicy: Always' "$dir/legacy.out" && fail "the fallback is a native sidecar"

# Twice equals once, byte for byte; uninject gives back the original (as the
# same tool renders it).
"$ctl" inject -f "$dir/multi.out" >"$dir/twice.out" 2>"$dir/twice.err" || fail "inject twice"
cmp -s "$dir/multi.out" "$dir/twice.out" || fail "inject twice differs: $(diff "$dir/multi.out" "$dir/twice.out")"
grep -q ': injected$' "$dir/twice.err" && fail "re-injected: $(cat "$dir/twice.err")"
"$ctl" uninject -f "$dir/multi.out" >"$dir/restored.out" 2>/dev/null || fail "uninject"
"$ctl" uninject -f "$data/multi.yaml" >"$dir/original.out" 2>/dev/null || fail "uninject original"
cmp -s "$dir/restored.out" "$dir/original.out" ||
  fail "round trip: $(diff "$dir/original.out" "$dir/restored.out")"
grep -E 'tether-(proxy|init|token|trust-bundle)|tether.io/status' "$dir/restored.out" &&
  fail "traces of injection left"

# expect_exit STATUS TEXT ARGS...: tetherctl exits STATUS saying TEXT.
expect_exit() {
  local want=$1 text=$2
  shift 2
  local out rc
  out=$("$ctl" "$@" 2>&1 </dev/null)
  rc=$?
  [[ $rc -eq $want ]] || fail "$*: exit $rc, want $want ($out)"
  [[ "$out" == *"$text"* ]] || fail "$*: output lacks \"$text\": $out"
}
expect_exit 2 "inject needs -f FILE" inject
expect_exit 1 "cannot read $dir/missing.yaml" inject -f "$dir/missing.yaml"
printf 'kind: Pod\nmetadata: {name: p, annotations: {tether.io/proxy-cpu: lots}}\nspec:\n  containers: [{name: a, image: b}]\n' >"$dir/bad.yaml"
expect_exit 1 "document 1: Pod/p: annotation tether.io/proxy-cpu" inject -f "$dir/bad.yaml"
printf 'a: [1, 2\n' >"$dir/syntax.yaml"
expect_exit 1 "line" inject -f "$dir/syntax.yaml"
expect_exit 2 "--proxy-image-pull-policy \"Sometimes\"" inject -f "$data/pod.yaml" \
  --proxy-image-pull-policy Sometimes

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "tetherctl inject: all checks passed"
