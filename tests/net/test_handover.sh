#!/usr/bin/env bash
# Handover (issue 12; paper 002 Fig. 5; the sequence as implemented: docs/architecture.md §4.1).
# mn moves while a peer streams to it through the tunnel; mn's handover module
# (libntm/src/handover/) sees addresses and default routes change over rtnetlink, announces the
# new path on every tunnel (keep-alive + path challenge: a peer that can be reached directly
# follows at once, roaming), registers again with the DC, and re-creates through the DC every
# tunnel whose peer did not answer from the new position yet (direct, punched or relayed as the
# new position allows). When a tunnel's path works again, TCP that waits for a backed-off
# timer retransmits at once. Each round asserts the bytes (byte-exact), mn's vIP (unchanged),
# and the mechanism the round is about (log lines of mn, the peer and the DC); the pause in
# arrival is printed, never asserted.
#
#   test_handover.sh            the rounds below
#   test_handover.sh bench N    bench/handover.sh: N rounds of each move, with the watcher and
#                               without (NTM_WATCH_NETWORK=0), median and p95 of the pause
#
#   dc1 198.18.0.11, rs 198.18.0.20 ---- internet ----+---- rtr-a (EIM NAT) ---- mn on LAN A
#                                                     +---- rtr-b (symmetric) -- (mn on LAN B)
#                                                     +---- rtr-c (EIM NAT) ---- nc, (mn on LAN C)
#                                                     +---- rtr-g (routed)  ---- ng
#
# 1. break before make A -> C under a stream from ng (global): the fast path (ng roams to mn's
#    new address) and the re-registration from rtr-c.
# 2. make before break C -> A, the same.
# 3. relay after the move: A -> B (symmetric NAT) under a stream from nc (behind rtr-c, which
#    filters by address and port): nc cannot follow mn by roaming; the re-created tunnel goes
#    through the relay server.
# 4. the DC unreachable during the move: B -> C with the DC dropping everything from rtr-c for
#    2.5 s under a stream from ng: the stream goes on by roaming; mn's registration is
#    retransmitted until the DC answers again.
# 5. flapping: mn switches between LAN C and LAN A six times in 1.2 s (two links up, then
#    one gone, alternately) under a stream from ng.
# 6. to the IPv6-only network (C -> 6) under a stream from ng: mn reaches its DC at the DC's
#    IPv6 address (NTM_DC lists both) and the tunnel is re-created over IPv6.
# 7. without rtnetlink (NTM_WATCH_NETWORK=poll, the fallback): 6 -> C; the periodic check of
#    the host's addresses sees the move.
# 8. both ends move at once: mn C -> A while mo (a second mobile node) goes from the global
#    network to LAN C, streaming to mn.
# 9. nothing leaks: four moves in one mn process; its descriptors, and both nodes' tunnels,
#    negotiations, relay sessions and sockets (ntm_stats gauges), are what one peer needs.
set -euo pipefail
mode=${1:-test}
runs=${2:-10}
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
DC=$(net_bin ntm-dc)
RS=$(net_bin ntm-rs)
CAT=$(net_bin ntm-cat)
TOPOLOGY="$(dirname "$0")/topology.sh"

"$RS" --generate-key "$NET_STATE/relay.key"
bg rs rs "$RS" --key-file "$NET_STATE/relay.key" --listen 198.18.0.20:7300
bg_wait_line rs 'relay server up' 30
"$DC" --state-dir "$NET_STATE/dc" --print-public-key >"$NET_STATE/dc.pub"
DC_KEY=$(cat "$NET_STATE/dc.pub")
bg dc1 dc "$DC" --state-dir "$NET_STATE/dc" --listen 198.18.0.11:7100 --listen '[2001:db8::11]:7100' \
  --domain dc1.ntm.test \
  --vip4-pool 100.64.0.0/24 --vip6-pool none \
  --relay 198.18.0.20:7300 --relay-key-file "$NET_STATE/relay.key"
