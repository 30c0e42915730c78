# shellcheck shell=bash
# tests/net/routers.sh — what a router namespace can be, and the link emulator on its links.
# Source after lib.sh.
#
#   nat_router rtr-a wan0 eim          # NAT, endpoint-independent mapping
#   nat_router rtr-b wan0 symmetric    # NAT, a fresh random port per destination
#   nat_udp_timeout rtr-c 30           # UDP bindings expire after 30 s idle
#   ns_forwarding rtr-g                # plain router: the IPv6-only and global access nets
#   link_emulate rtr-a lan0 wan0 "--delay 5ms" "--delay 5ms --loss 1%"
#   link_set rtr-a both --delay 20ms   # change it while traffic flows
#
# NAT behaviour, in RFC 4787 terms, as Linux conntrack gives it:
#   eim        `masquerade`: the source port is kept whenever it is free, so one internal
#              address:port maps to the same external port whatever the destination —
#              endpoint-independent mapping (typical home router).
#   symmetric  `masquerade fully-random`: every new destination gets a new random port —
#              address-and-port-dependent mapping (typical carrier-grade / "symmetric" NAT).
#   Both filter inbound packets to existing conntrack entries, i.e. to the exact remote
#   address and port the binding was opened towards (address-and-port-dependent filtering);
#   the forward chain drops anything else arriving on the WAN side, and the input chain drops
#   new UDP flows addressed to the router itself, as a home router's firewall does. Without
#   that input rule Linux keeps a conntrack entry for an unsolicited datagram to one of its
#   ports (the packet is delivered locally and answered with an ICMP error), and that entry
#   takes the port: when two nodes punch and one's probe reaches the other's NAT before that
#   node's own probe left, its NAT must map the probe to another port, both NATs end up
#   holding such entries, and every later probe refreshes them — punching fails until both
#   sides stay quiet for the UDP timeout (docs/protocol.md §7.9).
#   A binding lives as long as its conntrack entry: nf_conntrack_udp_timeout (30 s by
#   default) until a reply is seen, nf_conntrack_udp_timeout_stream (120 s) after that;
#   nat_udp_timeout sets both, per router namespace.

# nat_ruleset WAN_IF eim|symmetric — prints the nftables ruleset of such a NAT router (also used
# by docker/netsetup.sh, so the Docker mirror runs the very same rules).
nat_ruleset() {
  local wan=$1 kind=$2 how
  case $kind in
  eim) how="masquerade" ;;
  symmetric) how="masquerade fully-random" ;;
  *) die "nat_router: kind must be eim or symmetric, not '$kind'" ;;
  esac
  cat <<EOF
table ip ntm_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$wan" $how comment "$kind"
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "$wan" ct state established,related accept
    iifname "$wan" counter drop comment "unsolicited inbound"
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$wan" meta l4proto udp ct state new counter drop comment "unsolicited to the router"
  }
}
EOF
}

# nat_router NS WAN_IF eim|symmetric — IPv4 NAT for everything leaving through WAN_IF.
nat_router() {
  local ns=$1 wan=$2 kind=$3 rules
  rules=$(nat_ruleset "$wan" "$kind")
  ns_forwarding "$ns"
  n "$ns" nft -f - <<<"$rules"
}

# nat_kind NS — prints eim or symmetric (from the rule comment), or "none".
nat_kind() {
  n "$1" nft list table ip ntm_nat 2>/dev/null |
    sed -n 's/.*masquerade.*comment "\([a-z]*\)".*/\1/p' | head -n1 | grep . || echo none
}

# nat_udp_timeout NS SECONDS — idle lifetime of a UDP binding on router NS.
nat_udp_timeout() {
  n "$1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$2" \
    net.netfilter.nf_conntrack_udp_timeout_stream="$2"
}

# ---------------------------------------------------------------------------------------
# Link emulation (ntm-linkemu; this kernel has no netem)
# ---------------------------------------------------------------------------------------
# Packets are queued in the raw PREROUTING hook, before conntrack and NAT, by the interface
# they enter through:
#   NFQUEUE 1  entering via LAN_IF   "up":   LAN -> router -> internet
#   NFQUEUE 2  entering via WAN_IF   "down": internet -> router -> LAN
# so the two directions of an access link are set separately. Traffic inside a LAN is
# bridged, never routed, and is not delayed.

# link_emulate NS LAN_IF WAN_IF [UP_OPTS] [DOWN_OPTS] — options as `ntm-linkemu run` takes
# them, e.g. "--delay 5ms --jitter 1ms --loss 1%". The emulator is bound before the rules
# go in (with no listener the kernel would drop queued packets).
link_emulate() {
  local ns=$1 lan=$2 wan=$3 up=${4:-} down=${5:-} ipt
  local pidfile="$NET_STATE/linkemu-$ns.pid"
  # shellcheck disable=SC2086 # options are word lists by design
  bg "$ns" "linkemu-$ns" "$(net_bin ntm-linkemu)" run --pidfile "$pidfile" \
    --seed "${NTM_NET_SEED:-1}" --queue 1 $up --queue 2 $down
  wait_until 30 test -s "$pidfile" || die "ntm-linkemu did not start in $ns"
  for ipt in iptables ip6tables; do
    n "$ns" "$ipt" -t raw -A PREROUTING -i "$lan" -j NFQUEUE --queue-num 1
    n "$ns" "$ipt" -t raw -A PREROUTING -i "$wan" -j NFQUEUE --queue-num 2
  done
}

# link_set NS up|down|both OPTS... — change a running emulator, e.g. `link_set rtr-a both
# --delay 20ms --loss 2%`. Settings not named keep their values.
link_set() {
  local ns=$1 dir=$2 q
  shift 2
  case $dir in
  up) q=1 ;;
  down) q=2 ;;
  both) q="1 2" ;;
  *) die "link_set: direction must be up, down or both" ;;
  esac
  for q in $q; do
    n "$ns" "$(net_bin ntm-linkemu)" set --queue "$q" "$@" >/dev/null
  done
}

# link_stats NS — per-direction counters and settings of NS's emulator.
link_stats() {
  n "$1" "$(net_bin ntm-linkemu)" stats | sed -e 's/^queue=1 /up:   /' -e 's/^queue=2 /down: /'
}
