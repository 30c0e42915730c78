#!/usr/bin/env bash
# Two runs in parallel do not collide.
#
#   run A  (prefix generated, e.g. n1f2a3b)        run B  (another prefix)
#   A-inet, A-dc1, ... A-rtr-a, A-na, ...           B-inet, B-dc1, ... B-rtr-a, B-na, ...
#   the same host names, interface names and addresses, in disjoint namespaces
#
# 1. Two scripts build the whole reference topology at the same moment.
# 2. While both are up: each has its own 19 namespaces and 5 link emulators, and traffic
#    inside each works (na -> dc1 through its NAT and delay, ng -> n6 over IPv6).
# 3. `topology.sh up` with a prefix already in use is refused and leaves that run intact.
# 4. Both runs end cleanly and leave nothing.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
net_require_root
net_begin
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$NET_STATE/runs
mkdir -p "$OUT"

cat >"$OUT/run.sh" <<'EOS'
set -euo pipefail
source "$HERE/topology.sh"
net_begin
echo "$NET_PREFIX" >"$OUT/prefix.$ID"
topology_up
touch "$OUT/up.$ID"
wait_until 240 test -e "$OUT/go" || die "never told to go"
PROBE=$(net_bin ntm-udpprobe)
bg dc1 echo "$PROBE" echo --bind "[::]:7000" --timeout 20000
bg n6 echo6 "$PROBE" echo --bind "[::]:7000" --timeout 20000
bg_wait_line echo '^listening' 30
bg_wait_line echo6 '^listening' 30
for i in 1 2 3 4 5; do
  n na "$PROBE" probe --to 198.18.0.11:7000 | grep -q 'observed=198.18.0.201:'
  n ng "$PROBE" probe --to "[2001:db8:6::10]:7000" | grep -q 'observed=\[2001:db8:7::10\]:'
done
[[ $(grep -c '^from 198.18.0.201:' "$(bg_log echo)") == 5 ]] || die "dc1 saw other traffic"
EOS

# --- 1. Build both at once ------------------------------------------------------------------
runs=()
for id in A B; do
  export HERE OUT NTM_BIN_DIR=${NTM_BIN_DIR:-}
  ID=$id bash "$OUT/run.sh" >"$OUT/log.$id" 2>&1 &
  runs+=($!)
done
wait_until 180 test -e "$OUT/up.A" -a -e "$OUT/up.B" || {
  cat "$OUT"/log.* >&2
  die "the two runs did not both come up"
}
a=$(cat "$OUT/prefix.A")
b=$(cat "$OUT/prefix.B")
[[ $a != "$b" ]] || die "both runs got prefix $a"
pass "two topologies built at the same time, prefixes $a and $b"

# --- 2. Both up, separate -------------------------------------------------------------------
for p in "$a" "$b"; do
  count=$(ip netns list | grep -c "^$p-")
  ((count == 19)) || die "run $p has $count namespaces, want 19"
  emulators=0
  for r in a b c 6 g; do
    [[ -n $(ip netns pids "$p-rtr-$r") ]] && emulators=$((emulators + 1))
  done
  ((emulators == 5)) || die "run $p has $emulators of 5 link emulators running"
done
pass "each run has its own 19 namespaces and 5 link emulators"

# --- 3. A prefix in use is refused ------------------------------------------------------------
if bash "$HERE/topology.sh" up --prefix "$a" >"$OUT/log.dup" 2>&1; then
  die "topology.sh up --prefix $a succeeded while run A was up"
fi
grep -q 'already up' "$OUT/log.dup" || die "unexpected refusal: $(cat "$OUT/log.dup")"
(($(ip netns list | grep -c "^$a-") == 19)) || die "the refused run damaged run A"
pass "topology.sh up --prefix $a is refused while run A is up, and A is intact"

# --- 4. Traffic in both, then both end ---------------------------------------------------------
touch "$OUT/go"
ids=(A B)
for i in 0 1; do
  wait "${runs[$i]}" || {
    cat "$OUT"/log.* >&2
    die "run ${ids[$i]} failed"
  }
done
pass "traffic inside each run works while both are up"
[[ -z $(ip netns list | grep -e "^$a-" -e "^$b-") ]] || die "namespaces of a run were left"
[[ ! -e $NET_ROOT/$a && ! -e $NET_ROOT/$b ]] || die "state of a run was left"
pass "both runs ended and left nothing"
