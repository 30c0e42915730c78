#!/usr/bin/env bash
# The Notification Server's idle cost (issue 12): one ntm-ns process and N idle authenticated
# nodes (default 19000), each a TCP connection that made the node's handshake and one ping
# (docs/protocol.md §17.1) and then stays silent. Prints the connections the NS holds
# (confirmed, from its own counters), its RSS before and after and the bytes per connection;
# then the keep-alive bytes per node and hour with and without the NS, from the wire sizes of
# the packets involved. No root needed (the fd hard limit must allow N + a few per process;
# the client side is spread over processes of at most 9500 connections each).
#
#   bench/ns_idle.sh [--nodes N]
set -euo pipefail
N=19000
while (($#)); do
  case $1 in
    --nodes) N=$2; shift 2 ;;
    *) echo "usage: $0 [--nodes N]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"
work_dir ntm-nsidle
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < N + 64)); then
  echo "the descriptor limit $(ulimit -n) is below $N + 64: lower --nodes" >&2
  exit 1
fi

ns_key=$("$bin/ntm-ns" --state-dir "$work/ns" --print-public-key)
printf '%s\n' "state-dir = $work/ns" "node-listen = 127.0.0.1:0" "dc-listen = 127.0.0.1:0" \
  "port-file = $work/ns.port" "max-connections = $((N + 100))" "handshake-rate = 1000000" \
  "handshake-burst = 1000000" >"$work/ns.conf"
"$bin/ntm-ns" --config "$work/ns.conf" 2>"$work/ns.log" &
ns_pid=$!
pids+=("$ns_pid")
for _ in $(seq 200); do [ -s "$work/ns.port" ] && break; sleep 0.05; done
[ -s "$work/ns.port" ] || { cat "$work/ns.log"; echo "ntm-ns did not start"; exit 1; }
port=$(head -1 "$work/ns.port")
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
sleep 0.5
before=$(rss "$ns_pid")

per=9500
procs=$(((N + per - 1) / per))
start=$(date +%s.%N)
for ((i = 0; i < procs; i++)); do
  count=$((N - i * per < per ? N - i * per : per))
  mkfifo "$work/in$i"
  # Each client process from its own 16 loopback source addresses (ephemeral ports per source).
  "$bin/ntm-ns-load" --port "$port" --ns-key "$ns_key" --count "$count" --sources 16 \
    --first-source $((1 + 16 * i)) <"$work/in$i" >"$work/load$i.out" 2>&1 &
  pids+=($!)
  exec {fd}>"$work/in$i"  # held open: the load processes keep their connections until exit
done
for ((i = 0; i < procs; i++)); do
  for _ in $(seq 1200); do grep -q '^up' "$work/load$i.out" && break; sleep 0.1; done
done
end=$(date +%s.%N)
up=$(cat "$work"/load*.out | awk '/^up/ {s += $2} END {print s + 0}')
failed=$(cat "$work"/load*.out | awk '/^up/ {s += $4} END {print s + 0}')
sleep 2  # the sweep runs; nothing is sent by anyone
kill -HUP "$ns_pid"
sleep 0.5
line=$(grep 'confirmed_now=' "$work/ns.log" | tail -1)
confirmed=$(sed -E 's/.*confirmed_now=([0-9]+).*/\1/' <<<"$line")
after=$(rss "$ns_pid")
echo "ntm-ns idle connections: $N asked, $up up at the clients ($failed failed), $confirmed" \
  "confirmed at the NS, set up in $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
awk -v b="$before" -v a="$after" -v n="$confirmed" 'BEGIN {
  printf "ntm-ns RSS: %.1f MiB before, %.1f MiB with the connections: %.0f bytes per connection\n",
    b / 1048576, a / 1048576, n ? (a - b) / n : 0 }'

# Keep-alive bytes per node and hour, IPv4, from the wire sizes (docs/protocol.md §2.2, §4.4.9,
# §17.1). Without the NS: a keep-alive (8-byte control header, sealed: +32) and its ack (header
# + NatAddress 4 + 7, sealed) every 15 s, each in IPv4 (20) + UDP (8). With the NS: a ping and
# its pong (2-byte length + 33 sealed bytes) every 600 s, each in IPv4 (20) + TCP with
# timestamps (32), plus the pure ACK of the pong (52; the pong carries the ping's ACK), and the
# DC keep-alive and ack every lifetime / 3 = 1200 s.
ka=$((20 + 8 + 8 + 32))
ack=$((20 + 8 + 8 + 11 + 32))
ping=$((20 + 32 + 2 + 33))
tcp_ack=$((20 + 32))
without=$(((ka + ack) * 3600 / 15))
with_ns=$(((2 * ping + tcp_ack) * 3600 / 600 + (ka + ack) * 3600 / 1200))
echo "keep-alive bytes per node and hour (both directions, IPv4): without the NS $without" \
  "(keep-alive $ka + ack $ack every 15 s), with the NS $with_ns (ping $ping + pong $ping +" \
  "TCP ACK $tcp_ack every 600 s, and keep-alive + ack every 1200 s): $(awk -v a="$without" \
  -v b="$with_ns" 'BEGIN {printf "%.1f", a / b}')x less"
