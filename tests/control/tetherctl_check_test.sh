#!/usr/bin/env bash
# tetherctl check, diagnose and stat against a real mesh on loopback, healthy
# and then with deliberately broken pieces, each of which must be named:
#   - a denied peer: c, whom b's policy does not allow;
#   - a wrong CA: x, whose certificate and trust bundle come from another
#     control plane (another CA, same trust domain);
#   - an expired certificate: e, whose control plane went away (1-minute
#     certificates, so this test takes a little over a minute);
#   - a CA close to expiry (20 days): a warning, not a failure.
#   tetherctl_check_test.sh tether-control tetherctl tether-proxy tether-demo-app
set -uo pipefail
control_bin=$1
ctl_bin=$2
proxy_bin=$3
app_bin=$4
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ctl-check-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]]; then cp "$dir"/*.log "$TEST_UNDECLARED_OUTPUTS_DIR"/ 2>/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect NAME WANT_EXIT GOT_EXIT OUTPUT NEEDLE...: every needle is in the output.
expect() {
  local name=$1 want=$2 got=$3 out=$4
  shift 4
  printf '=== %s (exit %s)\n%s\n\n' "$name" "$got" "$out"
  [[ $got -eq $want ]] || fail "$name: exit $got, want $want:"$'\n'"$out"
  local needle
  for needle in "$@"; do
    [[ "$out" == *"$needle"* ]] || fail "$name: no \"$needle\" in:"$'\n'"$out"
  done
}
# port_in FILE LABEL: the number after LABEL in FILE, waiting for it.
port_in() {
  local p=""
  for _ in $(seq 1 300); do
    p=$(sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" "$1" | head -1)
    [[ -n "$p" ]] && break
    sleep 0.05
  done
  echo "$p"
}

# start_control NAME [FLAGS...]: sets ${NAME}_admin and ${NAME}_grpc.
start_control() {
  local name=$1
  shift
  "$control_bin" --state-dir "$dir/state-$name" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --cert-ttl 1m "$@" 2>"$dir/control-$name.log" &
  pids+=($!)
  printf -v "${name}_pid" %s $!
  local admin grpc
  admin=$(port_in "$dir/control-$name.log" "admin on port ")
  grpc=$(port_in "$dir/control-$name.log" "certificate stream on port ")
  [[ -n "$admin" && -n "$grpc" ]] || {
    cat "$dir/control-$name.log"
    echo "FAIL: tether-control $name did not start"
    exit 1
  }
  printf -v "${name}_admin" %s "127.0.0.1:$admin"
  printf -v "${name}_grpc" %s "127.0.0.1:$grpc"
}

# start_proxy SA CONTROL [FLAGS...]: shop/SA joined to control plane CONTROL,
# trusting its bundle; sets ${SA}_admin, ${SA}_in, ${SA}_out.
start_proxy() {
  local sa=$1 cp=$2
  shift 2
  local cp_admin_var="${cp}_admin" cp_grpc_var="${cp}_grpc"
  "$ctl_bin" --admin "${!cp_admin_var}" ca bundle >"$dir/roots-$sa.pem" || fail "bundle for $sa"
  "$ctl_bin" --admin "${!cp_admin_var}" token create --namespace shop --service-account "$sa" \
    >"$dir/$sa.token" 2>/dev/null || fail "token for $sa"
  "$proxy_bin" --control "${!cp_grpc_var}" --ca-bundle "$dir/roots-$sa.pem" \
    --join-token-file "$dir/$sa.token" --workload-name "$sa" --admin-listen 127.0.0.1:0 "$@" \
    2>"$dir/proxy-$sa.log" &
  pids+=($!)
  printf -v "${sa}_pid" %s $!
  local admin
  admin=$(port_in "$dir/proxy-$sa.log" ", admin :")
  [[ -n "$admin" ]] || {
    cat "$dir/proxy-$sa.log"
    echo "FAIL: proxy $sa did not start"
    exit 1
  }
  printf -v "${sa}_admin" %s "127.0.0.1:$admin"
  printf -v "${sa}_in" %s "$(sed -n 's/.*inbound :\([0-9]*\).*/\1/p' "$dir/proxy-$sa.log")"
  printf -v "${sa}_out" %s "$(sed -n 's/.*outbound :\([0-9]*\).*/\1/p' "$dir/proxy-$sa.log")"
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$admin/ready" >/dev/null && return 0
    sleep 0.05
  done
  fail "proxy $sa not ready: $(curl -s "http://127.0.0.1:$admin/ready")"
}

