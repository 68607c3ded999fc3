# mesh_test_env.sh: the environment a local-mesh test sets up before
# `mesh.sh up`, shared by the shell tests that run the mesh in network
# namespaces. Source it with the test's args (the four binaries, as Bazel
# passes them) and a short tag naming the test:
#   source "$RUNFILES/tests/testing/mesh_test_env.sh" te 10.78 "$@"
# It sets RUNFILES, MESH and exports TETHER_BIN, TETHER_MESH_DIR,
# TETHER_MESH_PREFIX, TETHER_MESH_SUBNET and TETHER_CONTROL_ADMIN_PORT.
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

# The control plane's admin port: one no socket uses, in any state, and below
# the kernel's ephemeral range, so that no client's connect() can take it
# between this check and tether-control's bind (the pid picks where to start).
mesh_ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
mesh_span=$(( mesh_ephemeral_low > 22000 ? mesh_ephemeral_low - 20000 : 2000 ))
port=$(( 20000 + ($$ * 7) % mesh_span ))
while ss -Htan "sport = :$port" 2>/dev/null | grep -q .; do
  port=$(( 20000 + (port - 20000 + 1) % mesh_span ))
done
export TETHER_CONTROL_ADMIN_PORT=$port
unset mesh_tag mesh_net mesh_ephemeral_low mesh_span
