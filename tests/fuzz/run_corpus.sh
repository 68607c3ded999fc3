#!/usr/bin/env bash
# run_corpus.sh FUZZ_BINARY CORPUS_DIR: runs a fuzz target once over every file
# of its seed corpus (the `_corpus_test` of tether_cc_fuzz_test). The binary is
# either the corpus driver or, under --config=fuzz, a libFuzzer binary; given
# files rather than a directory, libFuzzer also runs each once and exits.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: run_corpus.sh FUZZ_BINARY CORPUS_DIR" >&2
  exit 2
fi
bin=$1
dir=$2
if [[ ! -d "$dir" ]]; then
  echo "run_corpus: no corpus directory $dir" >&2
  exit 1
fi
# -L: Bazel's runfiles are symlinks.
mapfile -t files < <(find -L "$dir" -type f | LC_ALL=C sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "run_corpus: $dir holds no inputs" >&2
  exit 1
fi
echo "run_corpus: $(basename "$bin") over ${#files[@]} inputs from $dir"
exec "$bin" "${files[@]}"
