#!/usr/bin/env bash
# The link emulator's own cost (tools/linkemu, needs root): CPU time per packet and share of
# a core while UDP datagrams cross a 5 ms emulated link at a fixed packet rate, both
# directions of the link emulated (as on the test network's access links). It shapes every
# figure measured on the test network: a packet costs the emulator this much on each link
# it crosses. Moved here from tests/net/test_linkemu.sh: tests do not assert speed.
#   bench/linkemu.sh [--rate PPS] [--count N] [--size BYTES] [--runs N]
#
#   h1 eth0 ---- eth1 rtr eth2 ---- eth0 h2      NFQUEUE 1 <- eth1, NFQUEUE 2 <- eth2
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/net/lib.sh
source "$root/tests/net/lib.sh"
# shellcheck source=../tests/net/routers.sh
source "$root/tests/net/routers.sh"
rate=10000 count=20000 size=1250 runs=3
while (($#)); do
  case $1 in
  --rate) rate=$2 ;;
  --count) count=$2 ;;
  --size) size=$2 ;;
  --runs) runs=$2 ;;
  *) die "usage: bench/linkemu.sh [--rate PPS] [--count N] [--size BYTES] [--runs N]" ;;
  esac
  shift 2
done
net_require_root
net_begin
PROBE=$(net_bin ntm-udpprobe)
ns_add h1
ns_add rtr
ns_add h2
ns_forwarding rtr
veth h1 eth0 rtr eth1
veth rtr eth2 h2 eth0
addr h1 eth0 198.18.1.10/24
addr rtr eth1 198.18.1.1/24
addr rtr eth2 198.18.2.1/24
addr h2 eth0 198.18.2.10/24
route h1 default 198.18.1.1
route h2 default 198.18.2.1
link_emulate rtr eth1 eth2 "--delay 5ms" "--delay 5ms"
emu=$(cat "$NET_STATE/linkemu-rtr.pid")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
interval=$((1000000 / rate))
mbit=$(awk -v r="$rate" -v s="$size" 'BEGIN {printf "%.0f", r * s * 8 / 1e6}')
echo "ntm-linkemu: $count UDP datagrams of $size bytes at $rate/s ($mbit Mbit/s) through a 5 ms link"
results=()
for run in $(seq "$runs"); do
  bg h2 "sink$run" "$PROBE" sink --bind 0.0.0.0:$((5000 + run)) --idle 1000 --timeout 60000
  sink=$BG_PID
  bg_wait_line "sink$run" '^listening' 5
  t0=$(ticks "$emu")
  w0=$EPOCHREALTIME
  n h1 "$PROBE" send --to 198.18.2.10:$((5000 + run)) --count "$count" --interval-us "$interval" \
    --size "$size" >/dev/null
  w1=$EPOCHREALTIME
  t1=$(ticks "$emu")
  wait "$sink" || true
  received=$(awk '/^received/ {print $2}' "$(bg_log "sink$run")")
  read -r cpu us < <(awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$w0" -v b="$w1" -v n="$count" \
    'BEGIN {printf "%.1f %.1f\n", 100 * t / hz / (b - a), 1e6 * t / hz / n}')
  echo "  run $run: $received/$count arrived; emulator CPU $cpu % of a core, $us us per packet"
  results+=("$us $cpu")
done
printf '%s\n' "${results[@]}" | sort -g | awk '{us[NR] = $1; cpu[NR] = $2}
  END {m = int((NR + 1) / 2); printf "median: %s us per packet, %s %% of a core\n", us[m], cpu[m]}'
