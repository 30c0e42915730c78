#!/usr/bin/env bash
# tests/net/topology.sh — the reference test network (DESIGN.md §8), after paper 003's testbed.
#
#                      "internet": 198.18.0.0/24 and 2001:db8::/64, bridge br0 in ns "inet",
#                      which also routes the access prefixes (198.18.0.1, 2001:db8::1)
#
#   dc1 .11    dc2 .12    rs .20    as .30    ns .40    dns .53    stun .100 + .101
#   (all dual-stack: 2001:db8::11, ::12, ::20, ::30, ::40, ::53, ::100 + ::101)
#    |          |          |         |         |         |          |
#  ==+==========+==========+=========+=========+=========+==========+========== br0 ======
#         |                   |                   |                 |               |
#      rtr-a .201          rtr-b .202          rtr-c .203       rtr-6 ::206     rtr-g .207 ::207
#      NAT: endpoint-      NAT: symmetric      NAT: endpoint-   IPv6 only,      routed,
#      independent         (fully-random)      independent      no NAT64        no NAT
#      192.168.1.1         192.168.2.1         192.168.3.1      2001:db8:6::1   198.18.7.1
#         |                   |                   |                 |           2001:db8:7::1
#    +----+-----+             |              +----+ - - - +         |               |
#   na .1.10  mn .1.100     nb .2.10        nc .3.10  (mn .3.100)  n6 ..6::10     ng 198.18.7.10
#   LAN A                   LAN B           LAN C    after `move`  IPv6-only      global access
#                                                                  access         2001:db8:7::10
#
# Every interface has TSO, GSO and GRO off, so the link emulator sees (and delays, drops)
# wire-sized packets, as a real link would, and not the 64 KiB aggregates the kernel builds
# between namespaces; kernel TCP baselines measured here are then comparable to tunnel TCP.
# Each access router runs ntm-linkemu on both directions of its access link: 5 ms one way by
# default, so a node sees ~10 ms RTT to a DC (paper 003 Table II) while hosts on the
# internet see each other at ~0.05 ms. mn is the mobile node; `move mn c` switches it from
# LAN A to LAN C the way a Wi-Fi -> LTE handover does: old link and address gone, new link,
# new address, new default route.
#
# Usage (as root):
#   topology.sh up [--delay 5ms]          build it; it stays up until `down`
#   topology.sh down                      remove every namespace, link and process it made
#   topology.sh status                    hosts, addresses, NAT kinds, link emulator counters
#   topology.sh exec HOST CMD...          run CMD on HOST (e.g. `exec na ping 198.18.0.11`)
#   topology.sh move mn a|b|c|6|g [--mbb] move mn's link; --mbb: make before break
#   topology.sh link a|b|c|6|g up|down|both --delay 20ms --loss 1% ...   change an access link
#   topology.sh timeout a|b|c SECONDS     UDP binding timeout of a NAT router
#   topology.sh gc                        remove leftovers of test runs whose script died
# Every command takes --prefix P (default $NTM_NET_PREFIX, else "ntm"); namespaces are
# named P-HOST, so `ip netns exec ntm-na ...` works too, and several networks can coexist.
#
# Tests source this file and call topology_up after net_begin (unique prefix, cleanup trap).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=routers.sh
source "$(dirname "${BASH_SOURCE[0]}")/routers.sh"

# ---------------------------------------------------------------------------------------
# The plan: who is where
# ---------------------------------------------------------------------------------------

INET_V4=198.18.0.1
INET_V6=2001:db8::1
INTERNET_HOSTS=(dc1 dc2 rs as ns dns stun)
declare -A HOST_V4=([dc1]=198.18.0.11 [dc2]=198.18.0.12 [rs]=198.18.0.20 [as]=198.18.0.30
  [ns]=198.18.0.40 [dns]=198.18.0.53 [stun]="198.18.0.100 198.18.0.101"
  [na]=192.168.1.10 [nb]=192.168.2.10 [nc]=192.168.3.10 [ng]=198.18.7.10)
declare -A HOST_V6=([dc1]=2001:db8::11 [dc2]=2001:db8::12 [rs]=2001:db8::20 [as]=2001:db8::30
  [ns]=2001:db8::40 [dns]=2001:db8::53 [stun]="2001:db8::100 2001:db8::101"
  [n6]=2001:db8:6::10 [ng]=2001:db8:7::10)

# Access networks: router, its kind, WAN addresses, LAN prefix(es) and router LAN addresses.
ACCESS_NETS=(a b c 6 g)
declare -A ACCESS_KIND=([a]=eim [b]=symmetric [c]=eim [6]=ipv6-only [g]=global)
declare -A ACCESS_WAN=([a]=198.18.0.201/24 [b]=198.18.0.202/24 [c]=198.18.0.203/24
  [6]=2001:db8::206/64 [g]="198.18.0.207/24 2001:db8::207/64")
