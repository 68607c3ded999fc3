#!/usr/bin/env bash
# original_dst_netns_test: in a network namespace of its own, iptables
# REDIRECTs tcp to 10.123.0.2:80 (and [fd00:123::2]:80) to a local port; a
# connection accepted there must report the address it was sent to through
# OriginalDestination (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). Needs root.
# Only addresses inside the namespace are used.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
probe="$1"
ns="tether-odst-test-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
# A dummy interface where the kernel has the module, else a veth pair.
if ! in_ns ip link add tether0 type dummy 2>/dev/null; then
  in_ns ip link add tether0 type veth peer name tether1
  in_ns ip link set tether1 up
fi
in_ns ip addr add 10.123.0.1/24 dev tether0
in_ns ip -6 addr add fd00:123::1/64 dev tether0 nodad
in_ns ip link set tether0 up
in_ns iptables -t nat -A OUTPUT -p tcp -d 10.123.0.2 --dport 80 -j REDIRECT --to-ports 15001
in_ns ip6tables -t nat -A OUTPUT -p tcp -d fd00:123::2 --dport 80 -j REDIRECT --to-ports 15001

got=$(in_ns "$probe" 0.0.0.0:15001 10.123.0.2:80) || fail "IPv4 probe failed"
[[ "$got" == "10.123.0.2:80" ]] || fail "IPv4: OriginalDestination gave '$got'"
echo "ok: IPv4 $got"

got=$(in_ns "$probe" '[::]:15001' '[fd00:123::2]:80') || fail "IPv6 probe failed"
[[ "$got" == "[fd00:123::2]:80" ]] || fail "IPv6: OriginalDestination gave '$got'"
echo "ok: IPv6 $got"

# Not redirected: the listener's own address (conntrack) or NotFound, never another.
out=$(in_ns "$probe" 127.0.0.1:15002 127.0.0.1:15002 2>&1) || true
[[ "$out" != *"10.123.0.2"* ]] || fail "unredirected connection reported $out"
echo "ok: not redirected: ${out//$'\n'/ }"
echo "PASS"
