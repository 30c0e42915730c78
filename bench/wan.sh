#!/usr/bin/env bash
# WAN benchmark on the reference test network (tests/net/topology.sh; needs root):
# node "source" behind LAN A's NAT, node "sink" on the global access network, DC on dc1;
# each access link delays 5 ms one way (override with DELAY=2ms), so node to node is ~20 ms
# RTT. Prints tunnel TCP throughput and ICMP RTT next to the kernel's own TCP and ICMP
# between the same two hosts, measured in the same run (bench/ntm_bench.cpp).
#   bench/wan.sh [--mb MiB] [--runs N] [--pings N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
prefix=ntmwan$$
work=$(mktemp -d /tmp/ntm-wan.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/tests/net/topology.sh" --prefix "$prefix" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
X() { local h=$1; shift; ip netns exec "$prefix-$h" "$@"; }

NTM_BIN_DIR=$bin "$root/tests/net/topology.sh" --prefix "$prefix" up --delay "${DELAY:-5ms}" >/dev/null
X dc1 "$bin/ntm-dc" --state-dir "$work/dc" --print-public-key > "$work/dc.pub"
X dc1 "$bin/ntm-dc" --state-dir "$work/dc" --listen 198.18.0.11:7100 --domain bench.ntm.test \
  --log-level warn 2> "$work/dc.log" &
pids+=($!)
export NTM_DC=198.18.0.11:7100 NTM_DC_KEY=$(cat "$work/dc.pub")
sleep 0.3
NTM_NAME=sink NTM_STATE_DIR="$work/sink" X ng "$bin/ntm-bench" sink-node > "$work/sink.out" &
pids+=($!)
X ng "$bin/ntm-bench" sink-kernel 198.18.7.10 > "$work/ksink.out" &
pids+=($!)
for _ in $(seq 100); do
  grep -q ready "$work/sink.out" 2>/dev/null && grep -q ready "$work/ksink.out" 2>/dev/null && break
  sleep 0.05
done
kport=$(sed -n 's/ready port=//p' "$work/ksink.out")
[ -n "$kport" ] || { echo "sinks did not start"; exit 1; }
echo "WAN path: na (behind NAT A) -> ng (global), ${DELAY:-5ms} one way per access link"
NTM_NAME=source NTM_STATE_DIR="$work/source" X na "$bin/ntm-bench" source sink.bench.ntm.test \
  "198.18.7.10:$kport" "$@"
