#!/usr/bin/env bash
# install.sh [DIR]: installs the manifest validator's npm packages, at the
# versions package-lock.json pins, into DIR (default
# ~/.cache/tether/k8s-validate) and prints DIR. Does nothing when DIR already
# holds this lock's packages. Needs node and npm (tools/install-deps.sh k8s).
# Run the validator with them:
#   NODE_PATH=DIR/node_modules node tools/k8s-validate/validate.cjs FILE...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${HOME:-}
# Under Bazel HOME is the test's own directory: use the account's real home,
# so that every run shares one cache.
real_home=$(getent passwd "$(id -u)" | cut -d: -f6 || true)
[[ -n "$real_home" && -d "$real_home" ]] && home=$real_home
dir=${1:-$home/.cache/tether/k8s-validate}
stamp=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$stamp" &&
      -d "$dir/node_modules/kubernetes-models" ]]; then
  echo "$dir"
  exit 0
fi
for tool in node npm; do
  command -v "$tool" >/dev/null || {
    echo "k8s-validate: $tool is missing (tools/install-deps.sh k8s installs it)" >&2
    exit 1
  }
done
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
echo "k8s-validate: installing the pinned npm packages into $dir" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
echo "$stamp" >"$dir/.installed"
echo "$dir"
