#!/usr/bin/env bash
# Relay forwarding rate: ntm-rs against coturn's turnserver, same machine, same run (issue 10).
#
# Both relays run on 127.0.0.1, started here; build/bin/relay-load (bench/relay_load.cpp)
# drives each in turn with the same code: one sender and one receiver socket, at most a window
# of datagrams in flight, packets/s and Gbit/s counted at the receiver over --seconds.
#   ntm-rs:     a relay ticket under the relay key and a bind from each side, then relay data
#               (8-byte header + the tunnel packet), forwarded unchanged
#   turnserver: --no-auth, an Allocate and a ChannelBind to the receiver (the TURN peer), then
#               ChannelData (4-byte header + the packet), arriving at the peer as the packet
#   direct:     no relay: the generator's own ceiling on this machine
# Packet sizes: 1452 (a full sealed tunnel packet: 1420-byte inner MTU + 32) and 72 (a sealed
# inner IPv4+TCP ACK: 40 + 32). Windows 128 and 512 are both measured; each relay is reported
# at the window that gave it the higher median (a window coturn's socket cannot absorb loses
# datagrams, which relay-load writes off after 20 ms). Runs alternate the relays, so both see
# the same machine load. Prints medians, the ratio ntm-rs/coturn (target ≥ 2) and bytes on the
# wire (UDP/IPv4, to and from the relay) per byte of application payload, relayed and direct.
# --pin puts the relays on CPU 0 and the generator on CPU 1 (on a machine shared with other
# work that made figures lower and no steadier, so it is off by default). --uclient also runs
# coturn's own turnutils_uclient once against turnutils_peer, for reference (it sends open
# loop and times in whole seconds, so it gives no comparable rate).
#   bench/relay.sh [--runs N] [--seconds S] [--pin] [--uclient]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
runs=5 seconds=2 pin=0 uclient=0
sizes=(1452 72) windows=(128 512)
while (($#)); do
  case $1 in
  --runs) runs=$2 && shift 2 ;;
  --seconds) seconds=$2 && shift 2 ;;
  --pin) pin=1 && shift ;;
  --uclient) uclient=1 && shift ;;
  -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
  *) echo "unknown option $1" >&2 && exit 2 ;;
  esac
done
for b in "$bin/ntm-rs" "$bin/relay-load"; do
  [[ -x $b ]] || { echo "relay.sh: $b missing (scripts/build)" >&2 && exit 1; }
done
command -v turnserver >/dev/null || { echo "relay.sh: turnserver missing (scripts/install-deps: coturn)" >&2 && exit 1; }

# shellcheck source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
work_dir ntm-relay
on_cpu() { if ((pin)); then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
pin_pid() { ((pin)) && taskset -apc 0 "$1" >/dev/null || true; }
udp_listening() { ss -Hlun "sport = :$1" | grep -q .; }

# ntm-rs, quotas out of the way (its defaults cap one node at 50000 packets/s and 50 MB/s).
"$bin/ntm-rs" --generate-key "$work/relay.key"
"$bin/ntm-rs" --listen 127.0.0.1:0 --key-file "$work/relay.key" --port-file "$work/rs.port" \
  --node-pps 1e9 --node-bytes 1e12 --global-pps 1e9 --global-bytes 1e12 --log-level info \
  2>"$work/rs.log" &
pids+=($!)
rs_pid=$!
for _ in $(seq 100); do [[ -s $work/rs.port ]] && break; sleep 0.05; done
rs_port=$(head -1 "$work/rs.port")
pin_pid "$rs_pid"

# turnserver: no configuration file, no authentication, loopback peers allowed, relay ports in
# a range of its own.
turn_port=0
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 10000)) lo=$((40000 + RANDOM % 20000))
  udp_listening "$p" && continue
  turnserver -n --no-auth --listening-ip 127.0.0.1 --listening-port "$p" --relay-ip 127.0.0.1 \
    --allow-loopback-peers --no-cli --no-tls --no-dtls --no-tcp --min-port "$lo" \
    --max-port $((lo + 999)) --log-file "$work/turn.log" --simple-log >/dev/null 2>&1 &
  tpid=$!
  for _ in $(seq 100); do udp_listening "$p" && break; sleep 0.05; done
  if udp_listening "$p"; then
    pids+=("$tpid") turn_port=$p
    break
  fi
  kill "$tpid" 2>/dev/null || true
