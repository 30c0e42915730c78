#!/usr/bin/env bash
# Handover with the peer as the sender (issue: a peer learned where the mover went only when
# the mover happened to send, up to a keep-alive interval later, then waited out its backed-off
# TCP timer). mn moves from LAN A (EIM NAT) to LAN C (another NAT, another address) while ng
# streams to it through the tunnel; mn's handover module (libntm/src/handover/) sees the
# addresses and default route change over rtnetlink, registers again with the DC and sends an
# authenticated keep-alive on the tunnel from the new path, and ng's tunnel follows it
# (roaming). The test asserts the mechanism (mn logs the change, the DC sees mn register again
# from the new NAT during the stream: with tunnel keep-alives of 60 s, nothing else would make
# it) and the bytes; the pause is printed, never asserted.
#
#   test_handover.sh            the test below
#   test_handover.sh bench N    bench/handover.sh: N rounds of each move, with the watcher and
#                               without (NTM_WATCH_NETWORK=0), median and p95 of the pause
#
#   dc1 198.18.0.11 ---- internet ----+---- rtr-a (EIM NAT) ---- mn on LAN A, then
#                                     +---- rtr-c (EIM NAT) ---- mn on LAN C
#                                     +---- rtr-g (routed)  ---- ng (the sender)
#
# 1. break before make: `topology.sh move mn c` 1.5 s into a paced 3 MB stream ng -> mn: the
#    stream completes byte-exact, mn keeps its vIP, mn logs the network change, the DC sees
#    mn register again from rtr-c's address. The longest pause in arrival is printed.
# 2. make before break back to LAN A (both links up, then LAN C removed): the same.
set -euo pipefail
mode=${1:-test}
runs=${2:-10}
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc)
CAT=$(net_bin ntm-cat)
TOPOLOGY="$(dirname "$0")/topology.sh"

"$DC" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
DC_KEY=$(cat "$NET_STATE/dc.pub")
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --domain dc1.ntm.test \
  --vip4-pool 100.64.0.0/24 --vip6-pool none
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30

chunks=30 chunk=100000 # 3 MB, 100 kB every 100 ms
head -c $((chunks * chunk)) /dev/urandom >"$NET_STATE/stream.bin"

