#!/usr/bin/env bash
# lint.sh [--fix]: clang-format (and, unless --format-only, clang-tidy) over
# Tether's own C++ code. --fix rewrites files in place instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
tidy=1
for arg in "$@"; do
  case "$arg" in
    --fix) fix=1 ;;
    --format-only) tidy=0 ;;
    *) echo "usage: lint.sh [--fix] [--format-only]" >&2; exit 2 ;;
  esac
done

mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -vE '^third_party/')
[[ ${#files[@]} -eq 0 ]] && { echo "lint: no files"; exit 0; }

if [[ $fix -eq 1 ]]; then
  clang-format -i "${files[@]}"
  echo "lint: formatted ${#files[@]} files"
else
  clang-format --dry-run -Werror "${files[@]}"
  echo "lint: clang-format clean (${#files[@]} files)"
fi

if [[ $tidy -eq 1 ]]; then
  # Generated headers (protos) and BoringSSL's include dir come from Bazel.
  bazel build //... >/dev/null 2>&1 || bazel build //...
  bin=$(bazel info bazel-bin 2>/dev/null)
  base=$(bazel info output_base 2>/dev/null)
  mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$')
  clang-tidy --quiet "${sources[@]}" -- -std=c++20 -I. -I"$bin" \
    -isystem "$base/external/boringssl/src/include" -Wno-unknown-warning-option
  echo "lint: clang-tidy clean (${#sources[@]} files)"
fi