bg_wait_line dc 'listening on udp 198.18.0.11:7100' 30

# The stream: $CHUNKS chunks (30 unless set) of $CHUNK bytes (100 kB unless set), one every
# $TICK seconds (0.1 unless set): 3 MB in 3 s.
head -c 7000000 /dev/urandom >"$NET_STATE/stream.all"

# stream ROUND WATCH MOVE... — mn listens, $SENDER (ng unless set) sends the paced stream; MOVE
# runs 1.5 s in. WATCH=0: both nodes without the rtnetlink watcher. Sets PAUSE (ms).
stream() {
  local round=$1 watch=$2 sender=${SENDER:-ng} chunks=${CHUNKS:-30} chunk=${CHUNK:-100000}
  local tick=${TICK:-0.1}
  # Safety bounds, not expectations: the stream's nominal length (chunks x tick) three times
  # over plus 20 s, at least 50 s for the sender (each chunk is a dd and a sleep, and under
  # CPU contention a 30 s stream took over 50 s); the receiver outlives the sender.
  local limit
  limit=$(awk -v c="$chunks" -v t="$tick" 'BEGIN { l = int(c * t * 3 + 20); print (l < 50 ? 50 : l) }')
  shift 2
  head -c $((chunks * chunk)) "$NET_STATE/stream.all" >"$NET_STATE/stream.bin"
  local got=$NET_STATE/got.$round
  : >"$got"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell: stdout to $got
  bg mn "mn.$round" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$got" \
    env NTM_DC='198.18.0.11:7100,[2001:db8::11]:7100' NTM_DC_KEY="$DC_KEY" NTM_NAME=mn \
    NTM_STATE_DIR="$NET_STATE/node-mn" NTM_KEEPALIVE_MS=60000 NTM_WATCH_NETWORK="$watch" NTM_LOG=info \
    NTM_START_TIMEOUT_MS=30000 timeout $((limit + 20)) "$CAT" -v --stats -l 9000
  local mn_pid=$BG_PID
  MN_PID=$mn_pid
  bg_wait_line "mn.$round" listening 30
  # Arrival times: the received size every 20 ms (bounded: 60 s).
  (for _ in $(seq 3000); do
    printf '%s %s\n' "$EPOCHREALTIME" "$(stat -c %s "$got")"
    sleep 0.02
  done) >"$NET_STATE/arrivals.$round" 2>/dev/null &
  local sampler=$!
  net_track "$sampler" sampler
  (for i in $(seq 0 $((chunks - 1))); do
    dd if="$NET_STATE/stream.bin" bs="$chunk" skip="$i" count=1 status=none
    sleep "$tick"
  done) | ip netns exec "$NET_PREFIX-$sender" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$DC_KEY" \
    NTM_NAME="$sender" NTM_STATE_DIR="$NET_STATE/node-$sender" NTM_KEEPALIVE_MS=60000 \
    NTM_WATCH_NETWORK="$watch" NTM_LOG=info NTM_START_TIMEOUT_MS=30000 \
    timeout "$limit" "$CAT" -v --stats mn.dc1.ntm.test 9000 >/dev/null 2>"$(bg_log "ng.$round")" &
  local ng_pid=$!
  net_track "$ng_pid" "ng.$round"
  sleep 1.5
  local t0=$EPOCHREALTIME
  "$@"
  local rc=0
  wait "$ng_pid" || rc=$?
  ((rc == 0)) || die "round $round: the sender ($sender) failed ($rc): $(tail -5 "$(bg_log "ng.$round")")"
  wait "$mn_pid" || die "round $round: the receiver (mn) failed: $(tail -5 "$(bg_log "mn.$round")")"
  kill "$sampler" 2>/dev/null || true
  cmp -s "$NET_STATE/stream.bin" "$got" ||
    die "round $round: mn received $(stat -c %s "$got") bytes, or other ones, of $((chunks * chunk))"
  [[ $watch == 0 ]] || grep -q 'network changed' "$(bg_log "mn.$round")" ||
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
  # pct P VALUES... — the P-th percentile (nearest rank) of the values ("-" for none).
  pct() {
    local p=$1
    shift
    (($#)) || {
      echo -
      return
    }
    printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR] = $1} END {i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i]}'
  }
  # Moves that note when the old link went down (T_DOWN) and when the new one was up (T_UP).
  bbm_to() {
    T_DOWN=$EPOCHREALTIME
    node_detach mn "$2"
    node_attach mn "$1"
    T_UP=$EPOCHREALTIME
  }
  mbb_timed() {
    node_attach mn "$1"
    T_UP=$EPOCHREALTIME
    sleep 0.2
    T_DOWN=$EPOCHREALTIME
    node_detach mn "$2"
  }
  declare -A res=()
  # measure KEY ROUND — reads mn's log of ROUND: the handover (old link down -> the first
  # byte after the longest gap in arrival, ms; 0 when no gap outlasted the move) and, from
  # mn's own account, the steps after the change it reacted to last: registered again, the
  # peer's answer at the new position (fast path), the re-created tunnel.
  measure() {
    local key=$1 f
    f=$(bg_log "mn.$2")
    local end reg fast rec
    end=$(sed -n 's/.*longest gap in arrival [0-9.]* ms, ended at \([0-9.]*\).*/\1/p' "$f" | tail -n1)
    reg=$(sed -n 's/.*registered again \([0-9.]*\) ms after.*/\1/p' "$f" | tail -n1)
    fast=$(sed -n 's/.*answers at our new position (\([0-9.]*\) ms after.*/\1/p' "$f" | tail -n1)
    rec=$(sed -n 's/.*replaces the old one \([0-9.]*\) ms after.*/\1/p' "$f" | tail -n1)
    res[$key ho]+="$(awk -v e="$end" -v d="$T_DOWN" 'BEGIN {h = (e - d) * 1000; printf "%.0f", (h > 0 ? h : 0)}') "
    res[$key up]+="$(awk -v u="$T_UP" -v d="$T_DOWN" 'BEGIN {h = (u - d) * 1000; printf "%.0f", (h > 0 ? h : 0)}') "
    res[$key new]+="$(awk -v e="$end" -v u="$T_UP" -v d="$T_DOWN" 'BEGIN {
      t = (u > d ? u : d); h = (e - t) * 1000; printf "%.0f", (h > 0 ? h : 0)}') "
    [[ -n $reg ]] && res[$key reg]+="${reg%.*} "
    [[ -n $fast ]] && res[$key fast]+="${fast%.*} "
    [[ -n $rec ]] && res[$key rec]+="${rec%.*} "
    res[$key pause]+="$PAUSE "
  }
  export CHUNKS=300 CHUNK=10000 TICK=0.01 # 3 MB in 3 s, 10 kB every 10 ms
  keys=(fast-bbm fast-mbb relay v6 v4 nowatch-bbm)
  for i in $(seq "$runs"); do
    # mn starts on LAN A, and ends there.
    stream "f$i" 1 bbm_to c a && measure fast-bbm "f$i"
    stream "m$i" 1 mbb_timed a c && measure fast-mbb "m$i"
    SENDER=nc stream "r$i" 1 bbm_to b a && measure relay "r$i"
    stream "s$i" 1 bbm_to 6 b && measure v6 "s$i"
    stream "x$i" 1 bbm_to c 6 && measure v4 "x$i"
    stream "n$i" 0 bbm_to a c && measure nowatch-bbm "n$i"
    log "run $i of $runs done"
  done
  echo "handover with the peer sending (ms; $runs runs each; median / p95)"
  echo "  handover: old link down -> first byte after the longest gap in arrival at mn"
  echo "  link gap: old link down -> new link up (the test network's, not the node's)"
  echo "  from new link: the later of old link down / new link up -> that first byte"
  echo "  registered / re-created: after the change mn reacted to last (the new link);"
  echo "  fast path: mn's challenge from the new position -> the peer's answer"
  printf '%-44s %11s %11s %11s %11s %11s %11s\n' scenario handover "link gap" "from new" \
    registered "fast path" re-created
  declare -A label=([fast-bbm]="A->C break-before-make, peer ng (global)"
    [fast-mbb]="C->A make-before-break, peer ng"
    [relay]="A->B (symmetric NAT), peer nc: relay"
    [v6]="B->6 (IPv6-only), peer ng: over IPv6"
    [v4]="6->C (IPv4 behind NAT), peer ng"
    [nowatch-bbm]="C->A, NTM_WATCH_NETWORK=0 (baseline)")
  for key in "${keys[@]}"; do
    row=()
    for m in ho up new reg fast rec; do
      # shellcheck disable=SC2086 # the list is words
      row+=("$(pct 50 ${res[$key $m]:-})/$(pct 95 ${res[$key $m]:-})")
    done
    printf '%-44s %11s %11s %11s %11s %11s %11s\n' "${label[$key]}" "${row[@]}"
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

