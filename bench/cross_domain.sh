#!/usr/bin/env bash
# Cross-domain name resolution + tunnel construction (paper 003 Table III's measurement;
# issue 11): a node of dc1.ntm.test resolves a node of dc2.ntm.test and waits for the tunnel
# (ntm_getaddrinfo + ntm_wait_tunnel, bench/setup_time.cpp), fresh nodes every run. Beside it,
# in the same run, the baseline: the same pair of hosts with both nodes under dc1 (one DC,
# no DC⇄DC exchange).
#
#   bench/cross_domain.sh [--runs N]              the reference test network (needs root):
#       dc1 on 198.18.0.11, dc2 on 198.18.0.12, the parent zone ntm.test. served by nsd on
#       the dns host (198.18.0.53:53), nodes na (behind NAT A) and ng, each on an access link
#       with 5 ms one-way delay (10 ms RTT to the DCs, 20 ms node to node: paper 003's setting)
#   bench/cross_domain.sh --loopback [--runs N]   the same on 127.0.0.1/.2, no root needed
#
# The first cross-domain run also finds dc2 through DNS and makes the DC⇄DC session (hello,
# certificate, key distribution); it is reported on its own ("cold"), the others reuse the
# session ("warm"). Prints min/median/avg/max in ms.
set -euo pipefail
RUNS=50 LOOPBACK=0
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --loopback) LOOPBACK=1; shift ;;
    *) echo "usage: $0 [--loopback] [--runs N]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
export NTM_BIN_DIR=${NTM_BIN_DIR:-$root/build/bin}
# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"

stats() {  # reads ms values, prints "runs N  min .. median .. avg .. max .."
  sort -n | awk '{v[NR] = $1; s += $1}
    END {if (!NR) {print "runs 0"; exit}
         m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
         printf "runs %2d  min %7.2f  median %7.2f  avg %7.2f  max %7.2f ms\n", NR, v[1], m, s / NR, v[NR]}'
}

zone_file() {  # DC1_ADDR DC2_ADDR NS_ADDR (the parent zone ntm.test.)
  printf '%s\n' '$ORIGIN ntm.test.' '$TTL 300' \
    '@ IN SOA ns.ntm.test. hostmaster.ntm.test. 1 3600 600 86400 60' '@ IN NS ns.ntm.test.' \
    "ns IN A $3" 'dc1 IN NS ns.dc1' "ns.dc1 IN A $1" 'dc2 IN NS ns.dc2' "ns.dc2 IN A $2"
}
if ((LOOPBACK)); then
  work_dir ntm-cross
  STATE=$work DNS_PORT=$(free_udp_port) PORT=$(free_udp_port)
  DC1=127.0.0.1 DC2=127.0.0.2 DNS=127.0.0.1
  on() { shift; "$@"; }  # on HOST CMD...: every "host" is this one
  start() {              # start HOST NAME CMD... (background, log in $STATE/NAME.log)
    local name=$2
    shift 2
    "$@" >"$STATE/$name.log" 2>&1 &
    pids+=($!)
    LAST_PID=$!
  }
  logf() { echo "$STATE/$1.log"; }
  CLIENT=lo SERVER=lo BIND=(NTM_BIND=127.0.0.1:0)
else
  # shellcheck source=../tests/net/topology.sh
  source "$root/tests/net/topology.sh"
  net_require_root
  net_begin
  topology_up
  STATE=$NET_STATE DNS_PORT=53 PORT=7100
  DC1=198.18.0.11 DC2=198.18.0.12 DNS=198.18.0.53
  on() { n "$@"; }
  start() {
    bg "$@"
    LAST_PID=$BG_PID
  }
  logf() { bg_log "$1"; }
  CLIENT=na SERVER=ng BIND=()
fi
DC=$NTM_BIN_DIR/ntm-dc AS=$NTM_BIN_DIR/ntm-as PROBE=$NTM_BIN_DIR/ntm-setup-time

