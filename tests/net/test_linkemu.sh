#!/usr/bin/env bash
# Link emulator accuracy: delay, jitter and loss. (Its CPU cost is a benchmark, not a test:
# bench/linkemu.sh.)
#
#   h1 ---------------------- rtr ---------------------- h2
#   eth0                 eth1     eth2                   eth0
#   198.18.1.10/24  198.18.1.1    198.18.2.1     198.18.2.10/24
#   2001:db8:1::10  2001:db8:1::1 2001:db8:2::1  2001:db8:2::10
#                    NFQUEUE 1 <- eth1 (up)   NFQUEUE 2 <- eth2 (down)
#
# Checks (issue 3, item 3): 5 ms one way in each direction adds at least 10 ms (and less than
# 20) to the ping RTT (the smallest of 50, IPv4 and IPv6); 10 % loss drops 10 % +- 3 % of 1000 UDP datagrams, and every
# drop is the emulator's; jitter spreads the RTT without ever making it shorter than the
# delay allows.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=routers.sh
source "$(dirname "$0")/routers.sh"
net_require_root
net_begin
PROBE=$(net_bin ntm-udpprobe)

ns_add h1
ns_add rtr
ns_add h2
ns_forwarding rtr
veth h1 eth0 rtr eth1
veth rtr eth2 h2 eth0
addr h1 eth0 198.18.1.10/24 2001:db8:1::10/64
addr rtr eth1 198.18.1.1/24 2001:db8:1::1/64
addr rtr eth2 198.18.2.1/24 2001:db8:2::1/64
addr h2 eth0 198.18.2.10/24 2001:db8:2::10/64
route h1 default 198.18.1.1
route h1 default 2001:db8:1::1
route h2 default 198.18.2.1
route h2 default 2001:db8:2::1

# min_rtt NS DEST COUNT — the smallest ping RTT in ms of COUNT (after one warm-up ping for
# ARP/ND). The minimum, not the median: on a machine whose cores are all busy, the emulator (a
# userspace process) and ping wait for the CPU on most packets, which lengthens the median
# by milliseconds; the fastest of 50 shows what the emulator itself adds.
min_rtt() {
  n "$1" ping -c 1 -W 2 "$2" >/dev/null
  n "$1" ping -n -c "$3" -i 0.02 -W 2 "$2" |
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g |
    awk 'NR == 1 {printf "%.3f\n", $1; found = 1} END {exit !found}'
}

# within VALUE LOW HIGH — LOW <= VALUE <= HIGH (decimals allowed).
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(v >= lo && v <= hi)}'; }

# --- Delay ------------------------------------------------------------------------------
base4=$(min_rtt h1 198.18.2.10 50)
base6=$(min_rtt h1 2001:db8:2::10 50)
log "baseline RTT without the emulator: IPv4 $base4 ms, IPv6 $base6 ms"

link_emulate rtr eth1 eth2 "--delay 5ms" "--delay 5ms"
rtt4=$(min_rtt h1 198.18.2.10 50)
rtt6=$(min_rtt h1 2001:db8:2::10 50)
added4=$(awk -v a="$rtt4" -v b="$base4" 'BEGIN {printf "%.3f", a - b}')
added6=$(awk -v a="$rtt6" -v b="$base6" 'BEGIN {printf "%.3f", a - b}')
# Never sooner than the delay (not even the fastest packet), and less than the delay applied
# twice; how close to 10 ms the emulator keeps on a busy machine is a figure of
# bench/linkemu.sh, not asserted here.
within "$added4" 9.5 19.5 || die "IPv4: 5 ms each way added $added4 ms to the RTT, want [9.5, 19.5)"
pass "IPv4: 5 ms each way adds $added4 ms to the smallest RTT"
within "$added6" 9.5 19.5 || die "IPv6: 5 ms each way added $added6 ms to the RTT, want [9.5, 19.5)"
pass "IPv6: 5 ms each way adds $added6 ms to the smallest RTT"

# Asymmetric: only the downlink delays.
link_set rtr up --delay 0
link_set rtr down --delay 20ms
rtt=$(min_rtt h1 198.18.2.10 20)
within "$rtt" 19.5 39 || die "0 ms up + 20 ms down gave RTT $rtt ms"
pass "asymmetric link: 0 ms up + 20 ms down gives RTT $rtt ms"

# --- Jitter ------------------------------------------------------------------------------
link_set rtr both --delay 5ms --jitter 2ms
mapfile -t rtts < <(n h1 ping -n -c 50 -i 0.02 198.18.2.10 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
spread=$(printf '%s\n' "${rtts[@]}" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.3f %.3f", lo, hi}')
read -r lo hi <<<"$spread"
# In-order release never lets a packet leave earlier than 5 - 2 ms after it arrived.
within "$lo" 5.9 100 || die "jitter: an RTT of $lo ms is below the 2 x (5 - 2) ms floor"
awk -v lo="$lo" -v hi="$hi" 'BEGIN {exit !(hi - lo > 1)}' || die "jitter 2 ms: RTTs span only $lo..$hi ms"
pass "jitter 2 ms: RTTs span $lo..$hi ms, never below the 6 ms floor"

# --- Loss ---------------------------------------------------------------------------------
link_set rtr both --jitter 0
link_set rtr up --loss 10%
before=$(n rtr "$(net_bin ntm-linkemu)" stats | awk '/^queue=1 / {sub("lost=", "", $4); print $4}')
bg h2 sink "$PROBE" sink --bind 0.0.0.0:5001 --idle 1000 --timeout 30000
sink=$BG_PID
bg_wait_line sink '^listening' 5
n h1 "$PROBE" send --to 198.18.2.10:5001 --count 1000 --interval-us 200 --size 100 >/dev/null
wait "$sink"
received=$(awk '/^received/ {print $2}' "$(bg_log sink)")
after=$(n rtr "$(net_bin ntm-linkemu)" stats | awk '/^queue=1 / {sub("lost=", "", $4); print $4}')
lost=$((1000 - received))
((lost >= 70 && lost <= 130)) || die "10 % loss dropped $lost of 1000 datagrams, want 100 +- 30"
# Every missing datagram is a counted drop. The same 10 % also meets what else crosses the
# queue meanwhile (IPv6 neighbour discovery, MLD reports): a couple more drops may be theirs.
counted=$((after - before))
((counted >= lost && counted <= lost + 3)) ||
  die "the emulator counted $counted drops but $lost datagrams are missing"
pass "10 % loss: $lost of 1000 datagrams lost (want 100 +- 30), all of them by the emulator"
