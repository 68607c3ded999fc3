#!/usr/bin/env bash
# run-tests.sh [BAZEL TEST ARGS...]: runs every Bazel test target (//... unless
# targets are given) and ends with one line "N passed, N failed" counting test
# targets. Exits non-zero if any target failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

args=("$@")
has_target=0
for a in "${args[@]}"; do [[ "$a" == //* || "$a" == -//* ]] && has_target=1; done
[[ $has_target -eq 0 ]] && args+=(//...)

bazel test --keep_going "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Bazel's summary: "//pkg:target   [(cached)] PASSED in 1.2s", FLAKY, FAILED,
# TIMEOUT, NO STATUS, FAILED TO BUILD, SKIPPED.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(PASSED|FLAKY)' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|REMOTE FAILURE)' "$log")
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
  # The build broke before any test ran; count that as one failure.
  failed=1
fi
echo "$passed passed, $failed failed"
[[ $rc -eq 0 && $failed -eq 0 ]]
