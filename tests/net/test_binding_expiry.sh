#!/usr/bin/env bash
# NAT binding expiry: a router's UDP binding timeout is configurable, bindings die when
# idle that long, and keep-alives keep them.
#
#   dc1 198.18.0.11 ---- internet ----+---- rtr-a (EIM NAT, default timeout 30 s) ---- na
#   stun .100/.101                    +---- rtr-c (EIM NAT, timeout set to 4 s)  ---- nc
#
# 1. turnutils_natdiscovery's mapping lifetime test (RFC 5780 §4.6) from nc: a binding
#    idle for 1 s still answers, one idle for 8 s does not.
# 2. Our own probe: nc and na each open a binding towards dc1 (ports 7200 and 7201) and keep
#    it alive with a datagram every 0.5 s; once dc1 has seen 16 of them from each (8 s, twice
#    the timeout), dc1 still reaches both. Then the keep-alives stop: rtr-c's conntrack entry for nc goes
#    away by itself (waited for), after which dc1 no longer reaches nc but still reaches na.
# Every step waits for an event (a datagram seen, a conntrack entry gone), never a sleep; the
# margins (keep-alive 8 times inside the timeout, natdiscovery 3 s either side of it) leave
# room for a slow machine.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
stun_up
PROBE=$(net_bin ntm-udpprobe)
TIMEOUT=4
nat_udp_timeout rtr-c "$TIMEOUT"

# Both natdiscovery runs go in the background (the 8 s one takes ~11 s); part 2 runs meanwhile.
(nat_discovery nc 198.18.0.100 -t -T 1 >"$NET_STATE/lifetime1") &
lifetime1=$!
(nat_discovery nc 198.18.0.100 -t -T 8 >"$NET_STATE/lifetime8") &
lifetime8=$!

# --- 2. Keep-alives, then silence -----------------------------------------------------------
# open_binding HOST PORT — dc1 listens on PORT while HOST runs an echo server on 7200 that
# punches dc1:PORT every 0.5 s; sets MAPPED to the binding dc1 sees, KEEPER to the echo
# server's pid and RX to dc1's listener.
open_binding() {
  local h=$1 port=$2
  bg dc1 "rx-$h" "$PROBE" echo --bind "0.0.0.0:$port" --count 16 --timeout 60000
  RX=$BG_PID
  bg_wait_line "rx-$h" '^listening' 30
  bg "$h" "keeper-$h" "$PROBE" echo --bind 0.0.0.0:7200 --punch "198.18.0.11:$port" \
    --keepalive 500 --timeout 60000
  KEEPER=$BG_PID
  bg_wait_line "rx-$h" '^from .* PUNCH' 30
  MAPPED=$(awk '/PUNCH/ {print $2; exit}' "$(bg_log "rx-$h")")
}
# punches_seen HOST — how many keep-alives dc1 has received from HOST.
punches_seen() { grep -c 'PUNCH' "$(bg_log "rx-$1")" || true; }
# reach PORT MAPPED — can dc1:PORT get an answer through the binding?
reach() { n dc1 "$PROBE" probe --bind "0.0.0.0:$1" --to "$2" --tries 2 --timeout 500; }
# nc_binding_gone — rtr-c no longer tracks nc:7200.
nc_binding_gone() { [[ -z $(n rtr-c conntrack -L -p udp -s 192.168.3.10 --sport 7200 2>/dev/null) ]]; }

open_binding nc 7200
mapped_c=$MAPPED keeper_c=$KEEPER rx_c=$RX
[[ $mapped_c == 198.18.0.203:* ]] || die "unexpected binding for nc: $mapped_c"
wait "$rx_c" || true # the probes below use dc1:7200 themselves
(($(punches_seen nc) == 16)) || die "dc1 saw $(punches_seen nc) of 16 keep-alives from nc"
open_binding na 7201
mapped_a=$MAPPED keeper_a=$KEEPER rx_a=$RX
[[ $mapped_a == 198.18.0.201:* ]] || die "unexpected binding for na: $mapped_a"
wait "$rx_a" || true
(($(punches_seen na) == 16)) || die "dc1 saw $(punches_seen na) of 16 keep-alives from na"
expect_ok "16 keep-alives, 0.5 s apart, held nc's binding $mapped_c past its ${TIMEOUT} s" reach 7200 "$mapped_c"
expect_ok "and na's binding $mapped_a" reach 7201 "$mapped_a"

# Stop the keep-alives but keep something listening on 7200, so that a datagram that does
# get through is answered.
bg_stop "$keeper_c"
bg_stop "$keeper_a"
bg nc "listen-nc" "$PROBE" echo --bind 0.0.0.0:7200 --timeout 60000
bg_wait_line listen-nc '^listening' 30
bg na "listen-na" "$PROBE" echo --bind 0.0.0.0:7200 --timeout 60000
bg_wait_line listen-na '^listening' 30
wait_until 30 nc_binding_gone ||
  die "rtr-c still tracks nc:7200 30 s after its last keep-alive (timeout ${TIMEOUT} s)"
pass "rtr-c's binding for nc:7200 expired by itself once idle"
expect_fail "after it expired, dc1 no longer reaches nc through $mapped_c" reach 7200 "$mapped_c"
expect_ok "na's binding (default timeout 30 s) idle as long still works" reach 7201 "$mapped_a"

# --- 1. An external tool's view -----------------------------------------------------------
wait "$lifetime1" "$lifetime8"
grep -q '^RFC 5780 response 2' "$NET_STATE/lifetime1" ||
  die "natdiscovery: binding idle 1 s did not answer: $(cat "$NET_STATE/lifetime1")"
pass "natdiscovery: a binding idle for 1 s (< ${TIMEOUT} s) is still there"
grep -q '^RFC 5780 response 1' "$NET_STATE/lifetime8" ||
  die "natdiscovery: no first response: $(cat "$NET_STATE/lifetime8")"
if grep -q '^RFC 5780 response 2' "$NET_STATE/lifetime8"; then
  die "natdiscovery: binding idle 8 s still answered"
fi
pass "natdiscovery: a binding idle for 8 s (> ${TIMEOUT} s) is gone"
