#!/usr/bin/env bash
# NAT binding expiry: a router's UDP binding timeout is configurable, bindings die when
# idle that long, and keep-alives keep them.
#
#   dc1 198.18.0.11 ---- internet ----+---- rtr-a (EIM NAT, default timeout 30 s) ---- na
#   stun .100/.101                    +---- rtr-c (EIM NAT, timeout set to 2 s)  ---- nc
#
# 1. turnutils_natdiscovery's mapping lifetime test (RFC 5780 §4.6) from nc: a binding
#    idle for 1 s still answers, one idle for 4 s does not.
# 2. Our own probe: nc and na each open a binding towards dc1:7200 and keep it alive with a
#    datagram every 0.7 s; after 3 s dc1 still reaches both. Then the keep-alives stop; after
#    3 s idle dc1 no longer reaches nc (its binding expired at 2 s) but still reaches na.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
stun_up
PROBE=$(net_bin ntm-udpprobe)
TIMEOUT=2
nat_udp_timeout rtr-c "$TIMEOUT"

# Both natdiscovery runs go in the background (the 4 s one takes ~7 s); part 2 runs meanwhile.
(nat_discovery nc 198.18.0.100 -t -T 1 >"$NET_STATE/lifetime1") &
lifetime1=$!
(nat_discovery nc 198.18.0.100 -t -T 4 >"$NET_STATE/lifetime4") &
lifetime4=$!

# --- 2. Keep-alives, then silence -----------------------------------------------------------
# open_binding HOST — HOST runs an echo server on 7200 that punches dc1:7200 every 0.7 s;
# sets MAPPED to the binding dc1 sees and KEEPER to the echo server's pid.
open_binding() {
  local h=$1 rx
  bg dc1 "rx-$h" "$PROBE" echo --bind 0.0.0.0:7200 --count 1 --timeout 5000
  rx=$BG_PID
  bg_wait_line "rx-$h" '^listening' 5
  bg "$h" "keeper-$h" "$PROBE" echo --bind 0.0.0.0:7200 --punch 198.18.0.11:7200 \
    --keepalive 700 --timeout 30000
  KEEPER=$BG_PID
  wait "$rx" || true
  MAPPED=$(awk '/PUNCH/ {print $2; exit}' "$(bg_log "rx-$h")")
}
# reach MAPPED — can dc1:7200 get an answer through the binding?
reach() { n dc1 "$PROBE" probe --bind 0.0.0.0:7200 --to "$1" --tries 2 --timeout 500; }

open_binding nc
mapped_c=$MAPPED keeper_c=$KEEPER
open_binding na
mapped_a=$MAPPED keeper_a=$KEEPER
[[ $mapped_c == 198.18.0.203:* && $mapped_a == 198.18.0.201:* ]] ||
  die "unexpected bindings: nc $mapped_c, na $mapped_a"
sleep 3
expect_ok "keep-alives every 0.7 s hold nc's binding $mapped_c past ${TIMEOUT} s" reach "$mapped_c"
expect_ok "and na's binding $mapped_a" reach "$mapped_a"

# Stop the keep-alives but keep something listening on 7200, so that a datagram that does
# get through is answered.
bg_stop "$keeper_c"
bg_stop "$keeper_a"
bg nc "listen-nc" "$PROBE" echo --bind 0.0.0.0:7200 --timeout 20000
bg_wait_line listen-nc '^listening' 5
bg na "listen-na" "$PROBE" echo --bind 0.0.0.0:7200 --timeout 20000
bg_wait_line listen-na '^listening' 5
sleep 3
expect_fail "after 3 s idle nc's binding (timeout ${TIMEOUT} s) has expired" reach "$mapped_c"
[[ -z $(n rtr-c conntrack -L -p udp -s 192.168.3.10 --sport 7200 2>/dev/null) ]] ||
  die "rtr-c still has a conntrack entry for nc:7200"
pass "rtr-c's conntrack table has no entry for nc:7200 left"
expect_ok "after 3 s idle na's binding (default timeout 30 s) still works" reach "$mapped_a"

# --- 1. An external tool's view -----------------------------------------------------------
wait "$lifetime1" "$lifetime4"
grep -q '^RFC 5780 response 2' "$NET_STATE/lifetime1" ||
  die "natdiscovery: binding idle 1 s did not answer: $(cat "$NET_STATE/lifetime1")"
pass "natdiscovery: a binding idle for 1 s (< ${TIMEOUT} s) is still there"
grep -q '^RFC 5780 response 1' "$NET_STATE/lifetime4" ||
  die "natdiscovery: no first response: $(cat "$NET_STATE/lifetime4")"
if grep -q '^RFC 5780 response 2' "$NET_STATE/lifetime4"; then
  die "natdiscovery: binding idle 4 s still answered"
fi
pass "natdiscovery: a binding idle for 4 s (> ${TIMEOUT} s) is gone"
