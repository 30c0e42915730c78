#!/usr/bin/env bash
# Node start → vIP (ntm_start: handshake and registration) on the reference test network
# (tests/net/topology.sh; needs root): the node na sits behind NAT A, its access link delays
# 5 ms one way, so it is 10 ms RTT from the DC on dc1. Issue 11's target: one RTT to the DC
# + 5 ms, plus the AS round trip where the DC must ask the AS.
#
#   open      DC without an Account Server, a fresh node identity every run
#   main      the same with main's DC and library (the baseline, same run; --main-build)
#   cached    DC with an AS; the same identity every run, so the DC's login cache answers
#   login     DC with an AS; a fresh identity every run: the DC asks the AS (Argon2id at the
#             AS's default cost, 2 passes over 64 MiB)
#
#   bench/start_time.sh [--runs N] [--main-build DIR]
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
DC=$(net_bin ntm-dc) AS=$(net_bin ntm-as) ADMIN=$(net_bin ntm-admin)
PROBE=$(net_bin ntm-setup-time)

# dc_start NAME PORT BINARY ARGS... — a DC on dc1; its key in $NET_STATE/NAME.pub
dc_start() {
  local name=$1 port=$2 bin=$3
  shift 3
  "$bin" --state-dir "$NET_STATE/$name" --print-public-key >"$NET_STATE/$name.pub"
  bg dc1 "$name" "$bin" --state-dir "$NET_STATE/$name" --listen "198.18.0.11:$port" \
    --domain dc1.ntm.test --log-level warn "$@"
  sleep 0.3
}
# The AS on dc1, one account; the DC with the AS lists its key as dc-key.
"$DC" --state-dir "$NET_STATE/dca" --print-public-key >"$NET_STATE/dca.pub"
admin_key=$("$ADMIN" --key-dir "$NET_STATE/admin" key)
as_key=$("$AS" --state-dir "$NET_STATE/as" --print-public-key)
cat >"$NET_STATE/as.conf" <<EOF
state-dir = $NET_STATE/as
admin-listen = 198.18.0.11:7300
admin-key = $admin_key
dc-key = $(cat "$NET_STATE/dca.pub")
log-level = warn
EOF
bg dc1 as "$AS" --config "$NET_STATE/as.conf"
sleep 0.5
echo 'bench-password-1' | n dc1 env NTM_AS=198.18.0.11:7300 NTM_AS_KEY="$as_key" \
  "$ADMIN" --key-dir "$NET_STATE/admin" account add bench --node-limit 1000000 >/dev/null

dc_start dcn 7100 "$DC"
dc_start dca 7101 "$DC" --as 198.18.0.11:7300 --as-key "$as_key"
if [[ -n $MAIN_BUILD ]]; then dc_start dcm 7102 "$MAIN_BUILD/bin/ntm-dc"; fi

# one DC PORT PROBE STATE [ACCOUNT] — prints one start time in ms (or nothing); the node's
# name is its state directory's
one() {
  local dc=$1 port=$2 probe=$3 state=$4 account=${5:-}
  local env=(env NTM_DC="198.18.0.11:$port" NTM_DC_KEY="$(cat "$NET_STATE/$dc.pub")" NTM_LOG=warn
    NTM_NAME="$state" NTM_STATE_DIR="$NET_STATE/$state")
  [[ -n $account ]] && env+=(NTM_ACCOUNT="$account" NTM_PASSWORD=bench-password-1)
  n na "${env[@]}" "$probe" start 2>"$NET_STATE/logs/$state.log" | sed -n 's/^start ms=//p' || true
  [[ -n ${BENCH_DEBUG:-} ]] && cat "$NET_STATE/logs/$state.log" >&2
  return 0
}
median() { sort -n | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
# row LABEL DC PORT PROBE same|fresh [ACCOUNT]
row() {
  local label=$1 dc=$2 port=$3 probe=$4 identity=$5 account=${6:-} i t
  : >"$NET_STATE/$label.ms"
  for ((i = 0; i < RUNS; ++i)); do
    local state="$label-$i"
    [[ $identity == same ]] && state="$label"
    t=$(one "$dc" "$port" "$probe" "$state" "$account")
    [[ -n $t ]] && echo "$t" >>"$NET_STATE/$label.ms"
  done
  printf '%-7s runs %2d/%-2d  median %7.2f ms  min %7.2f  max %7.2f\n' "$label" \
    "$(wc -l <"$NET_STATE/$label.ms")" "$RUNS" "$(median <"$NET_STATE/$label.ms")" \
    "$(sort -n "$NET_STATE/$label.ms" | head -1)" "$(sort -n "$NET_STATE/$label.ms" | tail -1)"
}
rtt=$(n na ping -n -c 10 -i 0.05 198.18.0.11 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | median)
echo "node start -> vIP (ntm_start), na -> DC on dc1, ping RTT median $rtt ms, $RUNS runs each"
row open dcn 7100 "$PROBE" fresh
if [[ -n $MAIN_BUILD ]]; then row main dcm 7102 "$MAIN_BUILD/bin/ntm-setup-time" fresh; fi
one dca 7101 "$PROBE" cached bench >/dev/null  # the first login fills the DC's cache
row cached dca 7101 "$PROBE" same bench
row login dca 7101 "$PROBE" fresh bench