# stream ROUND WATCH MOVE... — mn listens, ng sends the paced stream; MOVE runs 1.5 s in.
# WATCH=0: both nodes without the rtnetlink watcher. Sets PAUSE (ms).
stream() {
  local round=$1 watch=$2
  shift 2
  local got=$NET_STATE/got.$round
  : >"$got"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell: stdout to $got
  bg mn "mn.$round" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$got" \
    env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" NTM_NAME=mn \
    NTM_STATE_DIR="$NET_STATE/node-mn" NTM_KEEPALIVE_MS=60000 NTM_WATCH_NETWORK="$watch" NTM_LOG=info \
    NTM_START_TIMEOUT_MS=30000 timeout 60 "$CAT" -v -l 9000
  local mn_pid=$BG_PID
  bg_wait_line "mn.$round" listening 30
  # Arrival times: the received size every 20 ms (bounded: 60 s).
  (for _ in $(seq 3000); do
    printf '%s %s\n' "$EPOCHREALTIME" "$(stat -c %s "$got")"
    sleep 0.02
  done) >"$NET_STATE/arrivals.$round" 2>/dev/null &
  local sampler=$!
  echo "$sampler sampler" >>"$NET_STATE/pids"
  (for i in $(seq 0 $((chunks - 1))); do
    dd if="$NET_STATE/stream.bin" bs=$chunk skip="$i" count=1 status=none
    sleep 0.1
  done) | ip netns exec "$NET_PREFIX-ng" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" \
    NTM_NAME=ng NTM_STATE_DIR="$NET_STATE/node-ng" NTM_KEEPALIVE_MS=60000 NTM_WATCH_NETWORK="$watch" NTM_LOG=info \
    NTM_START_TIMEOUT_MS=30000 timeout 40 "$CAT" -v mn.dc1.ntm.test 9000 \
    >/dev/null 2>"$(bg_log "ng.$round")" &
  local ng_pid=$!
  echo "$ng_pid ng.$round" >>"$NET_STATE/pids"
  sleep 1.5
  local t0=$EPOCHREALTIME
  "$@"
  local rc=0
  wait "$ng_pid" || rc=$?
  ((rc == 0)) || die "round $round: the sender (ng) failed ($rc): $(tail -5 "$(bg_log "ng.$round")")"
  wait "$mn_pid" || die "round $round: the receiver (mn) failed: $(tail -5 "$(bg_log "mn.$round")")"
  kill "$sampler" 2>/dev/null || true
  cmp -s "$NET_STATE/stream.bin" "$got" ||
    die "round $round: mn received $(stat -c %s "$got") bytes, or other ones, of $((chunks * chunk))"
  ((watch == 0)) || grep -q 'network changed' "$(bg_log "mn.$round")" ||
    die "round $round: mn did not notice the move: $(grep -i network "$(bg_log "mn.$round")")"
  # The longest time the received size stood still after the move began.
  PAUSE=$(awk -v t0="$t0" -v total=$((chunks * chunk)) '
    $1 >= t0 && prev != "" && $2 == psize && $2 < total { if ($1 - pt > m) m = $1 - pt }
    $2 != psize || prev == "" { pt = $1; psize = $2 } { prev = $1 }
    END { printf "%.0f", m * 1000 }' "$NET_STATE/arrivals.$round")
}

mbb_to() {
  node_attach mn "$1"
  sleep 0.2
  node_detach mn "$2"
}

if [[ $mode == bench ]]; then
  # pct P VALUES... — the P-th percentile (nearest rank) of the values.
  pct() {
    local p=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR] = $1} END {i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i]}'
  }
  declare -A pauses=()
  for i in $(seq "$runs"); do
    for watch in 1 0; do
      stream "b$i-$watch-bbm" "$watch" bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
      pauses[$watch bbm]+="$PAUSE "
      stream "b$i-$watch-mbb" "$watch" mbb_to a c
      pauses[$watch mbb]+="$PAUSE "
    done
    log "run $i of $runs done"
  done
  echo "handover pause (longest gap in arrival at mn while ng streams to it, ms; $runs runs each)"
  printf '%-34s %8s %8s %8s\n' "move" "median" "p95" "max"
  for key in "1 bbm" "0 bbm" "1 mbb" "0 mbb"; do
    # shellcheck disable=SC2086 # the list is words
    set -- ${pauses[$key]}
    label="${key#* } $([[ ${key%% *} == 1 ]] && echo "with the watcher" || echo "NTM_WATCH_NETWORK=0")"
    printf '%-34s %8s %8s %8s\n' "$label" "$(pct 50 "$@")" "$(pct 95 "$@")" "$(pct 100 "$@")"
  done
  exit 0
fi

# --- 1. Break before make ---------------------------------------------------------------------
stream bbm 1 bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
grep -Eq 'registration .*mn\.dc1\.ntm\.test.*198\.18\.0\.203' "$(bg_log dc)" ||
  die "the DC did not see mn register again from rtr-c: $(grep mn.dc1 "$(bg_log dc)" | tail -3)"
pass "break before make (LAN A -> LAN C) under a stream from ng: 3 MB byte-exact, mn registered" \
  "again from rtr-c; longest pause in arrival ${PAUSE} ms"

# --- 2. Make before break ---------------------------------------------------------------------
stream mbb 1 mbb_to a c
grep -Eq 'registration .*mn\.dc1\.ntm\.test.*198\.18\.0\.201' "$(bg_log dc)" ||
  die "the DC did not see mn register again from rtr-a"
pass "make before break (LAN C -> LAN A): 3 MB byte-exact; longest pause in arrival ${PAUSE} ms"
