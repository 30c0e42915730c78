#!/usr/bin/env bash
# A relay that dies under a running stream (docs/protocol.md §7.9, §12). Nodes use a 2 s
# keep-alive interval, so they re-bind (and notice a dead relay) within a few seconds.
#
#   dc1 (ntm-dc, relays rs:7300 and rs:7301)     rs: two ntm-rs processes, one key
#    |                                             |
#  ==+================= internet ==================+=====================
#       |                     |                    |
#    rtr-a (EIM)           rtr-b (symmetric)      rtr-c (EIM; a firewall, then none)
#       na                    nb                     nc
#
# 1. na and nb (EIM ⇄ symmetric: punching fails) stream through the relay the DC chose; that
#    ntm-rs is killed. The nodes find the path dead (unanswered path challenges), ask the DC again
#    with the failed relay named, and the stream continues through the other relay intact.
# 2. Relay first, direct when it works: na and nc (EIM ⇄ EIM) while rtr-c's firewall drops all
#    UDP between the two NATs' public addresses, so the tunnel starts on the relay; with a stream
#    running the firewall opens, the next path probe gets through and the stream moves to the
#    punched path, once (no flapping back and forth), every byte echoed in order.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc)
RS=$(net_bin ntm-rs)
NODE=$(net_bin ntm-pathnode)

"$RS" --generate-key "$NET_STATE/relay.key"
declare -A RS_PID
for port in 7300 7301; do
  bg rs "rs$port" "$RS" --key-file "$NET_STATE/relay.key" --listen "198.18.0.20:$port"
  RS_PID[$port]=$BG_PID
  bg_wait_line "rs$port" 'relay server up' 30
done
"$DC" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
DC_KEY=$(cat "$NET_STATE/dc.pub")
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain dc1.ntm.test \
  --relay 198.18.0.20:7300 --relay 198.18.0.20:7301 --relay-key-file "$NET_STATE/relay.key" \
  --relay-check-interval 200
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30

# Relay data datagrams (type 0x07) reaching rs.
n rs nft -f - <<'EOF2'
table inet ntm_test {
  chain input {
    type filter hook input priority filter; policy accept;
    udp dport { 7300, 7301 } @th,64,8 0x07 counter
  }
}
EOF2
relayed() { n rs nft list chain inet ntm_test input | awk '/counter/ {for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1)}'; }
relayed_over() { (($(relayed) > $1)); }

node() {
  local h=$1 name=$2
  shift 2
  bg "$h" "node-$name" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME="$name" \
    NTM_STATE_DIR="$NET_STATE/node-$name" NTM_KEEPALIVE_MS=2000 NTM_LOG=info "$NODE" "$@"
}

# --- The relay dies under a stream --------------------------------------------------------
node nb rs-s serve 7000
bg_wait_line node-rs-s '^ready' 60
node na rs-c client rs-s.dc1.ntm.test 7000 --bytes 6291456 --chunk 16384 --pace-ms 15
bg_wait_line node-rs-c '^(setup|fail) ' 60
LOG=$(bg_log node-rs-c)
first=$(sed -n 's/^setup .* path=relayed via=198\.18\.0\.20:\(730[01]\).*/\1/p' "$LOG")
[[ -n $first ]] || die "na -> nb did not start on a relay: $(grep -E '^(setup|fail)' "$LOG")"
other=$((first == 7300 ? 7301 : 7300))
bg_stop "${RS_PID[$first]}"
pass "relay :$first carrying the stream killed"
bg_wait_line node-rs-c "^(path kind=relayed via=198\\.18\\.0\\.20:$other|ok |fail )" 90
bg_wait_line node-rs-c '^(ok|fail) ' 180
grep -q "^ok bytes=6291456 path=relayed via=198.18.0.20:$other" "$LOG" ||
  die "after the relay died: $(grep -E '^(path|ok|fail)' "$LOG")"
grep -q "reports relay 198.18.0.20:$first failed" "$(bg_log dc)" ||
  die "the DC did not hear that relay :$first failed"
pass "the stream moved to relay :$other and completed: 6 MiB echoed byte for byte"

# --- Relay first, direct when it works ----------------------------------------------------
# rtr-c drops UDP between the NATs' public addresses before conntrack sees it (inbound: at
# prerouting ahead of conntrack; outbound: in forward, before the new entry is confirmed), so
# neither NAT keeps state from the blocked probes and opening the firewall is all it takes.
n rtr-c nft -f - <<'EOF2'
table ip ntm_block {
  chain inbound {
    type filter hook prerouting priority -350; policy accept;
    iifname "wan0" ip saddr 198.18.0.201 counter drop
  }
  chain outbound {
    type filter hook forward priority -10; policy accept;
    oifname "wan0" ip daddr 198.18.0.201 counter drop
  }
}
EOF2
node nc up-s serve 7001
bg_wait_line node-up-s '^ready' 60
before=$(relayed)
node na up-c client up-s.dc1.ntm.test 7001 --bytes 4194304 --chunk 8192 --pace-ms 20
bg_wait_line node-up-c '^(setup|fail) ' 60
LOG=$(bg_log node-up-c)
grep -q '^setup .* path=relayed' "$LOG" ||
  die "na -> nc behind the firewall did not start on the relay: $(grep -E '^(setup|fail)' "$LOG")"
wait_until 30 relayed_over $((before + 100)) || die "the stream does not flow through the relay"
n rtr-c nft delete table ip ntm_block
pass "na -> nc streams through the relay; rtr-c's firewall opened"
bg_wait_line node-up-c '^(path kind=punched|ok |fail )' 60
bg_wait_line node-up-c '^(ok|fail) ' 120
grep -q '^path kind=punched' "$LOG" || die "no move to the punched path: $(grep -E '^(path|ok|fail)' "$LOG")"
changes=$(grep -c '^path kind=' "$LOG")
((changes == 1)) || die "the path changed $changes times, not once: $(grep '^path' "$LOG" | head -5)"
grep -q '^ok bytes=4194304 path=punched' "$LOG" ||
  die "the stream did not end on the punched path: $(grep -E '^(path|ok|fail)' "$LOG")"
bg_wait_line node-up-s '^conn closed ' 60
grep -q '^conn closed bytes=4194304 path=punched' "$(bg_log node-up-s)" ||
  die "the server side: $(grep '^conn closed' "$(bg_log node-up-s)")"
on_relay=$(($(relayed) - before))
pass "the stream moved from the relay to the punched path under way: 4 MiB echoed in order ($on_relay relay datagrams before the move)"