done
((turn_port)) || { echo "relay.sh: turnserver did not start" >&2 && cat "$work"/turn*.log >&2 && exit 1; }
pin_pid "$tpid"
echo "ntm-rs on 127.0.0.1:$rs_port, $(turnserver --version 2>/dev/null | head -1 || echo turnserver) on 127.0.0.1:$turn_port; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
for ((r = 1; r <= runs; r++)); do
  order=(ntm turn direct)
  ((r % 2)) || order=(turn ntm direct)
  for size in "${sizes[@]}"; do
    for w in "${windows[@]}"; do
      for relay in "${order[@]}"; do
        case $relay in
        ntm) server=(--server "127.0.0.1:$rs_port" --key-file "$work/relay.key") ;;
        turn) server=(--server "127.0.0.1:$turn_port") ;;
        direct) server=() ;;
        esac
        line=$(on_cpu 1 timeout 60 "$bin/relay-load" --relay "$relay" "${server[@]}" --size "$size" \
          --seconds "$seconds" --window "$w") || { echo "relay-load failed: $line" >&2 && exit 1; }
        echo "run $r window $w $line"
        echo "$(field pps "$line") $(field gbps "$line") $(field wire_per_payload "$line") $(field lost "$line")" \
          >>"$work/data.$relay.$size.$w"
      done
    done
  done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v c="$1" '{print $c}' "$2"; }
# The window with the higher median packet rate for (relay, size): "window pps gbps".
best() {
  local out="" top=-1
  for w in "${windows[@]}"; do
    local pps gbps
    pps=$(col 1 "$work/data.$1.$2.$w" | median)
    gbps=$(col 2 "$work/data.$1.$2.$w" | median)
    if awk -v a="$pps" -v b="$top" 'BEGIN {exit !(a > b)}'; then top=$pps out="$w $pps $gbps"; fi
  done
  echo "$out"
}
echo
echo "medians of $runs runs of ${seconds} s (window: datagrams in flight)"
printf '%-6s | %-28s | %-28s | %-7s | %-22s\n' size "ntm-rs pps / Gbit/s (window)" "coturn pps / Gbit/s (window)" ratio "direct pps / Gbit/s"
for size in "${sizes[@]}"; do
  read -r nw npps ngbps <<<"$(best ntm "$size")"
  read -r tw tpps tgbps <<<"$(best turn "$size")"
  read -r _ dpps dgbps <<<"$(best direct "$size")"
  ratio=$(awk -v a="$npps" -v b="$tpps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  printf '%-6s | %9.0f / %6.3f (%4s)     | %9.0f / %6.3f (%4s)     | %5s×  | %9.0f / %6.3f\n' \
    "$size" "$npps" "$ngbps" "$nw" "$tpps" "$tgbps" "$tw" "$ratio" "$dpps" "$dgbps"
done
w=${windows[0]}
echo "bytes on the wire per payload byte (1452-byte packets, 1380 bytes of TCP payload each):" \
  "relayed by ntm-rs $(col 3 "$work/data.ntm.1452.$w" | median)," \
  "by coturn $(col 3 "$work/data.turn.1452.$w" | median), direct $(col 3 "$work/data.direct.1452.$w" | median)"
lost=$(cat "$work"/data.ntm.* | awk '{s += $4} END {print s}')
tlost=$(cat "$work"/data.turn.* | awk '{s += $4} END {print s}')
echo "datagrams lost (sent, never received), all runs: ntm-rs $lost, coturn $tlost"

if ((uclient)); then
  peer_port=$((30000 + RANDOM % 10000))
  turnutils_peer -L 127.0.0.1 -p "$peer_port" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do udp_listening "$peer_port" && break; sleep 0.05; done
  echo "turnutils_uclient -n 20000 -l 1452 -m 1 -z 0 (echo through turnutils_peer):"
  on_cpu 1 timeout 60 turnutils_uclient -p "$turn_port" -e 127.0.0.1 -r "$peer_port" -n 20000 \
    -l 1452 -m 1 -z 0 -c 127.0.0.1 2>&1 | grep -E "tot_send_msgs=.*tot_recv|Total" | tail -4 || true
fi

kill -TERM "$rs_pid"
wait "$rs_pid" 2>/dev/null || true
echo "ntm-rs: $(grep -o 'sessions=.*' "$work/rs.log" | tail -1)"
