#!/usr/bin/env bash
# NTM nodes on the reference topology: a DC on dc1 and nodes on the access networks.
#
#   dc1 198.18.0.11, 2001:db8::11 (ntm-dc, domain dc1.ntm.test)
#    |
#  ==+=========================== internet ==================================
#        |                   |                   |                 |
#     rtr-a (EIM NAT)     rtr-b (symmetric)    rtr-6 (IPv6 only)  rtr-g (routed)
#        |                   |                   |                 |
#       na                  nb                  n6                ng
#
# 1. na (behind NAT) -> ng (global): the DC makes the CN (ng) the initiator (docs/protocol.md
#    §7.2) and na punches; TCP through the tunnel, both directions, byte for byte.
# 2. na -> nb: both behind NAT and no relay configured: the DC still directs the tunnel, with
#    each node's NAT-mapped candidate, for the nodes to punch (§7.9; whether it opens depends
#    on the NATs — tests/net/test_paths.sh covers the matrix with a relay).
# 3. n6 (IPv6-only) -> ng over an IPv6 underlay: TCP with full-size segments, whose outer
#    packets are exactly 1500 bytes (counted on rtr-6); UDP between the nodes' IPv6 vIPs, up
#    to the largest datagram. The DC hands out the address it sees a node at, so the node on
#    ng that n6 talks to registers over IPv6 (an IPv4 and an IPv6-only node need a relay).
# 4. A path MTU of 1280 (the IPv6 minimum) on n6's access link: TCP still gets through.
#    n6 knows its own link's MTU; ng learns it from rtr-6's ICMPv6 Packet Too Big. Either
#    way the kernel fragments the outer UDP datagrams, and the tunnel's 1420-byte inner MTU
#    stays as it is.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc)
NODE=$(net_bin ntm-testnode)

# --- The DC ----------------------------------------------------------------------------------
"$DC" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
DC_KEY=$(cat "$NET_STATE/dc.pub")
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 \
  --listen "[2001:db8::11]:7100" --domain dc1.ntm.test --vip4-pool 100.64.0.0/24 \
  --vip6-pool fd00:6e74:6d::/112
bg_wait_line dc 'listening on udp \[2001:db8::11\]:7100' 30

# node HOST NAME DC_ADDRESS ARGS... — ntm-testnode ARGS as node NAME on HOST, in the
# background (log: node-NAME, stdout and libntm's log).
node() {
  local h=$1 name=$2 dc=$3
  shift 3
  bg "$h" "node-$name" env NTM_DC="$dc" NTM_DC_KEY="$DC_KEY" NTM_NAME="$name" \
    NTM_STATE_DIR="$NET_STATE/node-$name" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 "$NODE" "$@"
}
log_of() { bg_log "node-$1"; }

node ng ng 198.18.0.11:7100 serve 7000 --conns 1
bg_wait_line node-ng '^ready' 30

# --- 1. Behind NAT -> global ---------------------------------------------------------------
node na na 198.18.0.11:7100 client ng.dc1.ntm.test 7000 --bytes 1000000
bg_wait_line node-na '^(ok|fail|error) ' 120
grep -q '^ok conns=1 bytes=1000000' "$(log_of na)" || die "na -> ng: $(grep -E '^(fail|error)' "$(log_of na)")"
grep -q 'direction na.dc1.ntm.test -> ng.dc1.ntm.test .*: ng.dc1.ntm.test sends the tunnel request' \
  "$(bg_log dc)" || die "the DC did not make ng (the CN) the initiator"
pass "na (behind rtr-a's NAT) -> ng: 1 MB echoed byte for byte through the tunnel"

# --- 2. Both behind NAT ------------------------------------------------------------------------
node nb nb 198.18.0.11:7100 info # registers, and stays registered after it exits
bg_wait_line node-nb '^info ' 30
node na na2 198.18.0.11:7100 resolve nb.dc1.ntm.test
bg_wait_line node-na2 '^(resolved|error) ' 60
grep -q '^resolved vip=100\.64\.' "$(log_of na2)" ||
  die "na -> nb: $(grep -E '^(resolved|error)' "$(log_of na2)")"
grep -q 'direction na2.dc1.ntm.test -> nb.dc1.ntm.test .*: nb.dc1.ntm.test sends the tunnel request; 1 candidates each way$' \
  "$(bg_log dc)" || die "the DC did not direct na2 -> nb with one candidate each way and no relay"
pass "na -> nb, both behind NAT, no relay: directed for punching (nb's vIP resolved)"

# --- 3. IPv6 underlay, outer packets of 1500 bytes --------------------------------------------
n rtr-6 nft -f - <<'EOF'
table inet ntm_test {
  chain forward {
    type filter hook forward priority filter; policy accept;
    meta l4proto udp meta length 1500 counter
    meta l4proto udp meta length > 1500 counter
  }
}
EOF
counter() { n rtr-6 nft list chain inet ntm_test forward | awk -v w="$1" '$0 ~ w {for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1)}'; }
# Serves one connection more than it gets: a server that ends stops its node, and with it the
# echo still in flight towards a slow path.
node ng ng6 "[2001:db8::11]:7100" serve 7000 --conns 3
bg_wait_line node-ng6 '^ready' 30
node n6 n6 "[2001:db8::11]:7100" client ng6.dc1.ntm.test 7000 --bytes 1000000
bg_wait_line node-n6 '^(ok|fail|error) ' 120
grep -q '^ok conns=1 bytes=1000000' "$(log_of n6)" || die "n6 -> ng: $(grep -E '^(fail|error)' "$(log_of n6)")"
full=$(counter 'length 1500') over=$(counter 'length > 1500')
((full > 100)) || die "only $full outer packets of 1500 bytes crossed rtr-6"
((over == 0)) || die "$over outer packets over 1500 bytes crossed rtr-6"
pass "n6 -> ng over IPv6: 1 MB echoed; $full outer packets of exactly 1500 bytes, none larger"

node ng ng6u "[2001:db8::11]:7100" serve 7001 --udp --v6
bg_wait_line node-ng6u '^ready' 30
node n6 n6u "[2001:db8::11]:7100" client ng6u.dc1.ntm.test 7001 --udp --v6 --sizes 1,1400,20000,65487 --bytes 86888
bg_wait_line node-n6u '^(ok|fail|error) ' 120
grep -q '^ok conns=1 bytes=86888 datagrams=4' "$(log_of n6u)" ||
  die "n6 -> ng UDP over IPv6 vIPs: $(grep -E '^(fail|error)' "$(log_of n6u)")"
bg_wait_line node-ng6u '^served datagrams=4 bytes=86888' 30
pass "n6 -> ng: UDP between IPv6 vIPs, datagrams of 1 to 65,487 bytes, each once"

# --- 4. Path MTU 1280 ----------------------------------------------------------------------------
n n6 ip link set eth0 mtu 1280
n rtr-6 ip link set n6 mtu 1280
n rtr-6 ip link set lan0 mtu 1280
node n6 n6m "[2001:db8::11]:7100" client ng6.dc1.ntm.test 7000 --bytes 1000000
bg_wait_line node-n6m '^(ok|fail|error) ' 120
grep -q '^ok conns=1 bytes=1000000' "$(log_of n6m)" ||
  die "n6 -> ng with a 1280-byte link: $(grep -E '^(fail|error)' "$(log_of n6m)")"
pass "n6 -> ng across a 1280-byte MTU link: 1 MB echoed byte for byte"
