# mesh_test_env.sh: the environment a local-mesh test sets up before
# `mesh.sh up`, shared by the shell tests that run the mesh in network
# namespaces. Source it with the test's args (the four binaries, as Bazel
# passes them) and a short tag naming the test:
#   source "$RUNFILES/tests/testing/mesh_test_env.sh" te 10.78 "$@"
# It sets RUNFILES, MESH and exports TETHER_BIN, TETHER_MESH_DIR,
# TETHER_MESH_PREFIX and TETHER_MESH_SUBNET.
# shellcheck shell=bash
mesh_tag=$1 mesh_net=$2
shift 2
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
RUNFILES=${TEST_SRCDIR:-$PWD/..}/tether
[[ -d "$RUNFILES" ]] || RUNFILES=$PWD
MESH="$RUNFILES/deploy/local/mesh.sh"

# Lay the binaries out as mesh.sh expects them under TETHER_BIN.
BIN_DIR=$(mktemp -d "${TEST_TMPDIR:-/tmp}/bin.XXXXXX")
for b in "$@"; do
  mkdir -p "$BIN_DIR/$(dirname "$b")"
  ln -s "$(readlink -f "$b")" "$BIN_DIR/$b"
done
export TETHER_BIN=$BIN_DIR
# Under /tmp: the proxies run as UID 1337, which cannot enter Bazel's tree.
TETHER_MESH_DIR=$(mktemp -d "/tmp/tether-$mesh_tag.XXXXXX")
export TETHER_MESH_DIR
export TETHER_MESH_PREFIX="$mesh_tag$$"
export TETHER_MESH_SUBNET=$mesh_net.$(( $$ % 200 + 20 ))

# The control plane's admin API is the mesh's own socket,
# $TETHER_MESH_DIR/control.sock: no port for parallel tests to contend for.
unset TETHER_CONTROL_ADMIN_PORT
unset mesh_tag mesh_net