mkdir -p "$STATE/nsd"
zone_file "$DC1" "$DC2" "$DNS" >"$STATE/nsd/zone"
nsd_conf "$STATE/nsd" "$DNS" "$DNS_PORT" ntm.test >"$STATE/nsd/nsd.conf"
start dns nsd nsd -d -c "$STATE/nsd/nsd.conf"
for _ in $(seq 100); do
  on dns dig +norec +time=1 +tries=1 @"$DNS" -p "$DNS_PORT" NS dc2.ntm.test 2>/dev/null |
    grep -q "ns.dc2.ntm.test" && break
  sleep 0.1
done

AS_KEY=$("$AS" --state-dir "$STATE/as" --print-signing-key)
for d in 1 2; do
  "$DC" --state-dir "$STATE/dc$d" --print-public-key >"$STATE/dc$d.pub"
  "$AS" --state-dir "$STATE/as" --sign-dc "dc$d.ntm.test" \
    --dc-public-key "$(cat "$STATE/dc$d.pub")" >"$STATE/dc$d.cert"
done
declare -A DC_ADDR=([1]=$DC1 [2]=$DC2)
for d in 1 2; do
  start "dc$d" "dc$d" "$DC" --state-dir "$STATE/dc$d" --listen "${DC_ADDR[$d]}:$PORT" \
    --domain "dc$d.ntm.test" --vip4-pool "100.64.$d.0/24" --vip6-pool "fd00:6e74:6d:$d::/112" \
    --dc-cert "$STATE/dc$d.cert" --trusted-as "$AS_KEY" --resolver "$DNS:$DNS_PORT" \
    --peer-dc-port "$PORT" --log-level warn
done
sleep 0.5

RUN=0
# one SERVER_DC — a fresh node under dc SERVER_DC on $SERVER waits; a fresh node under dc1 on
# $CLIENT resolves it and waits for the tunnel; prints the set-up time in ms (or nothing)
one() {
  local sd=$1 w p
  RUN=$((RUN + 1))
  w=w$RUN p=p$RUN
  start "$SERVER" "$w" env "${BIND[@]}" NTM_DC="${DC_ADDR[$sd]}:$PORT" \
    NTM_DC_KEY="$(cat "$STATE/dc$sd.pub")" NTM_LOG=warn NTM_NAME="$w" \
    NTM_STATE_DIR="$STATE/$w" "$PROBE" wait
  local wpid=$LAST_PID
  for _ in $(seq 300); do grep -q '^ready' "$(logf "$w")" 2>/dev/null && break; sleep 0.01; done
  on "$CLIENT" env "${BIND[@]}" NTM_DC="$DC1:$PORT" NTM_DC_KEY="$(cat "$STATE/dc1.pub")" \
    NTM_LOG=warn NTM_NAME="$p" NTM_STATE_DIR="$STATE/$p" "$PROBE" probe "$w.dc$sd.ntm.test" \
    2>"$STATE/$p.err" | sed -n 's/^setup ms=//p' || true
  kill "$wpid" 2>/dev/null || true
}

where=$([[ $LOOPBACK == 1 ]] && echo "loopback" || echo "test network, access links 5 ms one way")
echo "cross-domain resolution + tunnel construction ($where), $RUNS runs per row"
: >"$STATE/cold.ms" >"$STATE/warm.ms" >"$STATE/one.ms"
one 2 >>"$STATE/cold.ms"
for ((i = 0; i < RUNS; ++i)); do
  one 1 >>"$STATE/one.ms"  # the baseline, interleaved: same load, same moment
  one 2 >>"$STATE/warm.ms"
done
printf '%-34s %s\n' "one zone (both nodes under dc1)" "$(stats <"$STATE/one.ms")"
printf '%-34s %s\n' "two zones, warm DC⇄DC session" "$(stats <"$STATE/warm.ms")"
printf '%-34s %s\n' "two zones, cold (first run)" "$(stats <"$STATE/cold.ms")"