declare -A ACCESS_LAN=([a]=192.168.1.1/24 [b]=192.168.2.1/24 [c]=192.168.3.1/24
  [6]=2001:db8:6::1/64 [g]="198.18.7.1/24 2001:db8:7::1/64")
declare -A ACCESS_ROUTED=([6]=2001:db8:6::/64 [g]="198.18.7.0/24 2001:db8:7::/64")
declare -A ACCESS_HOST=([a]=na [b]=nb [c]=nc [6]=n6 [g]=ng)
MOBILE=mn
declare -A MOBILE_V4=([a]=192.168.1.100 [b]=192.168.2.100 [c]=192.168.3.100 [g]=198.18.7.100)
declare -A MOBILE_V6=([6]=2001:db8:6::100 [g]=2001:db8:7::100)
declare -A MOBILE_MAC=([a]=02:00:00:00:0a:64 [b]=02:00:00:00:0b:64 [c]=02:00:00:00:0c:64
  [6]=02:00:00:00:06:64 [g]=02:00:00:00:07:64)
# Mobile hosts and the host part of their addresses on every LAN (the last MAC byte too).
declare -A MOBILE_ID=([mn]=100 [mo]=101)

# public_v4 a|b|c — the NAT's outside address.
public_v4() { echo "${ACCESS_WAN[$1]%%/*}"; }

# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------

# The internet: a switch plus the core router that reaches the routed access networks.
internet_up() {
  ns_add inet
  ns_forwarding inet
  bridge_add inet br0
  addr inet br0 "$INET_V4/24" "$INET_V6/64"
}

# internet_host HOST — a dual-stack server on the internet switch.
internet_host() {
  local h=$1 a
  ns_add "$h"
  veth "$h" eth0 inet "$h"
  bridge_port inet br0 "$h"
  for a in ${HOST_V4[$h]}; do addr "$h" eth0 "$a/24"; done
  for a in ${HOST_V6[$h]}; do addr "$h" eth0 "$a/64"; done
  route "$h" default "$INET_V4"
  route "$h" default "$INET_V6"
}

# access_router X — router rtr-X between the internet and access network X, with its kind
# of NAT (or none) and a link emulator on its access link.
access_router() {
  local x=$1 r=rtr-$1 a
  ns_add "$r"
  veth "$r" wan0 inet "$r"
  bridge_port inet br0 "$r"
  for a in ${ACCESS_WAN[$x]}; do addr "$r" wan0 "$a"; done
  if [[ ${ACCESS_WAN[$x]} == *.* ]]; then route "$r" default "$INET_V4"; fi
  if [[ ${ACCESS_WAN[$x]} == *:* ]]; then route "$r" default "$INET_V6"; fi
  bridge_add "$r" lan0
  for a in ${ACCESS_LAN[$x]}; do addr "$r" lan0 "$a"; done
  case ${ACCESS_KIND[$x]} in
  eim | symmetric) nat_router "$r" wan0 "${ACCESS_KIND[$x]}" ;;
  *)
    # Routed access network: the core learns its prefixes (static routes, as an ISP's).
    ns_forwarding "$r"
    local prefix wan
    for prefix in ${ACCESS_ROUTED[$x]}; do
      for wan in ${ACCESS_WAN[$x]}; do
        if [[ $prefix == *:* && $wan == *:* ]] || [[ $prefix != *:* && $wan != *:* ]]; then
          route inet "$prefix" "${wan%/*}"
        fi
      done
    done
    ;;
  esac
  link_emulate "$r" lan0 wan0 "--delay $NET_DELAY" "--delay $NET_DELAY"
}

# lan_host X HOST IF V4 V6 [MAC] — a host on access network X through its interface IF.
lan_host() {
  local x=$1 h=$2 dev=$3 v4=$4 v6=$5 mac=${6:-}
  veth "$h" "$dev" "rtr-$x" "$h" "$mac"
  bridge_port "rtr-$x" lan0 "$h"
  if [[ -n $v4 ]]; then
    addr "$h" "$dev" "$v4/24"
    route "$h" default "$(awk -F/ '{print $1}' <<<"${ACCESS_LAN[$x]%% *}")"
  fi
  if [[ -n $v6 ]]; then
    addr "$h" "$dev" "$v6/64"
    local gw6
    for gw6 in ${ACCESS_LAN[$x]}; do [[ $gw6 == *:* ]] && route "$h" default "${gw6%/*}"; done
  fi
}

