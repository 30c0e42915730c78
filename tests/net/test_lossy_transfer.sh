#!/usr/bin/env bash
# No silent data loss on a lossy path (issue 8): ntm-cat's exit status tells the truth.
#
#   dc1 198.18.0.11 ---- internet ----+---- rtr-a (EIM NAT) ---- na   sender, LAN A
#                                     |     loss on its access link, both directions
#                                     +---- rtr-g (routed) ----- ng   receiver 198.18.7.10
#
# 1. Every interface of the test network has TSO, GSO and GRO off (the emulator drops wire
#    packets, not 64 KiB aggregates).
# 2. With 2 % loss each way, na sends a 4 MiB file to ng: ntm-cat exits 0, ng's copy has the
#    same sha256, and the sender's counters show losses repaired by SACK recovery.
# 3. The path dies (100 % loss) after the connection is up and before the input is written:
#    ntm-cat cannot deliver it, waits its --linger, and exits 1 saying how many bytes were
#    not acknowledged; ng has received less than was sent. Exit status 0 must mean "all of
#    it arrived" — never a silent loss.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
CAT=$(net_bin ntm-cat)
DCBIN=$(net_bin ntm-dc)
TOPOLOGY="$(dirname "$0")/topology.sh"
link_a() { bash "$TOPOLOGY" link --prefix "$NET_PREFIX" a both "$@" >/dev/null; }

# --- 1. Offloads -----------------------------------------------------------------------------
left=$(offloads_report)
[[ -z $left ]] || die "offloads still on: $left"
pass "TSO, GSO and GRO are off on every interface"

n dc1 "$DCBIN" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
bg dc1 dc "$DCBIN" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain loss.ntm.test
export NTM_DC=198.18.0.11:7100 NTM_DC_KEY
NTM_DC_KEY=$(cat "$NET_STATE/dc.pub")

# receiver NAME PORT — ntm-cat -l on ng, stdout to $NET_STATE/NAME.out, stdin empty (so it
# ends its own stream at once), log in NAME.log.
receiver() {
  bg ng "$1" env NTM_NAME=sink NTM_STATE_DIR="$NET_STATE/sink" \
    sh -c "exec '$CAT' -v -l $2 >'$NET_STATE/$1.out'"
  RECEIVER_PID=$BG_PID
  bg_wait_line "$1" 'listening on tcp port' 30
}
size() { stat -c %s "$1"; }

# --- 2. 2 % loss: delivered, and exit 0 -------------------------------------------------------
head -c $((4 << 20)) /dev/urandom >"$NET_STATE/in4"
link_a --loss 2%
receiver recv1 9001
rc=0
n na env NTM_NAME=source NTM_STATE_DIR="$NET_STATE/source" \
  timeout 120 "$CAT" -v --stats sink.loss.ntm.test 9001 <"$NET_STATE/in4" 2>"$NET_STATE/send1.err" || rc=$?
wait "$RECEIVER_PID" || true
cat "$NET_STATE/send1.err" >&2
((rc == 0)) || die "the sender exited $rc on a 2 % lossy path"
[[ $(sha256sum <"$NET_STATE/in4") == $(sha256sum <"$NET_STATE/recv1.out") ]] ||
  die "exit 0 but ng received $(size "$NET_STATE/recv1.out") of $(size "$NET_STATE/in4") bytes (or other bytes)"
repaired=$(sed -n 's/.* tcp_rexmit_recovery=\([0-9]*\).*/\1/p' "$NET_STATE/send1.err")
[[ ${repaired:-0} -gt 0 ]] || die "no SACK-recovery retransmission counted at 2 % loss"
pass "2 % loss: 4 MiB arrived intact, exit 0; $repaired segments repaired by SACK recovery"

# --- 3. The path dies before the input is written: exit 1, and the reason ----------------------
link_a --loss 0
head -c $((1 << 20)) /dev/urandom >"$NET_STATE/in1"
mkfifo "$NET_STATE/fifo"
receiver recv2 9002
bg na send2 env NTM_NAME=source NTM_STATE_DIR="$NET_STATE/source" \
  sh -c "exec '$CAT' -v --linger 2000 sink.loss.ntm.test 9002 <'$NET_STATE/fifo'"
sender=$BG_PID
exec 7>"$NET_STATE/fifo" # the sender starts once its stdin is open
bg_wait_line send2 "the peer's stream ended" 20
link_a --loss 100%
cat "$NET_STATE/in1" >&7
exec 7>&-
bg_wait_line send2 'input ended after 1048576 bytes' 20
rc=0
wait "$sender" || rc=$?
((rc == 1)) || die "the sender exited $rc although the path was dead (want 1)"
grep -Eq '^ntm-cat: [0-9]+ bytes on 1 TCP connection not acknowledged by the peer' "$(bg_log send2)" ||
  die "the sender did not say what it could not deliver"
got=$(size "$NET_STATE/recv2.out")
((got < 1 << 20)) || die "the receiver got everything although the path was dead"
pass "dead path: exit 1 with \"$(grep -Eo '[0-9]+ bytes on 1 TCP connection not acknowledged[^(]*' "$(bg_log send2)")\"; ng got $got of 1048576 bytes"
