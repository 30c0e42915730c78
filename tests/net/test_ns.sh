#!/usr/bin/env bash
# The Notification Server on the test network (issue 12; docs/protocol.md §17): a node behind
# LAN A's NAT whose UDP binding to the DC has expired is still reached when a peer opens a
# tunnel to it, because the DC has the NS wake it. The NS is two ntm-ns processes sharing the
# node port 198.18.0.40:7400 (reuse-port, the same ns.key), each with its own DC channel
# (:7401, :7402); the DC lists both (ns-dc twice) and asks both (docs/admin.md "Running several
# ntm-ns processes").
#
#   dc1 198.18.0.11, ns1+ns2 198.18.0.40 ---- internet ----+---- rtr-a (EIM NAT, UDP timeout 5 s) ---- mn
#                                                           +---- rtr-g (routed) ---- ng
#
# 1. With the NS: mn (NTM_NOTIFICATION=1) registers, connects to the NS, and from then on sends
#    DC keep-alives only every 1200 s (lifetime 3600 s / 3): effectively none. Once rtr-a's
#    UDP binding for mn is gone (waited for in conntrack), ng connects to mn through NTM and
#    sends 200 kB: they arrive byte-exact, mn logged the NS's notify, exactly one ntm-ns
#    process logged the notify it sent, and the DC counts the notification and a prompt resend
#    of the route direction.
# 2. Without the NS (NTM_NOTIFICATION=0, same 5 s timeout): mn keeps the 15 s keep-alive
#    default, so its binding lives 5 s of every 15; the same transfer still completes once the
#    next keep-alive re-opens it.
# 3. ns-restart: the ntm-ns process holding mn's connection is killed (SIGKILL); mn reconnects
#    (backoff 1 s) to the surviving process; the killed one is started again; once mn's binding
#    expired, ng sends 200 kB: byte-exact, and an NS process logged the notify as sent.
# 4. ns-down: both ntm-ns processes are killed; mn falls back to 15 s DC keep-alives; once its
#    binding expired, ng sends 200 kB: byte-exact (the next keep-alive re-opens the binding).
# The time each round took is printed, never asserted.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc)
NS=$(net_bin ntm-ns)
CAT=$(net_bin ntm-cat)
nat_udp_timeout rtr-a 5

DC_KEY=$("$DC" --state-dir "$NET_STATE/dc" --print-public-key)
# Both NS processes have the same static key: the first creates ns.key, the second gets a copy.
NS_KEY=$("$NS" --state-dir "$NET_STATE/ns1" --print-public-key)
mkdir -p "$NET_STATE/ns2"
cp -p "$NET_STATE/ns1/ns.key" "$NET_STATE/ns2/ns.key"
[[ $("$NS" --state-dir "$NET_STATE/ns2" --print-public-key) == "$NS_KEY" ]] ||
  die "the copied ns.key gives another public key"
declare -A NS_PID
# ns_start I LOGNAME — NS process I (1 or 2): the shared node port, its own DC channel :740(I).
ns_start() {
  bg ns "$2" "$NS" --state-dir "$NET_STATE/ns$1" --node-listen 198.18.0.40:7400 --reuse-port true \
    --dc-listen "198.18.0.40:740$1" --dc-key "$DC_KEY"
  NS_PID[$1]=$BG_PID
  bg_wait_line "$2" 'NS up' 30
}
# ns_kill I — SIGKILL NS process I, and reap it.
ns_kill() {
  kill -KILL "${NS_PID[$1]}"
  wait "${NS_PID[$1]}" 2>/dev/null || true
}
ns_start 1 ns1
ns_start 2 ns2
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain dc1.ntm.test \
  --vip4-pool 100.64.0.0/24 --vip6-pool none --ns 198.18.0.40:7400 --ns-dc 198.18.0.40:7401 \
  --ns-dc 198.18.0.40:7402 --ns-key "$NS_KEY"
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30
bg_wait_line dc 'DC channels of its processes: 198\.18\.0\.40:7401, 198\.18\.0\.40:7402' 10
# count REGEX LOG... — lines matching REGEX in the logs (0 for a log not written yet).
count() {
  local re=$1 n=0 f c
  shift
  for f in "$@"; do
    c=$(grep -Ec "$re" "$(bg_log "$f")" 2>/dev/null || true)
    n=$((n + ${c:-0}))
  done
  echo "$n"
}
head -c 200000 /dev/urandom >"$NET_STATE/data.bin"

