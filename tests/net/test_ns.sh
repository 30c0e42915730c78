#!/usr/bin/env bash
# The Notification Server on the test network (issue 12; docs/protocol.md §17): a node behind
# LAN A's NAT whose UDP binding to the DC has expired is still reached when a peer opens a
# tunnel to it, because the DC has the NS wake it.
#
#   dc1 198.18.0.11, ns 198.18.0.40 ---- internet ----+---- rtr-a (EIM NAT, UDP timeout 5 s) ---- mn
#                                                      +---- rtr-g (routed) ---- ng
#
# 1. With the NS: mn (NTM_NOTIFICATION=1) registers, connects to the NS, and from then on sends
#    DC keep-alives only every 1200 s (lifetime 3600 s / 3): effectively none. Once rtr-a's
#    UDP binding for mn is gone (waited for in conntrack), ng connects to mn through NTM and
#    sends 200 kB: they arrive byte-exact, mn logged the NS's notify, ntm-ns logged the notify
#    it sent, and the DC counts the notification and a prompt resend of the route direction.
# 2. Without the NS (NTM_NOTIFICATION=0, same 5 s timeout): mn keeps the 15 s keep-alive
#    default, so its binding lives 5 s of every 15; the same transfer still completes once the
#    next keep-alive re-opens it. The time each took is printed, never asserted.
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
NS_KEY=$("$NS" --state-dir "$NET_STATE/ns" --print-public-key)
bg ns ns "$NS" --state-dir "$NET_STATE/ns" --node-listen 198.18.0.40:7400 \
  --dc-listen 198.18.0.40:7401 --dc-key "$DC_KEY"
bg_wait_line ns 'NS up' 30
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain dc1.ntm.test \
  --vip4-pool 100.64.0.0/24 --vip6-pool none --ns 198.18.0.40:7400 --ns-dc 198.18.0.40:7401 \
  --ns-key "$NS_KEY"
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30
head -c 200000 /dev/urandom >"$NET_STATE/data.bin"

# mn_binding_gone — rtr-a tracks no UDP flow of mn any more (its binding to the DC expired).
mn_binding_gone() { [[ -z $(n rtr-a conntrack -L -p udp -s 192.168.1.100 2>/dev/null) ]]; }

# round NAME NOTIFICATION — mn listens with NTM_NOTIFICATION set so, its UDP binding expires,
# then ng sends the data to it. Sets TOOK (ms from ng's start to the last byte at mn).
round() {
  local name=$1 notification=$2 got=$NET_STATE/got.$1
  : >"$got"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell: stdout to $got
  bg mn "mn.$name" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$got" \
    env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME=mn NTM_STATE_DIR="$NET_STATE/node-mn" \
    NTM_NOTIFICATION="$notification" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 \
    timeout 120 "$CAT" -v -l 9000
  local mn_pid=$BG_PID
  bg_wait_line "mn.$name" listening 30
  if [[ $notification == 1 ]]; then
    bg_wait_line "mn.$name" 'notification server connection up' 30
  fi
  wait_until 60 mn_binding_gone || die "$name: rtr-a kept mn's UDP binding 60 s"
  pass "$name: rtr-a's UDP binding for mn expired"
  local t0=${EPOCHREALTIME/./}
  ip netns exec "$NET_PREFIX-ng" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME=ng \
    NTM_STATE_DIR="$NET_STATE/node-ng" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 \
    timeout 90 "$CAT" -v mn.dc1.ntm.test 9000 <"$NET_STATE/data.bin" >/dev/null \
    2>"$(bg_log "ng.$name")" || die "$name: ng could not send to mn: $(tail -5 "$(bg_log "ng.$name")")"
  wait "$mn_pid" || die "$name: mn failed: $(tail -5 "$(bg_log "mn.$name")")"
  TOOK=$(((${EPOCHREALTIME/./} - t0) / 1000))
  cmp -s "$NET_STATE/data.bin" "$got" ||
    die "$name: mn received $(stat -c %s "$got") bytes, or other ones, of 200000"
}

# --- 1. With the NS ---------------------------------------------------------------------------
round with-ns 1
grep -q 'the DC has a request waiting' "$(bg_log mn.with-ns)" ||
  die "mn got no notify from the NS: $(grep -i notification "$(bg_log mn.with-ns)")"
grep -q 'notify .*: sent' "$(bg_log ns)" || die "ntm-ns logged no notify: $(tail -5 "$(bg_log ns)")"
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
# One notification (the route direction to mn in round 1; in round 2 mn has no NS flag), the
# NS wrote it, and mn's keep-alive sent the waiting route direction again at once.
[[ $dc_ns == *' notifications=1 sent=1 '* && $dc_ns != *' prompt_resends=0'* ]] ||
  die "DC counters: $dc_ns"
pass "DC:$dc_ns"