# --- 3. Relay after the move ------------------------------------------------------------------
# mn (LAN A) and nc (LAN C) start on a punched path; behind the symmetric NAT mn is out of nc's
# reach (rtr-c admits only the address and port nc sent to), so only the DC can direct a new
# tunnel, and between a symmetric NAT and a filtering one that is the relay.
SENDER=nc stream relay 1 bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn b
grep -q 'replaces the old one' "$(bg_log mn.relay)" ||
  die "mn did not re-create its tunnel to nc: $(grep -E 'tunnel|network' "$(bg_log mn.relay)" | tail -5)"
grep -Eq 'established via relay 198\.18\.0\.20:7300' "$(bg_log mn.relay)" ||
  die "the re-created tunnel does not go through the relay: $(grep established "$(bg_log mn.relay)")"
pass "relay after the move (LAN A -> LAN B, symmetric NAT) under a stream from nc: 3 MB" \
  "byte-exact through the re-created, relayed tunnel; longest pause in arrival ${PAUSE} ms"

# --- 4. The DC unreachable during the move ----------------------------------------------------
# dc1 drops everything from rtr-c's address for 2.5 s from the moment mn leaves LAN B.
dc_block() {
  n dc1 nft -f - <<'EOF2'
table inet ntm_block {
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr 198.18.0.203 counter drop
  }
}
EOF2
}
dc_unblock() { n dc1 nft delete table inet ntm_block; }
move_without_dc() {
  dc_block
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
  sleep 2.5
  dc_unblock
}
# ng streams for 7 s: mn must outlive the outage to show its recovery.
SENDER=ng CHUNKS=70 stream nodc 1 move_without_dc
after=$(sed -n 's/.*registered again \([0-9]*\)\.[0-9] ms after the network change.*/\1/p' \
  "$(bg_log mn.nodc)" | tail -n1)