# mn_binding_gone — rtr-a tracks no UDP flow of mn any more (its binding to the DC expired).
mn_binding_gone() { [[ -z $(n rtr-a conntrack -L -p udp -s 192.168.1.100 2>/dev/null) ]]; }

# mn_listen NAME NOTIFICATION — mn listens (log mn.NAME) with NTM_NOTIFICATION set so, and,
# with 1, waits until its NS connection is up. Sets MN_PID.
mn_listen() {
  local name=$1 notification=$2 got=$NET_STATE/got.$1
  : >"$got"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell: stdout to $got
  bg mn "mn.$name" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$got" \
    env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME=mn NTM_STATE_DIR="$NET_STATE/node-mn" \
    NTM_NOTIFICATION="$notification" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 \
    timeout 120 "$CAT" -v -l 9000
  MN_PID=$BG_PID
  bg_wait_line "mn.$name" listening 30
  if [[ $notification == 1 ]]; then
    bg_wait_line "mn.$name" 'notification server connection up' 30
  fi
}

# send_to_mn NAME — once rtr-a's UDP binding for mn expired, ng sends the data to mn (started
# by mn_listen NAME); byte-exact. Sets TOOK (ms from ng's start to the last byte at mn).
send_to_mn() {
  local name=$1 got=$NET_STATE/got.$1
  wait_until 60 mn_binding_gone || die "$name: rtr-a kept mn's UDP binding 60 s"
  pass "$name: rtr-a's UDP binding for mn expired"
  local t0=${EPOCHREALTIME/./}
  ip netns exec "$NET_PREFIX-ng" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME=ng \
    NTM_STATE_DIR="$NET_STATE/node-ng" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 \
    timeout 90 "$CAT" -v mn.dc1.ntm.test 9000 <"$NET_STATE/data.bin" >/dev/null \
    2>"$(bg_log "ng.$name")" || die "$name: ng could not send to mn: $(tail -5 "$(bg_log "ng.$name")")"
  wait "$MN_PID" || die "$name: mn failed: $(tail -5 "$(bg_log "mn.$name")")"
  TOOK=$(((${EPOCHREALTIME/./} - t0) / 1000))
  cmp -s "$NET_STATE/data.bin" "$got" ||
    die "$name: mn received $(stat -c %s "$got") bytes, or other ones, of 200000"
}

# round NAME NOTIFICATION — mn listens, its UDP binding expires, ng sends the data to it.
round() {
  mn_listen "$1" "$2"
  send_to_mn "$1"
}

# --- 1. With the NS ---------------------------------------------------------------------------
round with-ns 1
grep -q 'the DC has a request waiting' "$(bg_log mn.with-ns)" ||
  die "mn got no notify from the NS: $(grep -i notification "$(bg_log mn.with-ns)")"
senders=0
for log in ns1 ns2; do
  if grep -q 'notify .*: sent' "$(bg_log $log)"; then senders=$((senders + 1)); fi
done
((senders == 1)) || die "$senders ntm-ns processes logged the notify as sent, not 1:" \
  "$(grep -H 'notify' "$(bg_log ns1)" "$(bg_log ns2)")"
grep -q 'registration mn.dc1.ntm.test .*(notification server)' "$(bg_log dc)" ||
  die "the DC did not register mn with the NS flag"
with_ns=$TOOK
pass "with the NS: ng reached mn after its UDP binding expired (NS notify, keep-alive, route" \
  "direction); 200 kB byte-exact in ${with_ns} ms"

