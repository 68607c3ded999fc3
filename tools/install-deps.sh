#!/usr/bin/env bash
# install-deps.sh [GROUP...]: installs what Tether needs from Debian's packages,
# only what is missing, and fetches BoringSSL's source. Idempotent; works as
# root or through sudo.
# install-deps.sh --check GROUP...: installs nothing; exits 0 when every package
# of the groups is installed, 1 otherwise (tests use it to know what to expect).
#
# Groups: build (default: compilers, Bazel, gRPC, Protobuf, Abseil,
# prometheus-cpp, test libraries), mesh (network namespaces, iptables, packet
# capture for the local mesh and its end-to-end tests), bench (HAProxy, nginx,
# stunnel, load generators, perf and valgrind for tests/bench), k8s (node and npm, then the
# pinned npm packages that validate deploy/'s Kubernetes manifests offline,
# into ~/.cache/tether/k8s-validate).
#
# An entry PKG:COMMAND counts as present when COMMAND is on the PATH, however
# it was installed (a NodeSource nodejs, say, which conflicts with Debian's
# npm package).
set -euo pipefail

declare -A GROUPS_PKGS=(
  [build]="bazel-bootstrap g++ clang libclang-rt-14-dev lld pkg-config binutils
           libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
           libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libevent-dev
           libyaml-cpp-dev nlohmann-json3-dev prometheus-cpp-dev libhttp-parser-dev libnghttp2-dev
           dpkg-dev xz-utils clang-format
           clang-tidy"
  [mesh]="iproute2 iptables procps psmisc curl tshark"
  [bench]="haproxy nginx-light libnginx-mod-stream stunnel4 wrk hey iperf3 nghttp2-client nghttp2-server
           python3-matplotlib procps linux-perf valgrind"
  [k8s]="nodejs:node npm:npm"
)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

check_only=0
if [[ "${1:-}" == --check ]]; then
  check_only=1
  shift
fi
groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(build)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  fi
fi

missing=()
for group in "${groups[@]}"; do
  if [[ -z "${GROUPS_PKGS[$group]+x}" ]]; then
    echo "install-deps: unknown group '$group' (build, mesh, bench, k8s)" >&2
    exit 2
  fi
  for entry in ${GROUPS_PKGS[$group]}; do
    pkg=${entry%%:*}
    if [[ "$entry" == *:* ]] && command -v "${entry#*:}" >/dev/null 2>&1; then
      continue
    fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
done

if [[ $check_only -eq 1 ]]; then
  [[ ${#missing[@]} -eq 0 ]] || echo "install-deps: not installed: ${missing[*]}" >&2
  exit $((${#missing[@]} > 0))
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 && -z "$SUDO" ]]; then
    echo "install-deps: missing Debian packages and neither root nor sudo available:" >&2
    echo "  apt-get install ${missing[*]}" >&2
    exit 1
  fi
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  # tshark asks whether non-root users may capture; answer for it.
  echo "wireshark-common wireshark-common/install-setuid boolean false" |
    $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  log "packages installed"
else
  log "Debian packages for ${groups[*]}: all present"
fi

for group in "${groups[@]}"; do
  if [[ "$group" == build ]]; then
    tree=$("$(dirname "$0")/../third_party/boringssl/fetch.sh")
    log "BoringSSL source: $tree"
  fi
  if [[ "$group" == k8s ]]; then
    dir=$("$(dirname "$0")/k8s-validate/install.sh")
    log "Kubernetes manifest validator: $dir"
  fi
done
