#!/usr/bin/env bash
# DNS queries per second answered by the DC's authoritative server (servers/dc/dns_*, ldns on
# the DC's one event loop), beside nsd serving the same zone in the same run (issue 11).
# dnsperf (Debian package) sends the same query mix to both over UDP on loopback: the zone's
# SOA, NS, A and AAAA at the apex, the name server's A, a registered node's A and AAAA, and a
# name that does not exist (NXDOMAIN). Each server is measured RUNS times, alternated; the
# median and the ratio are printed. No root needed.
#
#   bench/dns_qps.sh [--runs N] [--seconds S]
set -euo pipefail
RUNS=3 SECONDS_PER_RUN=5
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--seconds S]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
command -v dnsperf >/dev/null || { echo "dnsperf is not installed (scripts/install-deps)"; exit 1; }
command -v nsd >/dev/null || { echo "nsd is not installed (scripts/install-deps)"; exit 1; }

# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"
work_dir ntm-dnsqps
zone=bench.ntm.test

# The DC: its zone has the apex records and one registered node, "laptop".
dc_port=$(free_udp_port) dc_dns=$(free_udp_port)
"$bin/ntm-dc" --state-dir "$work/dc" --print-public-key >"$work/dc.pub"
"$bin/ntm-dc" --state-dir "$work/dc" --listen "127.0.0.1:$dc_port" --domain "$zone" \
  --vip4-pool 100.64.0.0/24 --vip6-pool fd00:6e74:6d::/112 --dns-port "$dc_dns" \
  --dns-listen 127.0.0.1 --dns-address 192.0.2.10 --dns-address 2001:db8::10 \
  --log-level warn 2>"$work/dc.log" &
pids+=($!)
sleep 0.3
NTM_DC="127.0.0.1:$dc_port" NTM_DC_KEY="$(cat "$work/dc.pub")" NTM_NAME=laptop \
  NTM_STATE_DIR="$work/laptop" NTM_BIND=127.0.0.1:0 "$bin/ntm-setup-time" wait \
  >"$work/laptop.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q '^ready' "$work/laptop.log" && break; sleep 0.05; done
grep -q '^ready' "$work/laptop.log" || { cat "$work/laptop.log"; echo "node did not start"; exit 1; }
answer() { dig +short +time=1 +tries=1 @127.0.0.1 -p "$dc_dns" "$1" "$2"; }
vip4=$(answer "laptop.$zone" A) vip6=$(answer "laptop.$zone" AAAA)
[[ -n $vip4 && -n $vip6 ]] || { echo "the DC does not answer for laptop.$zone"; exit 1; }

# nsd with the same records.
nsd_dns=$(free_udp_port)
mkdir -p "$work/nsd"
printf '%s\n' "\$ORIGIN $zone." '$TTL 3600' "@ IN SOA ns.$zone. hostmaster.$zone. 1 3600 600 86400 30" \
  "@ IN NS ns.$zone." '@ IN A 192.0.2.10' '@ IN AAAA 2001:db8::10' 'ns IN A 192.0.2.10' \
  'ns IN AAAA 2001:db8::10' "laptop 30 IN A $vip4" "laptop 30 IN AAAA $vip6" >"$work/nsd/zone"
nsd_conf "$work/nsd" 127.0.0.1 "$nsd_dns" "$zone" >"$work/nsd/nsd.conf"
nsd -d -c "$work/nsd/nsd.conf" &
pids+=($!)
for _ in $(seq 100); do
  dig +short +time=1 +tries=1 @127.0.0.1 -p "$nsd_dns" "$zone" SOA | grep -q . && break
  sleep 0.1
done

printf '%s\n' "$zone SOA" "$zone NS" "$zone A" "$zone AAAA" "ns.$zone A" "laptop.$zone A" \
  "laptop.$zone AAAA" "nobody.$zone A" >"$work/queries"
qps() {  # PORT -> queries per second (one dnsperf run)
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$SECONDS_PER_RUN" -c 4 -T 1 -q 64 2>&1 |
    sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
: >"$work/dc.qps" >"$work/nsd.qps"
for ((i = 0; i < RUNS; ++i)); do
  qps "$dc_dns" >>"$work/dc.qps"
  qps "$nsd_dns" >>"$work/nsd.qps"
done
dc=$(median <"$work/dc.qps") ns=$(median <"$work/nsd.qps")
echo "DNS queries per second, UDP on loopback, dnsperf 4 clients, ${SECONDS_PER_RUN} s x $RUNS runs each, alternated"
echo "  ntm-dc : median $dc  (runs: $(tr '\n' ' ' <"$work/dc.qps"))"
echo "  nsd    : median $ns  (runs: $(tr '\n' ' ' <"$work/nsd.qps"))"
awk -v a="$dc" -v b="$ns" 'BEGIN {if (b > 0) printf "  ratio ntm-dc / nsd: %.2f\n", a / b}'