[[ -n $after ]] || die "mn never registered again after the DC came back: $(grep -E 'regist|network' "$(bg_log mn.nodc)" | tail -5)"
((after >= 2000)) || die "mn registered again ${after} ms after the move, while the DC was unreachable"
grep -Eq 'registration .*mn\.dc1\.ntm\.test.*198\.18\.0\.203' "$(bg_log dc)" ||
  die "the DC did not see mn register from rtr-c"
# Roaming, not a new tunnel: ng answered mn at its new address while no DC could help.
grep -q 'the peer answers at our new position' "$(bg_log mn.nodc)" ||
  die "ng never answered mn at its new position: $(grep -E 'tunnel|network' "$(bg_log mn.nodc)" | tail -5)"
! grep -q 'replaces the old one' "$(bg_log mn.nodc)" ||
  die "mn's tunnel to ng was re-created rather than roamed: $(grep 'replaces' "$(bg_log mn.nodc)")"
# ng's counters say so too: mn's endpoint moved, and ng validated the new one.
ng_stats=$(grep '^stats ' "$(bg_log ng.nodc)" | tail -n1)
for key in roams path_challenges paths_validated; do
  value=$(grep -o " $key=[0-9]*" <<<"$ng_stats" | cut -d= -f2)
  ((${value:-0} >= 1)) || die "ng's $key is ${value:-missing} after mn roamed: $ng_stats"
