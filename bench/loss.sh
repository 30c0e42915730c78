#!/usr/bin/env bash
# TCP through the tunnel against kernel TCP on a lossy path (test network, needs root).
#
# bench/wan.sh's set-up: source node "na" behind LAN A's NAT, sink "ng" on the global access
# network, DC on dc1, 5 ms one way on each access link (~20 ms RTT node to node), TSO/GSO/GRO
# off so the emulator acts on wire packets. For each scenario LAN A's access link gets the
# given loss in both directions (topology.sh link a both ...), then ntm-bench interleaves
# tunnel and kernel transfers of the same size between the same two hosts, so both see the
# same path and the same machine load. Scenarios:
#   0 0.1 0.5 1 2 5   random (Bernoulli) loss in percent, each direction
#   ge                bursty loss: Gilbert-Elliott, 0.2 % Good->Bad, 20 % Bad->Good (1 % mean
#                     loss in bursts of 5 packets on average), each direction
#   reorder           no loss; 1 ms jitter with reordering (jittered packets overtake)
# Prints one line per scenario (medians over the runs, ratio tunnel/kernel, the tunnel's
# retransmissions by kind) and a summary table.
# The kernel baseline uses the system's congestion control unless --kernel-cc names one
# (cubic, bbr); the tunnel's is NTM_TCP_CC (bbr by default; cubic, reno).
#   bench/loss.sh [--mb MiB] [--runs N] [--timeout S] [--kernel-cc NAME] [SCENARIO...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
mb=8 runs=3 timeout=120 kcc=() scenarios=()
while (($#)); do
  case $1 in
  --mb) mb=$2 && shift 2 ;;
  --runs) runs=$2 && shift 2 ;;
  --timeout) timeout=$2 && shift 2 ;;
  --kernel-cc) kcc=(--kernel-cc "$2") && shift 2 ;;
  -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
  *) scenarios+=("$1") && shift ;;
  esac
done
((${#scenarios[@]})) || scenarios=(0 0.1 0.5 1 2 5 ge reorder)
prefix=ntmloss$$
work=$(mktemp -d /tmp/ntm-loss.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/tests/net/topology.sh" --prefix "$prefix" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
X() { local h=$1; shift; ip netns exec "$prefix-$h" "$@"; }
T() { "$root/tests/net/topology.sh" --prefix "$prefix" "$@" >/dev/null; }

NTM_BIN_DIR=$bin "$root/tests/net/topology.sh" --prefix "$prefix" up --delay "${DELAY:-5ms}" >/dev/null
X dc1 "$bin/ntm-dc" --state-dir "$work/dc" --print-public-key >"$work/dc.pub"
X dc1 "$bin/ntm-dc" --state-dir "$work/dc" --listen 198.18.0.11:7100 --domain bench.ntm.test \
  --log-level warn 2>"$work/dc.log" &
pids+=($!)
export NTM_DC=198.18.0.11:7100 NTM_DC_KEY
NTM_DC_KEY=$(cat "$work/dc.pub")
sleep 0.3
NTM_NAME=sink NTM_STATE_DIR="$work/sink" X ng "$bin/ntm-bench" sink-node >"$work/sink.out" &
pids+=($!)
X ng "$bin/ntm-bench" sink-kernel 198.18.7.10 >"$work/ksink.out" &
pids+=($!)
for _ in $(seq 100); do
  grep -q ready "$work/sink.out" 2>/dev/null && grep -q ready "$work/ksink.out" 2>/dev/null && break
  sleep 0.05
done
kport=$(sed -n 's/ready port=//p' "$work/ksink.out")
[ -n "$kport" ] || { echo "sinks did not start"; exit 1; }

echo "Loss benchmark: na (behind NAT A) -> ng (global), ${DELAY:-5ms} one way per access link;"
echo "loss on LAN A's access link, both directions; $mb MiB x $runs per scenario, medians;"
echo "congestion control: tunnel ${NTM_TCP_CC:-bbr}, kernel ${kcc[1]:-$(sysctl -n net.ipv4.tcp_congestion_control) (system default)}"
summary=()
for sc in "${scenarios[@]}"; do
  case $sc in
  ge) T link a both --loss 0 --jitter 0 --reorder 0 --gemodel 0.2%,20% ;;
  reorder) T link a both --loss 0 --gemodel 0 --jitter 1ms --reorder 1 ;;
  *) T link a both --loss "$sc%" --gemodel 0 --jitter 0 --reorder 0 ;;
  esac
  out=$(NTM_NAME=source NTM_STATE_DIR="$work/source" X na "$bin/ntm-bench" source \
    sink.bench.ntm.test "198.18.7.10:$kport" --mb "$mb" --runs "$runs" --pings 0 \
    --timeout "$timeout" "${kcc[@]}" 2>&1) || true
  line=$(grep '^result ' <<<"$out" || echo "result failed")
  label=$([[ $sc =~ ^[0-9.]+$ ]] && echo "$sc % loss" || echo "$sc")
  printf '%-12s %s\n' "$label" "${line#result }"
  grep -E 'runs \(Mbit/s\)' <<<"$out" | sed 's/^/             /'
  summary+=("$label|$line")
done
echo
echo "| scenario | tunnel Mbit/s | kernel Mbit/s | ratio | tunnel retransmissions (recovery / probe / timeout) | ACKs per data packet |"
echo "|---|---|---|---|---|---|"
for s in "${summary[@]}"; do
  label=${s%%|*} line=${s#*|}
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $line"; }
  echo "| $label | $(get tunnel_mbit) | $(get kernel_mbit) | $(get ratio) | $(get rexmit_recovery) / $(get rexmit_tlp) / $(get rexmit_rto) | $(get acks_per_data) |"
done
