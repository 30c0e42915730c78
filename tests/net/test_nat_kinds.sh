#!/usr/bin/env bash
# NAT kinds of the reference topology, as classified by a tool that is not ours: coturn's
# turnserver as an RFC 5780 STUN server on the internet, turnutils_natdiscovery behind
# each NAT (mapping and filtering behaviour discovery).
#
#                       stun 198.18.0.100 + .101, 2001:db8::100 + ::101 (turnserver)
#                                     |
#        +-------------+--------------+-------------+--------------+
#      rtr-a         rtr-b          rtr-c         rtr-6          rtr-g
#      EIM NAT       symmetric NAT  EIM NAT       IPv6, routed   routed
#       na, mn        nb             nc            n6             ng
#
# Expected (RFC 4787 terms):
#   na, mn, nc  endpoint-independent mapping, address- and port-dependent filtering
#   nb          address- and port-dependent mapping ("symmetric"), same filtering
#   ng          no NAT: the reflexive address is its own; no filtering
#   n6          no NAT over IPv6, its own address; and no IPv4 at all
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
command -v turnserver >/dev/null && command -v turnutils_natdiscovery >/dev/null ||
  die "coturn is not installed: run scripts/install-deps"
net_begin
topology_up
stun_up

# All hosts at once: a NATed host's run waits out two STUN timeouts (~6 s).
declare -A server=([na]=198.18.0.100 [mn]=198.18.0.100 [nb]=198.18.0.100 [nc]=198.18.0.100
  [ng]=198.18.0.100 [n6]=2001:db8::100)
pids=()
for h in "${!server[@]}"; do
  (nat_discovery "$h" "${server[$h]}" >"$NET_STATE/natdiscovery.$h") &
  pids+=($!)
done
wait "${pids[@]}"

# check HOST MAPPING FILTERING REFLEXIVE_IP
check() {
  local h=$1 mapping=$2 filtering=$3 reflexive=$4 out got_m got_f got_r
  out=$NET_STATE/natdiscovery.$h
  got_m=$(sed -n 's/^NAT with \(.*\) Mapping!$/\1/p' "$out" | head -n1)
  got_f=$(sed -n 's/^NAT with \(.*\) Filtering!$/\1/p' "$out" | head -n1)
  got_r=$(sed -n 's/.*UDP reflexive addr: \(.*\):[0-9]*$/\1/p' "$out" | head -n1)
  if [[ $got_m != "$mapping" || $got_f != "$filtering" || $got_r != "$reflexive" ]]; then
    sed 's/^/    /' "$out" >&2
    die "$h: natdiscovery says mapping '$got_m', filtering '$got_f', reflexive $got_r;" \
      "want '$mapping', '$filtering', $reflexive"
  fi
  pass "$h: $mapping mapping, $filtering filtering, seen as $reflexive"
}
check na "Endpoint Independent" "Address and Port Dependent" 198.18.0.201
check mn "Endpoint Independent" "Address and Port Dependent" 198.18.0.201
check nc "Endpoint Independent" "Address and Port Dependent" 198.18.0.203
check nb "Address and Port Dependent" "Address and Port Dependent" 198.18.0.202
check ng "Endpoint Independent" "Endpoint Independent" 198.18.7.10
check n6 "Endpoint Independent" "Endpoint Independent" 2001:db8:6::10

[[ -z $(n n6 ip -4 addr show scope global) ]] || die "n6 has an IPv4 address"
[[ -z $(n n6 ip -4 route show) ]] || die "n6 has an IPv4 route"
expect_fail "n6 cannot reach the STUN server over IPv4" \
  n n6 "$(net_bin ntm-udpprobe)" probe --to 198.18.0.100:3478 --tries 2 --timeout 400
[[ $(n n6 "$(net_bin ntm-udpprobe)" probe --to 198.18.0.100:3478 --tries 1 --timeout 400) == unreachable* ]] ||
  die "n6 found a route to IPv4"
pass "n6 is IPv6-only: no IPv4 address or route"