# The app behind b, on a free port.
app_port=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 40000))
  "$app_bin" serve --listen "127.0.0.1:$candidate" --name b >"$dir/app.log" 2>&1 &
  app_pid=$!
  sleep 0.2
  if kill -0 "$app_pid" 2>/dev/null; then
    pids+=("$app_pid")
    app_port=$candidate
    break
  fi
done
[[ -n "$app_port" ]] || { echo "FAIL: no port for the app"; exit 1; }

# The mesh's CA, shared by control plane "main" and a replica ("gone") that
# will disappear under proxy e.
"$ctl_bin" ca init --out "$dir/cacerts" --trust-domain mesh.test >/dev/null || fail "ca init"
start_control main --ca-dir "$dir/cacerts"
start_control gone --ca-dir "$dir/cacerts"
ctl() { "$ctl_bin" --admin "$main_admin" "$@"; }

# b admits a only.
ctl policy apply -f - >/dev/null <<'YAML' || fail "policy apply"
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: b-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [b]}
  rules:
    - from: [{spiffeId: spiffe://mesh.test/ns/shop/sa/a}]
YAML
start_proxy b main --inbound-listen 127.0.0.1:0 --inbound-forward "127.0.0.1:$app_port"
start_proxy a main --outbound-listen 127.0.0.1:0 --outbound-forward "127.0.0.1:$b_in" \
  --outbound-expect-identity spiffe://mesh.test/ns/shop/sa/b
# e: a certificate that will expire: its control plane goes away.
start_proxy e gone --outbound-listen 127.0.0.1:0 --outbound-forward "127.0.0.1:$b_in"
kill -9 "$gone_pid"
e_down=$SECONDS

# --- A healthy mesh passes. ---
out=$("$app_bin" call --target "127.0.0.1:$a_out" --count 3 --interval-ms 10 2>&1) ||
  fail "a -> b: $out"
out=$(ctl check --proxy "$a_admin,$b_admin" 2>&1)
expect "check, healthy" 0 $? "$out" "✔ tether-control reachable at $main_admin" \
  "✔ the signing CA certificate is valid for" "✔ proxy spiffe://mesh.test/ns/shop/sa/b ($b_admin) is ready" \
  "✔ trust bundles identical across 2 proxies and the control plane" "0 warnings, 0 failed"
[[ "$out" != *"✖"* && "$out" != *"! "* ]] || fail "check, healthy: a problem reported:"$'\n'"$out"
out=$(ctl diagnose --proxy "$b_admin" 2>&1)
expect "diagnose, healthy" 0 $? "$out" "✔ no handshake, authorization or connect failure"
out=$(ctl stat --proxy "$a_admin,$b_admin" 2>&1)
expect "stat" 0 $? "$out" "PEER" "FAILURE RATE"
grep -Eq "spiffe://mesh.test/ns/shop/sa/b +inbound +spiffe://mesh.test/ns/shop/sa/a +3 +0 +0.0%" \
  <<<"$out" || fail "stat: no row for a at b:"$'\n'"$out"
grep -Eq "spiffe://mesh.test/ns/shop/sa/a +outbound +spiffe://mesh.test/ns/shop/sa/b +3 +0 +0.0%" \
  <<<"$out" || fail "stat: no row for b at a:"$'\n'"$out"

# --- A denied peer: c calls b, which its policy refuses. ---
start_proxy c main --outbound-listen 127.0.0.1:0 --outbound-forward "127.0.0.1:$b_in" \
  --outbound-expect-identity spiffe://mesh.test/ns/shop/sa/b
"$app_bin" call --target "127.0.0.1:$c_out" --count 2 --interval-ms 10 >/dev/null 2>&1 &&
  fail "c's calls were let through"
out=$(ctl diagnose --proxy "$b_admin" 2>&1)
expect "diagnose, denied" 1 $? "$out" \
  "inbound  denied  from 127.0.0.1:" "spiffe://mesh.test/ns/shop/sa/c" \
  "what: the authorization policy refused this caller" "detail: denied by no ALLOW rule matches" \
  "fix: if the caller should be allowed" "summary: 2 denied"
out=$(ctl check --proxy "$a_admin,$b_admin,$c_admin" 2>&1)
expect "check, denied" 0 $? "$out" \
  "! proxy spiffe://mesh.test/ns/shop/sa/b ($b_admin): 2 failed connections in the last 15m: 2 denied (spiffe://mesh.test/ns/shop/sa/c)" \
  "fix: \`tetherctl diagnose --proxy $b_admin\`"
out=$(ctl stat --proxy "$b_admin" 2>&1)
grep -Eq "inbound +spiffe://mesh.test/ns/shop/sa/c +2 +2 +100.0%" <<<"$out" ||
  fail "stat: c's failures at b:"$'\n'"$out"

# --- A wrong CA: x belongs to another control plane's CA. ---
start_control other
start_proxy x other --outbound-listen 127.0.0.1:0 --outbound-forward "127.0.0.1:$b_in" \
  --outbound-expect-identity spiffe://mesh.test/ns/shop/sa/b
"$app_bin" call --target "127.0.0.1:$x_out" --count 1 >/dev/null 2>&1 && fail "x got through"
out=$(ctl check --proxy "$a_admin,$b_admin,$x_admin" 2>&1)
expect "check, wrong CA" 1 $? "$out" \
  "✖ proxy spiffe://mesh.test/ns/shop/sa/x ($x_admin) trusts another CA" \
  "shares no root with the control plane's" "fix: the proxy was started with another --ca-bundle" \
  ", 1 failed"
out=$(ctl diagnose --proxy "$b_admin" 2>&1)
# In TLS 1.3 the client checks the server first: x refuses b's certificate
# before sending its own, so b sees x's refusal (an alert), not x's certificate.
expect "diagnose b, wrong CA" 1 $? "$out" \
  "inbound  peer_rejected  from 127.0.0.1:" \
  "what: the caller does not trust the CA that signed this proxy's certificate (TLS alert unknown_ca)"
out=$(ctl diagnose --proxy "$x_admin" 2>&1)
expect "diagnose x, wrong CA" 1 $? "$out" \
  "outbound  untrusted  to 127.0.0.1:$b_in claiming spiffe://mesh.test/ns/shop/sa/b (not verified)" \
  "what: the destination presented a certificate from a CA that is not in this proxy's trust bundle"

# --- An expired certificate: e's control plane went away a while ago. ---
for _ in $(seq 1 120); do
  curl -s "http://$e_admin/ready" | grep -q "certificate expired" && break
  sleep 1
done
echo "e's certificate expired $((SECONDS - e_down)) s after its control plane went away"
out=$(ctl check --proxy "$a_admin,$b_admin,$e_admin" 2>&1)
expect "check, expired" 1 $? "$out" \
  "✖ proxy spiffe://mesh.test/ns/shop/sa/e ($e_admin) is not ready: certificate expired at" \
  "✖ proxy spiffe://mesh.test/ns/shop/sa/e ($e_admin): certificate" "control stream backoff" \
  "fix: the proxy could not renew" "✔ trust bundles identical across 3 proxies"
out=$(ctl diagnose --proxy "$e_admin" 2>&1)
expect "diagnose, expired" 1 $? "$out" "✖ not ready: certificate expired at" \
  "✖ certificate" "for spiffe://mesh.test/ns/shop/sa/e expired at" \
  "fix: the proxy cannot get a certificate from the control plane"
# What e refuses meanwhile names why.
"$app_bin" call --target "127.0.0.1:$e_out" --count 1 >/dev/null 2>&1 && fail "e sent without a certificate"
out=$(ctl diagnose --proxy "$e_admin" 2>&1)
expect "diagnose, e refuses" 1 $? "$out" "outbound  no_certificate  to 127.0.0.1:$b_in" \
  "detail: this proxy's certificate expired at"

# --- A CA 20 days from expiry: a warning, exit 0. ---
"$ctl_bin" ca init --out "$dir/short-ca" --trust-domain mesh.test --validity 480h >/dev/null ||
  fail "ca init, 20 days"
start_control short --ca-dir "$dir/short-ca"
out=$("$ctl_bin" --admin "$short_admin" check 2>&1)
expect "check, CA near expiry" 0 $? "$out" "! the signing CA certificate expires in 19d" \
  "! trust bundle root" "fix: rotate"

# --- Usage and unreachable endpoints. ---
out=$(ctl diagnose 2>&1)
expect "diagnose without --proxy" 2 $? "$out" "diagnose needs --proxy"
out=$(ctl stat 2>&1)
expect "stat without --proxy" 2 $? "$out" "stat needs --proxy"
out=$(ctl diagnose --proxy 127.0.0.1:1 2>&1)
expect "diagnose, nothing there" 1 $? "$out" "✖ unreachable: cannot connect to 127.0.0.1:1"
out=$("$ctl_bin" --admin 127.0.0.1:1 check 2>&1)
expect "check, no control plane" 1 $? "$out" "✖ tether-control unreachable at 127.0.0.1:1"
out=$(ctl check --no-control --proxy "$a_admin,$b_admin" 2>&1)
expect "check --no-control" 0 $? "$out" "trust bundles identical across 2 proxies"
[[ "$out" != *"control plane"$'\n'"-----"* && "$out" != *"tether-control reachable"* ]] ||
  fail "check --no-control looked at the control plane"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
