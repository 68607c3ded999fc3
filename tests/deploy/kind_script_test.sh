#!/usr/bin/env bash
# deploy/kind/up.sh parses, and without Docker it stops at the prerequisite
# check, naming what is missing, before touching anything.
#   kind_script_test.sh deploy/kind/up.sh
set -uo pipefail
script=$1
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
bash -n "$script" || fail "syntax"
empty=$(mktemp -d "${TEST_TMPDIR:-/tmp}/nobin-XXXXXX")
out=$(PATH="$empty:/usr/bin:/bin" bash "$script" 2>&1)
rc=$?
if command -v docker >/dev/null 2>&1 || [[ -x /usr/bin/docker ]]; then
  echo "docker is installed here: the missing-prerequisite path is not exercised"
else
  [[ $rc -eq 1 ]] || fail "exit $rc without docker, want 1: $out"
  [[ "$out" == *"docker is not installed"* ]] || fail "message: $out"
  [[ "$out" != *"kind cluster"* ]] || fail "went past the prerequisite check: $out"
fi
out=$(bash "$script" --bogus 2>&1)
[[ $? -eq 1 && "$out" == *"unknown argument --bogus"* ]] || fail "bad argument: $out"
[[ $failures -eq 0 ]] || exit 1
echo "kind script: all checks passed"
