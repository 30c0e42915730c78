#!/usr/bin/env bash
# Tunnel set-up time by path kind on the reference test network (tests/net/topology.sh; needs
# root): access links delay 5 ms one way, so a node is 10 ms RTT from the DC and 20 ms from a
# node on another access network. Set-up = ntm_getaddrinfo + ntm_wait_tunnel (direction
# request, route directions, tunnel request/response), with fresh nodes every run.
#
#   direct    na (EIM NAT) -> ng (global)     DC without relays
#   main      the same pair, with main's DC and library (the baseline, same run)
#   punched   na (EIM NAT) -> nc (EIM NAT)    DC without relays: the tunnel opens by punching
#   relayed   na (EIM NAT) -> nb (symmetric)  DC with a relay server on rs
#   lan       mn -> na, behind the same NAT   DC without relays
#
#   bench/paths_setup.sh [--runs N] [--main-build DIR]
# DIR is a build of main with the target ntm-setup-time (bench/setup_time.cpp copied into it)
# and ntm-dc; without it the main row is skipped.
set -euo pipefail
RUNS=20 MAIN_BUILD=
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --main-build) MAIN_BUILD=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--main-build DIR]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
export NTM_BIN_DIR=${NTM_BIN_DIR:-$root/build/bin}
# shellcheck source=../tests/net/topology.sh
source "$root/tests/net/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc) RS=$(net_bin ntm-rs) PROBE=$(net_bin ntm-setup-time)

"$RS" --generate-key "$NET_STATE/relay.key"
bg rs rs "$RS" --key-file "$NET_STATE/relay.key" --listen 198.18.0.20:7300
bg_wait_line rs 'relay server up' 30
# dc_start NAME PORT BINARY ARGS... — a DC on dc1; its key in $NET_STATE/NAME.pub
dc_start() {
  local name=$1 port=$2 bin=$3
  shift 3
  "$bin" --state-dir "$NET_STATE/$name" --print-public-key >"$NET_STATE/$name.pub"
  bg dc1 "$name" "$bin" --state-dir "$NET_STATE/$name" --listen "198.18.0.11:$port" \
    --domain dc1.ntm.test --log-level warn "$@"
  sleep 0.3
}
dc_start dcn 7100 "$DC"
dc_start dcr 7101 "$DC" --relay 198.18.0.20:7300 --relay-key-file "$NET_STATE/relay.key" \
  --relay-check-interval 200
if [[ -n $MAIN_BUILD ]]; then dc_start dcm 7102 "$MAIN_BUILD/bin/ntm-dc"; fi
sleep 1  # the relay's first status answers

RUN=0
# one DC PORT PROBE CLIENT_HOST SERVER_HOST — prints one set-up time in ms (or nothing)
one() {
  local dc=$1 port=$2 probe=$3 ch=$4 sh=$5 w p
  RUN=$((RUN + 1))
  w=w$RUN p=p$RUN
  local env=(env NTM_DC="198.18.0.11:$port" NTM_DC_KEY="$(cat "$NET_STATE/$dc.pub")" NTM_LOG=warn)
  bg "$sh" "$w" "${env[@]}" NTM_NAME="$w" NTM_STATE_DIR="$NET_STATE/$w" "$probe" wait
  local wpid=$BG_PID
  bg_wait_line "$w" '^ready' 30
  n "$ch" "${env[@]}" NTM_NAME="$p" NTM_STATE_DIR="$NET_STATE/$p" "$probe" probe \
    "$w.dc1.ntm.test" 2>"$NET_STATE/logs/$p.log" | sed -n 's/^setup ms=//p' || true
  kill "$wpid" 2>/dev/null || true
}
median() { sort -n | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
row() {
  local label=$1 dc=$2 port=$3 probe=$4 ch=$5 sh=$6 i t
  : >"$NET_STATE/$label.ms"
  for ((i = 0; i < RUNS; ++i)); do
    t=$(one "$dc" "$port" "$probe" "$ch" "$sh")
    [[ -n $t ]] && echo "$t" >>"$NET_STATE/$label.ms"
  done
  printf '%-8s %-14s  runs %2d/%-2d  median %7.2f ms  min %7.2f  max %7.2f\n' "$label" "$ch -> $sh" \
    "$(wc -l <"$NET_STATE/$label.ms")" "$RUNS" "$(median <"$NET_STATE/$label.ms")" \
    "$(sort -n "$NET_STATE/$label.ms" | head -1)" "$(sort -n "$NET_STATE/$label.ms" | tail -1)"
}
echo "tunnel set-up (resolve + wait for the tunnel), access links $(cat "$NET_STATE/delay") one way, $RUNS runs each"
row direct dcn 7100 "$PROBE" na ng
if [[ -n $MAIN_BUILD ]]; then row main dcm 7102 "$MAIN_BUILD/bin/ntm-setup-time" na ng; fi
row punched dcn 7100 "$PROBE" na nc
row relayed dcr 7101 "$PROBE" na nb
row lan dcn 7100 "$PROBE" mn na
