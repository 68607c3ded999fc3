#!/usr/bin/env bash
# init_netns_test: `tether-proxy init` in a network namespace of its own, with
# both iptables flavours: the rules appear once however often init runs, and
# `--remove` takes every one of them away. Needs root (CI runs as root).
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
proxy="$1"
ns="tether-init-test-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }

for flavour in nft legacy; do
  for run in 1 2; do
    in_ns "$proxy" init --iptables-mode "$flavour" --exclude-inbound-ports 8081 \
      --exclude-outbound-cidrs 169.254.169.254/32,fd00::/8 >/dev/null
  done
  for fam in iptables ip6tables; do
    saved=$(in_ns "$fam-$flavour-save" -t nat)
    [[ $(grep -c -- '-A PREROUTING -p tcp -j TETHER_INBOUND' <<<"$saved") -eq 1 ]] ||
      fail "$fam-$flavour: PREROUTING jump not present exactly once"$'\n'"$saved"
    [[ $(grep -c -- '-A OUTPUT -p tcp -j TETHER_OUTPUT' <<<"$saved") -eq 1 ]] ||
      fail "$fam-$flavour: OUTPUT jump not present exactly once"
    grep -q -- '--uid-owner 1337 -j RETURN' <<<"$saved" || fail "$fam-$flavour: UID exemption"
    grep -q -- '--dport 8081 -j RETURN' <<<"$saved" || fail "$fam-$flavour: excluded port"
    grep -q -- 'REDIRECT --to-ports 15001' <<<"$saved" || fail "$fam-$flavour: outbound redirect"
    grep -q -- 'REDIRECT --to-ports 15006' <<<"$saved" || fail "$fam-$flavour: inbound redirect"
    [[ $(grep -c -- '-A TETHER_OUTPUT' <<<"$saved") -eq $(in_ns "$proxy" init --dry-run \
      --exclude-inbound-ports 8081 --exclude-outbound-cidrs 169.254.169.254/32,fd00::/8 |
      sed -n "/# $( [[ $fam == iptables ]] && echo IPv4 || echo IPv6)/,/COMMIT/p" |
      grep -c -- '-A TETHER_OUTPUT') ]] || fail "$fam-$flavour: rules duplicated"
  done
  in_ns "$proxy" init --iptables-mode "$flavour" --remove >/dev/null
  for fam in iptables ip6tables; do
    if in_ns "$fam-$flavour-save" -t nat | grep -q TETHER; then
      fail "$fam-$flavour: rules left after --remove"
    fi
  done
  echo "ok: $flavour"
done

# Auto mode follows the flavour that already holds rules.
in_ns iptables-legacy -t nat -N KUBE-SERVICES
out=$(in_ns "$proxy" init)
grep -q 'iptables-legacy' <<<"$out" || fail "auto mode did not pick legacy: $out"
in_ns "$proxy" init --remove >/dev/null
echo "ok: auto mode"

# Bad input is refused before anything is written.
if in_ns "$proxy" init --exclude-outbound-cidrs '10.0.0.0/8;reboot' 2>/dev/null; then
  fail "a malformed CIDR was accepted"
fi
echo "PASS"