# node_attach HOST X — plug HOST into access network X (a, b, c, 6 or g) on interface eth-X
# with HOST's address(es) there; its default route(s) move to the new link. HOST is mn, or
# mo (a second mobile node, .101 where mn is .100; a test makes its namespace with ns_add).
node_attach() {
  local h=$1 x=$2 v4= v6= mac
  [[ -n ${MOBILE_MAC[$x]:-} ]] || die "$h can move to LAN a, b, c, 6 or g, not '$x'"
  [[ -n ${MOBILE_ID[$h]:-} ]] || die "$h is not a mobile host (${!MOBILE_ID[*]})"
  ip -n "$(nsname "$h")" link show "eth-$x" >/dev/null 2>&1 && die "$h is already on LAN $x"
  if [[ -n ${MOBILE_V4[$x]:-} ]]; then v4=${MOBILE_V4[$x]%.*}.${MOBILE_ID[$h]}; fi
  if [[ -n ${MOBILE_V6[$x]:-} ]]; then v6=${MOBILE_V6[$x]%::*}::${MOBILE_ID[$h]}; fi
  mac=${MOBILE_MAC[$x]%:*}:$(printf '%02x' "${MOBILE_ID[$h]}")
  # A radio keeps its MAC across reconnects (a fresh random one would leave the LAN's
  # neighbours with stale ARP entries for seconds); it is set when the link is made, before
  # any address or route, so the first packet on the new link already carries it.
  lan_host "$x" "$h" "eth-$x" "$v4" "$v6" "$mac"
  offloads_off "$h" "rtr-$x"
}