done
pass "the DC unreachable for 2.5 s during a move (LAN B -> LAN C) under a stream from ng: the" \
  "stream went on by roaming (7 MB byte-exact, longest pause in arrival ${PAUSE} ms); mn's" \
  "registration retried and went through ${after} ms after the change"

# --- 5. Flapping ------------------------------------------------------------------------------
flap() {
  local i
  for i in 1 2 3; do
    node_attach mn a
    sleep 0.1
    node_detach mn c
    sleep 0.1
    node_attach mn c
    sleep 0.1
    node_detach mn a
    sleep 0.1
  done
}
# A 7 s stream: mn must outlive the flap (1.2 s, longer on a busy machine) and its reaction
# to the last change.
CHUNKS=70 stream flap 1 flap
changes=$(grep -c 'network changed' "$(bg_log mn.flap)")
# mn_last_from_c — the DC's latest registration of mn came through rtr-c.
mn_last_from_c() {
  grep 'registration mn\.dc1\.ntm\.test' "$(bg_log dc)" | tail -n1 | grep -q 'nat=198\.18\.0\.203:'
}
wait_until 10 mn_last_from_c ||
  die "the DC's last word on mn is not from rtr-c: $(grep mn.dc1 "$(bg_log dc)" | tail -2)"
pass "flapping (LAN C <-> LAN A six times in about 1.2 s) under a stream from ng: 7 MB byte-exact," \
  "$changes reactions to the changes, mn registered from where it ended; longest pause" \
  "in arrival ${PAUSE} ms"

# --- 6. To the IPv6-only network -------------------------------------------------------------
# mn knows its DC at both addresses (NTM_DC lists them); on LAN 6 it has no IPv4 route, so it
# registers at the DC's IPv6 address, and the tunnel to ng is re-created over IPv6.
stream v6 1 bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn 6
grep -Eq 'registration .*mn\.dc1\.ntm\.test.*nat=\[2001:db8:6::100\]' "$(bg_log dc)" ||
  die "the DC did not see mn register from the IPv6-only network: $(grep mn.dc1 "$(bg_log dc)" | tail -2)"
grep -Eq 'replaces the old one' "$(bg_log mn.v6)" ||
  die "mn did not re-create its tunnel to ng: $(grep -E 'tunnel|network' "$(bg_log mn.v6)" | tail -5)"
grep -Eq 'established via \[2001:db8:7::10\]' "$(bg_log mn.v6)" ||
  die "the new tunnel does not run over IPv6: $(grep established "$(bg_log mn.v6)")"
pass "to the IPv6-only network (LAN C -> LAN 6) under a stream from ng: mn registered at the" \
  "DC's IPv6 address, the tunnel was re-created over IPv6; 3 MB byte-exact; longest pause in" \
  "arrival ${PAUSE} ms"

# --- 7. Without rtnetlink: the periodic check -----------------------------------------------
# NTM_WATCH_NETWORK=poll: what a node falls back to where rtnetlink is not available.
stream poll poll bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
grep -q 'addresses changed (periodic check)' "$(bg_log mn.poll)" ||
  die "mn's periodic check did not see the move: $(grep -E 'network|check' "$(bg_log mn.poll)" | tail -3)"
grep -Eq 'registration .*mn\.dc1\.ntm\.test.*198\.18\.0\.203' <(tail -n 20 "$(bg_log dc)") ||
  die "the DC did not see mn register again from rtr-c"
