#!/usr/bin/env bash
# demo.sh: the main job, the local mesh demo (deploy/local/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TETHER_BIN=$(bazel info bazel-bin 2>/dev/null)
export TETHER_BIN
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo -E"
exec $SUDO deploy/local/demo.sh