# offloads_off NS... — TSO, GSO, GRO and UDP segmentation off on every interface of the
# namespaces (all of ours when none are named), one shell per namespace, in parallel, so the
# routers and the link emulator see wire packets: a node's UDP GSO message (UDP_SEGMENT) is
# split at its own interface. Features a device does not have are skipped.
offloads_off() {
  local ns pids=()
  (($#)) || set -- $(sed "s/^$NET_PREFIX-//" "$NET_STATE/namespaces")
  for ns in "$@"; do
    # shellcheck disable=SC2016 # expanded inside the namespace's shell
    n "$ns" sh -c 'for d in /sys/class/net/*; do d=${d##*/}; [ "$d" = lo ] ||
      { ethtool -K "$d" tso off gso off gro off; ethtool -K "$d" tx-udp-segmentation off; } \
        >/dev/null 2>&1; done; true' &
    pids+=($!)
  done
  wait "${pids[@]}"
}

# offloads_report — "NS DEV FEATURE: on" for every offload still on (empty when all are off).
offloads_report() {
  local ns dev
  while read -r ns; do
    for dev in $(ip -n "$ns" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
      [[ $dev == lo ]] && continue
      ip netns exec "$ns" ethtool -k "$dev" 2>/dev/null |
        grep -E '^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|tx-udp-segmentation): on' |
        sed "s|^|$ns $dev |" || true
    done
  done <"$NET_STATE/namespaces"
}

# node_detach HOST X — unplug HOST from LAN X: the link and its address disappear.
node_detach() {
  ip -n "$(nsname "$1")" link del "eth-$2"
}

# node_lan HOST — which LANs HOST is on now (a, c, or both during make-before-break).
node_lan() {
  ip -n "$(nsname "$1")" -o link show | sed -n 's/^[0-9]*: eth-\([a-z0-9]\)@.*/\1/p' | sort | tr '\n' ' ' |
    sed 's/ $//'
}

# node_move HOST X [--mbb] — move HOST to LAN X. Break-before-make by default (the old link
# drops, then the new one comes up), make-before-break with --mbb.
node_move() {
  local h=$1 to=$2 mode=${3:-} from
  from=$(node_lan "$h")
  [[ $from == "$to" ]] && die "$h is already on LAN $to"
  if [[ $mode == --mbb ]]; then
    node_attach "$h" "$to"
    node_detach "$h" "$from"
  else
    node_detach "$h" "$from"
    node_attach "$h" "$to"
  fi
}

# stun_up — coturn's turnserver as a plain STUN server on host "stun", listening on both its
# addresses per family (RFC 5780's CHANGE-REQUEST needs two), ports 3478 and 3479. Not part
# of topology_up: NTM does not use STUN; tests start it to have NATs classified by a tool
# that is not ours (turnutils_natdiscovery).
stun_up() {
  local a listen=()
  for a in ${HOST_V4[stun]} ${HOST_V6[stun]}; do listen+=(-L "$a"); done
  bg stun turnserver turnserver -n --stun-only "${listen[@]}" --no-tls --no-dtls --no-cli \
    --no-software-attribute --log-file stdout --simple-log \
    --userdb "$NET_STATE/turndb" --pidfile "$NET_STATE/turnserver.pid"
  wait_until 60 stun_listening || die "turnserver did not come up (see $(bg_log turnserver))"
}
stun_listening() { (($(n stun ss -Huln | grep -c ':3478 ') >= 4)); }

# nat_discovery HOST SERVER [OPTIONS] — turnutils_natdiscovery from HOST against SERVER
# (default: mapping and filtering behaviour), bounded to 20 s.
nat_discovery() {
  local h=$1 server=$2
  shift 2
  (($#)) || set -- -m -f
  n "$h" timeout 20 turnutils_natdiscovery "$@" "$server" 2>&1 || true
}

# ---------------------------------------------------------------------------------------
# The whole network
# ---------------------------------------------------------------------------------------

# topology_up — builds everything in the diagram. Needs net_begin first.
topology_up() {
  NET_DELAY=${NET_DELAY:-5ms}
  local h x
  internet_up
  for h in "${INTERNET_HOSTS[@]}"; do internet_host "$h"; done
  for x in "${ACCESS_NETS[@]}"; do
    access_router "$x"
    h=${ACCESS_HOST[$x]}
    ns_add "$h"
    lan_host "$x" "$h" eth0 "${HOST_V4[$h]:-}" "${HOST_V6[$h]:-}"
  done
  ns_add "$MOBILE"
  node_attach "$MOBILE" a
  offloads_off
  echo "$NET_DELAY" >"$NET_STATE/delay"
}

topology_status() {
  local ns short x
  echo "test network '$NET_PREFIX' (access link delay $(cat "$NET_STATE/delay" 2>/dev/null || echo ?) one way)"
  while read -r ns; do
    short=${ns#"$NET_PREFIX"-}
    printf '%-6s %s\n' "$short" \
      "$(ip -n "$ns" -br addr show | awk '$1 != "lo" {
         sub(/@.*/, "", $1); a = ""; for (i = 3; i <= NF; i++) if ($i !~ /^fe80/) a = a " " $i
         if (a != "") printf "%s:%s  ", $1, a }')"
  done <"$NET_STATE/namespaces"
  for x in "${ACCESS_NETS[@]}"; do
    local kind
    kind=$(nat_kind "rtr-$x")
    if [[ $kind == none ]]; then
      echo "rtr-$x: no NAT (${ACCESS_KIND[$x]} access network)"
    else
      echo "rtr-$x: NAT $kind, udp binding timeout" \
        "$(n "rtr-$x" sysctl -n net.netfilter.nf_conntrack_udp_timeout) s"
    fi
    link_stats "rtr-$x" | sed 's/^/    /'
  done
  echo "$MOBILE is on LAN $(node_lan "$MOBILE")"
}

# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

topology_main() {
  local cmd="" prefix=${NTM_NET_PREFIX:-ntm} args=()
  # --prefix may come anywhere, except inside the command given to `exec HOST`.
  while (($#)); do
    if [[ $1 == --prefix ]]; then
      prefix=${2:?--prefix needs a value}
      shift 2
      continue
    fi
    if [[ -z $cmd ]]; then cmd=$1; else args+=("$1"); fi
    shift
    if [[ $cmd == exec && ${#args[@]} -ge 1 ]]; then
      args+=("$@")
      break
    fi
  done
  set -- "${args[@]+"${args[@]}"}"
  case $cmd in
  up)
    if [[ ${1:-} == --delay ]]; then NET_DELAY=${2:?--delay needs a value, e.g. 5ms}; fi
    net_require_root
    local t0=$EPOCHREALTIME
    net_begin "$prefix"
    topology_up
    net_keep
    log "up in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s;" \
      "hosts: ip netns exec $prefix-HOST ... (or: topology.sh exec HOST ...)"
    ;;
  down)
    net_attach "$prefix"
    net_teardown
    log "down"
    ;;
  status)
    net_attach "$prefix"
    topology_status
    ;;
  exec)
    net_attach "$prefix"
    (($# >= 2)) || die "usage: exec HOST CMD..."
    n "$@"
    ;;
  move)
    net_attach "$prefix"
    (($# >= 2)) || die "usage: move mn a|b|c|6|g [--mbb]"
    node_move "$@"
    log "$1 is on LAN $(node_lan "$1")"
    ;;
  link)
    net_attach "$prefix"
    (($# >= 3)) || die "usage: link a|b|c|6|g up|down|both --delay D --loss P ..."
    link_set "rtr-$1" "${@:2}"
    link_stats "rtr-$1"
    ;;
  timeout)
    net_attach "$prefix"
    (($# == 2)) || die "usage: timeout a|b|c SECONDS"
    nat_udp_timeout "rtr-$1" "$2"
    ;;
  gc) net_gc ;;
  *)
    sed -n '/^# Usage/,/^# Tests source/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  topology_main "$@"
fi
