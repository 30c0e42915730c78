#!/usr/bin/env bash
# The move helper: mn switches between LAN A and LAN C as a Wi-Fi -> LTE handover would.
#
#   dc1 198.18.0.11 ---- internet ----+---- rtr-a (EIM NAT 198.18.0.201) ---- na, mn (eth-a 192.168.1.100)
#                                     +---- rtr-c (EIM NAT 198.18.0.203) ---- nc  (mn: eth-c 192.168.3.100)
#
# 1. On LAN A: mn has eth-a/192.168.1.100, its default route via 192.168.1.1, and dc1 sees
#    its flows from 198.18.0.201.
# 2. `topology.sh move mn c` (break before make): eth-a and its address are gone, eth-c has
#    192.168.3.100 and the default route, dc1 sees mn from 198.18.0.203; na no longer
#    reaches mn, nc does.
# 3. Make before break, step by step: both links up at once with the default route on the
#    new one, then the old one removed; mn is back on LAN A.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
PROBE=$(net_bin ntm-udpprobe)
TOPOLOGY="$(dirname "$0")/topology.sh"

bg dc1 echo-dc1 "$PROBE" echo --bind 0.0.0.0:7000 --timeout 60000
bg_wait_line echo-dc1 '^listening' 30
bg mn echo-mn "$PROBE" echo --bind 0.0.0.0:7000 --timeout 60000
bg_wait_line echo-mn '^listening' 30

# seen_from — the source address dc1 sees for a flow from mn.
seen_from() { n mn "$PROBE" probe --to 198.18.0.11:7000 | sed -n 's/^ok observed=\([0-9.]*\):.*/\1/p'; }
default_via() { n mn ip route show default | awk '{print $3}'; }
mn_v4() { n mn ip -4 -o addr show scope global | awk '{print $2, $4}' | tr '\n' ' ' | sed 's/ $//'; }

# --- 1. On LAN A ------------------------------------------------------------------------
[[ $(node_lan mn) == a ]] || die "mn starts on LAN '$(node_lan mn)', not a"
[[ $(mn_v4) == "eth-a 192.168.1.100/24" ]] || die "mn on LAN A has '$(mn_v4)'"
[[ $(default_via) == 192.168.1.1 ]] || die "mn's default route is via $(default_via)"
[[ $(seen_from) == 198.18.0.201 ]] || die "dc1 sees mn from '$(seen_from)', not rtr-a"
expect_ok "na reaches mn on LAN A" n na "$PROBE" probe --to 192.168.1.100:7000
pass "mn on LAN A: eth-a 192.168.1.100, default via 192.168.1.1, seen from 198.18.0.201"

# --- 2. Break before make, through the command line -----------------------------------------
t0=$EPOCHREALTIME
bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
t1=$EPOCHREALTIME
[[ $(node_lan mn) == c ]] || die "after move mn is on LAN '$(node_lan mn)'"
[[ $(mn_v4) == "eth-c 192.168.3.100/24" ]] || die "mn on LAN C has '$(mn_v4)'"
[[ $(default_via) == 192.168.3.1 ]] || die "mn's default route is via $(default_via)"
[[ $(seen_from) == 198.18.0.203 ]] || die "dc1 sees mn from '$(seen_from)', not rtr-c"
expect_fail "na no longer reaches mn's old address" \
  n na "$PROBE" probe --to 192.168.1.100:7000 --tries 2 --timeout 400
expect_ok "nc reaches mn on LAN C" n nc "$PROBE" probe --to 192.168.3.100:7000
pass "moved to LAN C in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}') ms:" \
  "eth-c 192.168.3.100, default via 192.168.3.1, seen from 198.18.0.203"

# --- 3. Make before break ------------------------------------------------------------------
node_attach mn a
[[ $(node_lan mn) == "a c" ]] || die "during make-before-break mn is on '$(node_lan mn)'"
[[ $(default_via) == 192.168.1.1 ]] || die "the new link did not take the default route"
expect_ok "with both links up, LAN C still reaches mn" n nc "$PROBE" probe --to 192.168.3.100:7000
expect_ok "with both links up, LAN A reaches mn" n na "$PROBE" probe --to 192.168.1.100:7000
node_detach mn c
[[ $(node_lan mn) == a && $(mn_v4) == "eth-a 192.168.1.100/24" ]] || die "mn did not end on LAN A"
[[ $(seen_from) == 198.18.0.201 ]] || die "dc1 sees mn from '$(seen_from)' after moving back"
pass "make before break: both links for a moment, then only LAN A again"
