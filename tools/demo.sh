#!/usr/bin/env bash
# demo.sh: the main job. Runs Tether's real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bazel info bazel-bin 2>/dev/null)
echo "==> tether-control: $("$bin/control/tether-control" --version)"
echo "==> tether-proxy:   $("$bin/proxy/tether-proxy" --version)"