# --- 2. Without the NS ------------------------------------------------------------------------
round without-ns 0
if grep -q 'notification server' "$(bg_log mn.without-ns)"; then
  die "mn used the NS with NTM_NOTIFICATION=0"
fi
pass "without the NS (15 s keep-alives, 5 s UDP timeout): 200 kB byte-exact in ${TOOK} ms" \
  "(with the NS: ${with_ns} ms)"
kill -HUP "$(awk '$2 == "dc" {print $1}' "$NET_STATE/pids")"
wait_until 10 grep -q ' ns: notifications=' "$(bg_log dc)" || die "no DC stats line"
dc_ns=$(grep -o ' ns: .*' "$(bg_log dc)" | tail -1)
# One notification (the route direction to mn in round 1; in round 2 mn has no NS flag), asked
# of both processes and counted once, one process wrote it, and mn's keep-alive sent the
# waiting route direction again at once.
[[ $dc_ns == *' notifications=1 sent=1 '* && $dc_ns != *' prompt_resends=0'* &&
  ($dc_ns == *' processes=2 sent_by_process=1,0'* ||
  $dc_ns == *' processes=2 sent_by_process=0,1'*) ]] ||
  die "DC counters: $dc_ns"
pass "DC:$dc_ns"

# --- 3. ns-restart: the process holding mn's connection dies ---------------------------------
t_round=${EPOCHREALTIME/./}
declare -A BEFORE=([1]=$(count 'node .* connected' ns1) [2]=$(count 'node .* connected' ns2))
mn_listen ns-restart 1
# mn_connected_to — which NS process logged mn's connection since mn started (sets HOLDER).
mn_connected_to() {
  local i
  for i in 1 2; do
    if (($(count 'node .* connected' "ns$i") > BEFORE[$i])); then
      HOLDER=$i
      return 0
    fi
  done
  return 1
}
wait_until 10 mn_connected_to || die "ns-restart: no NS process logged mn's connection"
mn_connected_to
survivor=$((3 - HOLDER))
ns_kill "$HOLDER"
pass "ns-restart: killed ntm-ns process $HOLDER, which held mn's connection"
mn_ups() { (($(count 'notification server connection up' mn.ns-restart) >= 2)); }
bg_wait_line mn.ns-restart 'notification server connection down' 15
wait_until 30 mn_ups || die "ns-restart: mn did not reconnect: $(tail -5 "$(bg_log mn.ns-restart)")"
(($(count 'node .* connected' "ns$survivor") > BEFORE[$survivor])) ||
  die "ns-restart: mn's new connection is not at the surviving process $survivor"
pass "ns-restart: mn logged its NS connection down, then up again at process $survivor"
ns_start "$HOLDER" "ns$HOLDER.restarted"
sent_before=$(count 'notify .*: sent' ns1 ns2 ns"$HOLDER".restarted)
send_to_mn ns-restart
(($(count 'notify .*: sent' ns1 ns2 ns"$HOLDER".restarted) > sent_before)) ||
  die "ns-restart: no NS process logged a notify as sent"
grep -q 'the DC has a request waiting' "$(bg_log mn.ns-restart)" ||
  die "ns-restart: mn got no notify from the NS"
pass "ns-restart: 200 kB byte-exact to mn through the surviving process's notify;" \
  "transfer ${TOOK} ms, round $(((${EPOCHREALTIME/./} - t_round) / 1000)) ms"

# --- 4. ns-down: no NS process at all --------------------------------------------------------
t_round=${EPOCHREALTIME/./}
mn_listen ns-down 1
ns_kill 1
ns_kill 2
bg_wait_line mn.ns-down 'notification server connection down: DC keep-alives every 15000 ms' 15
pass "ns-down: both NS processes killed; mn keeps its binding with 15 s DC keep-alives"
send_to_mn ns-down
pass "ns-down: 200 kB byte-exact to mn through its 15 s keep-alive;" \
  "transfer ${TOOK} ms, round $(((${EPOCHREALTIME/./} - t_round) / 1000)) ms"
