#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds every fuzz target (tagged fuzz-target by
# tether_cc_fuzz_test) with --config=fuzz (clang, libFuzzer, ASan) and runs
# each for SECONDS (default 60) over a copy of its seed corpus. New inputs
# stay in the copy (printed at the end), crash reproducers in
# .cache/fuzz/<target>/; merge useful inputs into the seed corpus by hand
# (`<fuzzer> -merge=1 SEED_DIR COPY_DIR`). Exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "usage: fuzz.sh [SECONDS]" >&2
  exit 2
fi

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

mapfile -t targets < <(bazel query 'attr(tags, "fuzz-target", //...)' 2>/dev/null)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz.sh: no targets tagged fuzz-target" >&2
  exit 1
fi
log "building ${#targets[@]} fuzz targets with --config=fuzz"
bazel build --config=fuzz "${targets[@]}"
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

failed=()
for target in "${targets[@]}"; do
  pkg=${target#//}
  pkg=${pkg%%:*}
  name=${target##*:}
  # tether_cc_fuzz_test tags the binary corpus=<workspace-relative directory>.
  corpus=$(bazel query --output=build "$target" 2>/dev/null |
    grep -o '"corpus=[^"]*"' | head -n1 | tr -d '"' | cut -d= -f2-)
  work=.cache/fuzz/$name
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -n "$corpus" && -d "$corpus" ]]; then
    cp -r "$corpus/." "$work/corpus/"
  fi
  log "$target: ${seconds}s over $(find "$work/corpus" -type f | wc -l) seed inputs"
  if "$bin/$pkg/$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n1 || true
    grep -E 'stat::(average_exec_per_sec|new_units_added)' "$work/log" || true
    echo "corpus after fuzzing: $work/corpus ($(find "$work/corpus" -type f | wc -l) inputs)"
  else
    failed+=("$target")
    tail -n 40 "$work/log"
    echo "fuzz.sh: $target FAILED; log $work/log, reproducers in $work/artifacts/" >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
log "${#targets[@]} fuzz targets ran ${seconds}s each without a failure"
