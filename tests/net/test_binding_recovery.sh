#!/usr/bin/env bash
# A NAT binding that expires under an idle tunnel (issue 10 item 4; docs/protocol.md §7.9, §8.4).
#
#   dc1 (ntm-dc, relay rs:7300)          rs (ntm-rs)
#    |                                     |
#  ==+============== internet =============+==========
#       |                         |
#    rtr-a (EIM, UDP bindings    rtr-c (EIM)
#       expire after 4 s idle)
#       na: echo server          nc: client
#
# na and nc tunnel over the punched path. rtr-a forgets idle UDP bindings after 4 s, far less
# than the nodes' default keep-alive interval (15 s), so during each 12 s pause of the client's
# stream na's binding towards nc expires and nc's next chunk is dropped at rtr-a (counted by
# its firewall). The nodes must recover by themselves — the dead path found
# by unanswered path challenges, the relay or the next keep-alive reopening the binding — and
# the application sees nothing but a delay: every byte echoed, in order, no error.
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
bg rs rs "$RS" --key-file "$NET_STATE/relay.key" --listen 198.18.0.20:7300
bg_wait_line rs 'relay server up' 30
"$DC" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
DC_KEY=$(cat "$NET_STATE/dc.pub")
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain dc1.ntm.test \
  --relay 198.18.0.20:7300 --relay-key-file "$NET_STATE/relay.key"
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30

# Packets that reached rtr-a from the internet with no binding to let them in: addressed to
# rtr-a itself once the binding is gone, they meet its input rule (tests/net/routers.sh).
refused() {
  n rtr-a nft list table ip ntm_nat | awk '/unsolicited/ {
    for (i = 1; i <= NF; i++) if ($i == "packets") sum += $(i + 1)
  } END { print sum + 0 }'
}

node() {
  local h=$1 name=$2
  shift 2
  bg "$h" "node-$name" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME="$name" \
    NTM_STATE_DIR="$NET_STATE/node-$name" NTM_LOG=info "$NODE" "$@"
}

node na srv serve 7000
bg_wait_line node-srv '^ready' 60
node nc cli client srv.dc1.ntm.test 7000 --bytes 24576 --chunk 8192 --pace-ms 12000
bg_wait_line node-cli '^(setup|fail) ' 60
LOG=$(bg_log node-cli)
grep -q '^setup .* path=punched' "$LOG" || die "nc -> na did not punch: $(grep -E '^(setup|fail)' "$LOG")"
# Only now shorten the bindings' life: set-up and registration were not under test.
nat_udp_timeout rtr-a 4
sleep 1
before=$(refused)
pass "nc -> na punched; rtr-a's UDP bindings now expire after 4 s idle (keep-alives: every 15 s)"
bg_wait_line node-cli '^(ok|fail) ' 120
grep -q '^ok bytes=24576 ' "$LOG" || die "the stream did not survive: $(grep -E '^(path|ok|fail)' "$LOG")"
bg_wait_line node-srv '^conn closed ' 60
grep -q '^conn closed bytes=24576 ' "$(bg_log node-srv)" ||
  die "the server side: $(grep '^conn closed' "$(bg_log node-srv)")"
after=$(refused)
((after > before)) || die "no packet was refused at rtr-a: the binding never expired, nothing was tested"
pass "bindings expired twice under the idle tunnel ($((after - before)) packets refused at rtr-a); 24 KiB echoed intact, ending on $(sed -n 's/^ok bytes=[0-9]* path=\([a-z]*\).*/\1/p' "$LOG")"
