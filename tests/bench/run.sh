#!/usr/bin/env bash
# run.sh [mesh_bench.py flags]: what `make bench` runs. Installs the bench
# group of Debian packages (idempotent), builds the binaries the side-by-side
# benchmark needs, and runs it: JSON, Markdown and charts go to
# tests/bench/results/, and tests/bench/RESULTS.md is rewritten with the
# command, the date and the tables. A full run takes about 15 minutes.
#   tests/bench/run.sh                 # everything
#   tests/bench/run.sh --quick         # a few seconds per scenario
#   tests/bench/run.sh --scenarios keepalive,latency --contenders direct,tether,haproxy
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/install-deps.sh build bench
bazel build //proxy:tether-proxy //control:tether-control //control/tetherctl \
  //tests/bench:loadgen //tests/bench:mesh_cert //tests/bench:ca_stream_load
/usr/bin/python3 tests/bench/mesh_bench.py --bin-dir bazel-bin --out tests/bench/results \
  --results-doc tests/bench/RESULTS.md "$@"