pass "without rtnetlink (NTM_WATCH_NETWORK=poll), LAN 6 -> LAN C under a stream from ng: the" \
  "periodic check saw the move, mn registered again; 3 MB byte-exact; longest pause in" \
  "arrival ${PAUSE} ms"

# --- 8. Both ends move at once ---------------------------------------------------------------
# mo, a second mobile node on the global network, streams to mn; mn goes C -> A while mo goes
# g -> C: each one's announcement goes to where the other was, so only the DC can join them.
ns_add mo
node_attach mo g
both_move() {
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn a &
  local p1=$!
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mo c &
  local p2=$!
  wait "$p1" "$p2"
}
SENDER=mo stream both 1 both_move
grep -q 'network changed' "$(bg_log ng.both)" || die "mo did not notice its own move"
grep -Eq 'registration .*mo\.dc1\.ntm\.test.*198\.18\.0\.203' "$(bg_log dc)" ||
  die "the DC did not see mo register again from rtr-c"
pass "both ends moving at once (mn C -> A, mo global -> C) under a stream from mo: 3 MB" \
  "byte-exact; longest pause in arrival ${PAUSE} ms"

# --- 9. Nothing leaks -------------------------------------------------------------------------
# One mn process moves four times (A -> C, C -> A make before break, A -> 6, 6 -> A) under a 30 s
# stream from ng, then stays put. 14 s after the last move (beyond the 10 s grace of replaced
# keypairs) mn holds as many descriptors as before the first move; at exit each node holds one
# tunnel, one negotiation and no relay session for its one peer, and one socket (mn its
# listener, ng its connection).
# mn_fds — descriptors of mn's ntm-cat (the child of the `timeout` that bg started).
mn_fds() {
  local pid
  pid=$(pgrep -P "$MN_PID" -x ntm-cat) || die "no ntm-cat under mn's timeout ($MN_PID)"
  find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l
}
four_moves() {
  FDS_BEFORE=$(mn_fds)
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn c
  sleep 1
  mbb_to a c
  sleep 1
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn 6
  sleep 1
  bash "$TOPOLOGY" move --prefix "$NET_PREFIX" mn a
  sleep 14
  FDS_AFTER=$(mn_fds)
}
CHUNKS=300 CHUNK=10000 stream leaks 1 four_moves
((FDS_AFTER == FDS_BEFORE)) ||
  die "mn held $FDS_BEFORE descriptors before the moves and $FDS_AFTER after: $(ls -l "/proc/$(pgrep -P "$MN_PID" -x ntm-cat)/fd" 2>&1)"
# held NODE LOG — the gauges of the stats line NODE printed at exit match one peer.
held() {
  local line
  line=$(grep '^stats ' "$2" | tail -n1)
  [[ -n $line ]] || die "$1 printed no stats line"
  for want in tunnels_open=1 negotiations_open=1 relay_sessions_open=0 sockets_open=1; do
    [[ " $line " == *" $want "* ]] ||
      die "$1 holds more than one peer's worth after the moves (want $want): $(grep -o '[a-z_]*_open=[0-9]*' <<<"$line" | tr '\n' ' ')"
  done
}
held mn "$(bg_log mn.leaks)"
held ng "$(bg_log ng.leaks)"
changes=$(grep -c 'network changed' "$(bg_log mn.leaks)")
pass "four moves in one process ($changes reactions, 3 MB byte-exact): mn's descriptors" \
  "$FDS_BEFORE before and after; at exit mn and ng each hold 1 tunnel, 1 negotiation, no relay" \
  "session and 1 socket"

# mn kept its vIP through every move: the DC registered it with one vIP only.
vips=$(sed -n 's/.*registration mn\.dc1\.ntm\.test vip4=\([0-9.]*\) .*/\1/p' "$(bg_log dc)" | sort -u)
[[ $(wc -l <<<"$vips") == 1 && -n $vips ]] || die "mn's vIP changed: $vips"
pass "mn kept its vIP $vips through every move"
