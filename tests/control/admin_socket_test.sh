#!/usr/bin/env bash
# The control plane's admin API on a Unix socket, attacked by a local user:
#   - an unprivileged user (nobody) cannot mint a join token, list workloads
#     or apply a policy: the socket file's mode refuses the connect, tetherctl
#     says so, and the control plane never sees the call (no token minted);
#   - a member of --admin-socket-group can; root can;
#   - $TETHER_ADMIN is found; the socket file is removed on SIGTERM, and one
#     left by a SIGKILLed control plane is taken over on restart, while a
#     second instance on a live socket is refused;
#   - a TCP admin listener still works (old scripts) and warns that every
#     local user may use it.
# Needs root (drops to nobody with setpriv).
#   admin_socket_test.sh path/to/tether-control path/to/tetherctl
set -uo pipefail
control=$1
ctl_src=$2
# Under /tmp with mode 755: nobody must be able to reach the socket's
# directory and run tetherctl, so that only the socket's mode stops it.
dir=$(mktemp -d /tmp/tether-admin-socket.XXXXXX)
chmod 755 "$dir"
install -m 0755 "$ctl_src" "$dir/tetherctl"
ctl_bin=$dir/tetherctl
sock=$dir/run/control.sock
pid=""
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
operators=4242  # a group number no account here has

start() {  # start LOG FLAGS...: tether-control in the background, until it serves
  local log=$1
  shift
  "$control" --state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
    --audit-log "$dir/audit.jsonl" "$@" 2>"$log" &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q "admin on " "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$log"
  echo "FAIL: tether-control did not start"
  exit 1
}
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
as_operator() { setpriv --reuid 65534 --regid 65534 --groups "$operators" "$@"; }
tokens_minted() { grep -c '"event":"join_token_created"' "$dir/audit.jsonl" 2>/dev/null || true; }

# 1. The default mode (0660, the process's group): nobody is refused.
start "$dir/control-1.log" --admin-listen "unix:$sock"
mode=$(stat -c '%a %U %g' "$sock")
[[ $mode == "660 root 0" ]] && ok "socket is 0660 root:0" || fail "socket mode/owner: $mode"
before=$(tokens_minted)
out=$(as_nobody "$ctl_bin" --admin "unix:$sock" token create --namespace shop \
  --service-account cart 2>&1)
rc=$?
[[ $rc -ne 0 ]] && ok "nobody: token create refused (exit $rc)" || fail "nobody minted a token: $out"
grep -q "permission denied" <<<"$out" && grep -q "ls -l $sock" <<<"$out" &&
  ok "tetherctl says why: permission denied, see the file's mode" ||
  fail "tetherctl's message does not say why: $out"
[[ $(tokens_minted) == "$before" ]] && ok "no token was minted" || fail "a token was minted"
as_nobody "$ctl_bin" --admin "unix:$sock" workloads >/dev/null 2>&1 &&
  fail "nobody listed workloads" || ok "nobody: workloads refused"
printf 'apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: d, namespace: shop}\nspec: {default: ALLOW}\n' \
  >"$dir/allow.yaml"
chmod 644 "$dir/allow.yaml"
as_nobody "$ctl_bin" --admin "unix:$sock" policy apply -f "$dir/allow.yaml" >/dev/null 2>&1 &&
  fail "nobody applied a policy" || ok "nobody: policy apply refused"
as_nobody env TETHER_ADMIN="unix:$sock" "$ctl_bin" ca bundle >/dev/null 2>&1 &&
  fail "nobody read the bundle through \$TETHER_ADMIN" || ok "nobody: refused via \$TETHER_ADMIN too"

# Root (the owner) may; $TETHER_ADMIN is where tetherctl looks.
TETHER_ADMIN="unix:$sock" "$ctl_bin" token create --namespace shop --service-account cart \
  >"$dir/token" 2>&1 && ok "root: token create via \$TETHER_ADMIN" || fail "root: $(cat "$dir/token")"
[[ $(tokens_minted) -eq $((before + 1)) ]] && ok "the control plane minted one token" ||
  fail "tokens minted: $(tokens_minted)"

# A second instance on the live socket is refused; the first keeps serving.
"$control" --state-dir "$dir/state2" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
  --admin-listen "unix:$sock" >"$dir/second.log" 2>&1 &&
  fail "a second tether-control started on the live socket" ||
  { grep -q "another server is listening at unix:$sock" "$dir/second.log" &&
    ok "a second instance is refused: $(tail -1 "$dir/second.log")" ||
    fail "second instance: $(tail -1 "$dir/second.log")"; }
"$ctl_bin" --admin "unix:$sock" workloads >/dev/null 2>&1 && ok "the first still serves" ||
  fail "the first stopped serving"

# 2. SIGKILL leaves the file; the next start takes it over, with a group.
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=""
[[ -S $sock ]] && ok "a SIGKILLed control plane leaves its socket file" || fail "no stale socket"
start "$dir/control-2.log" --admin-listen "unix:$sock" --admin-socket-group "$operators"
[[ $(stat -c '%a %g' "$sock") == "660 $operators" ]] && ok "restarted on the stale path, group $operators" ||
  fail "after restart: $(stat -c '%a %g' "$sock")"
as_operator "$ctl_bin" --admin "unix:$sock" token create --namespace shop --service-account web \
  >"$dir/op-token" 2>&1 && ok "a member of group $operators mints a token" ||
  fail "operator: $(cat "$dir/op-token")"
as_nobody "$ctl_bin" --admin "unix:$sock" workloads >/dev/null 2>&1 &&
  fail "nobody (not in the group) listed workloads" || ok "nobody is still refused"

# SIGTERM removes the socket file.
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
[[ $rc -eq 0 ]] && ok "tether-control exits 0 on SIGTERM" || fail "exit $rc on SIGTERM"
[[ ! -e $sock ]] && ok "the socket file is removed on SIGTERM" || fail "socket file left after SIGTERM"

# 3. TCP still works for old scripts, with a warning.
start "$dir/control-3.log" --admin-listen 127.0.0.1:0
port=$(sed -n 's/.*admin on port \([0-9]*\).*/\1/p' "$dir/control-3.log")
grep -q "open to every local user" "$dir/control-3.log" && ok "TCP admin warns" ||
  fail "no warning for a TCP admin listener: $(cat "$dir/control-3.log")"
"$ctl_bin" --admin "127.0.0.1:$port" workloads >/dev/null 2>&1 && ok "TCP admin serves tetherctl" ||
  fail "TCP admin refused tetherctl"
kill -TERM "$pid"
wait "$pid"
pid=""

# A bad mode or group is refused by name.
"$control" --state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
  --admin-listen "unix:$sock" --admin-socket-mode 0999 >"$dir/bad.log" 2>&1 &&
  fail "started with --admin-socket-mode 0999" ||
  { grep -q -- "--admin-socket-mode" "$dir/bad.log" && ok "bad mode refused: $(tail -1 "$dir/bad.log")" ||
    fail "bad mode: $(cat "$dir/bad.log")"; }
"$control" --state-dir "$dir/state" --trust-domain mesh.test --grpc-listen 127.0.0.1:0 \
  --admin-listen "unix:$sock" --admin-socket-group no-such-group-here >"$dir/bad.log" 2>&1 &&
  fail "started with an unknown group" ||
  { grep -q 'no group named "no-such-group-here"' "$dir/bad.log" && ok "unknown group refused" ||
    fail "unknown group: $(cat "$dir/bad.log")"; }

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
