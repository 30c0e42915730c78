#!/usr/bin/env bash
# Cleanup leaves nothing behind, however a run ends.
#
#   1. `topology.sh up` then `topology.sh down`, as a user types them
#   2. a script that fails half way through (set -e); a pid in its list that now names
#      another program's process (the kernel reuses pids) is left alone
#   3. a script interrupted by Ctrl-C (SIGINT) while the topology is being built: it is
#      held after its fifth namespace until the interrupt arrives
#   4. a script interrupted by SIGTERM once the topology is up
#   5. a script killed with SIGKILL (no trap can run); `topology.sh gc` removes what it left
#   after each: no namespace with that run's prefix, no state directory, no process of the
#   run, and no interface of ours in the host's namespace.
#
# Only what belongs to the run under test is compared, so other users of the machine (other
# test networks, other tests) may create and remove namespaces meanwhile.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
net_require_root
net_begin
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$NET_STATE/cases
mkdir -p "$OUT"

host_links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort; }
host_links_before=$(host_links)
# Interface names our scripts give (topology.sh, test_compose.sh): one of these appearing in
# the host's namespace would be ours.
OUR_LINKS='^(eth[0-9]*|eth-[a-z]|wan0|lan0|br[0-9]+|p[0-9]+|inet|dc[12]|rs|as|ns|dns|stun|rtr-[a-z0-9]+|n[abcg6]|mn|sw)$'

# A run's processes all carry its state directory in their command line (pid files, logs).
run_processes() { pgrep -f -- "$NET_ROOT/$1/" || true; }

# check_clean CASE PREFIX
check_clean() {
  local what=$1 prefix=$2 left
  [[ -n $prefix ]] || die "$what: the run never reported its prefix"
  left=$(ip netns list | awk '{print $1}' | grep "^$prefix-" || true)
  [[ -z $left ]] || die "$what: namespaces left behind: $left"
  [[ ! -e $NET_ROOT/$prefix ]] || die "$what: $NET_ROOT/$prefix left behind"
  left=$(comm -13 <(echo "$host_links_before") <(host_links) | grep -E "$OUR_LINKS" || true)
  [[ -z $left ]] || die "$what: interfaces of ours in the host namespace: $left"
  [[ -z $(run_processes "$prefix") ]] || die "$what: processes of run $prefix still alive"
  pass "$what: nothing left behind"
}

# child MODE — a test-like script: builds the topology (one more process on dc1 for good
# measure), then ends the way MODE says.
child() {
  cat >"$OUT/child.sh" <<'EOS'
set -euo pipefail
source "$HERE/topology.sh"
net_begin
echo "$NET_PREFIX" >"$OUT/prefix.$MODE"
touch "$OUT/building.$MODE"
if [[ $MODE == mid ]]; then
  # Hold the build after its fifth namespace until the interrupt comes (bounded: 60 s).
  eval "real_$(declare -f ns_add)"
  ns_add() {
    real_ns_add "$@"
    if (($(wc -l <"$NET_STATE/namespaces") == 5)); then
      touch "$OUT/held.$MODE"
      for _ in $(seq 3000); do sleep 0.02; done
    fi
  }
fi
topology_up
bg dc1 sleeper sleep 60
touch "$OUT/up.$MODE"
case $MODE in
fail)
  # Ours but outside the namespaces: teardown stops it by its pids entry.
  sleep 61 &
  net_track $! outside
  echo $! >"$OUT/outside.pid"
  # A pid the kernel has given to another program since (its start time differs).
  echo "$STRANGER stranger 1" >>"$NET_STATE/pids"
  false
  ;;
*) sleep 60 & wait $! ;;
esac
EOS
  # Background jobs of a script start with SIGINT ignored; give it back its default, as a
  # terminal's Ctrl-C would find it.
  export HERE OUT NTM_BIN_DIR=${NTM_BIN_DIR:-}
  MODE=$1 env --default-signal=INT,TERM bash "$OUT/child.sh" >"$OUT/log.$1" 2>&1 &
  CHILD=$!
}

# --- 1. The command line ---------------------------------------------------------------
prefix=cl$(printf '%x' $$)
t0=${EPOCHREALTIME/./}
bash "$HERE/topology.sh" up --prefix "$prefix" 2>/dev/null
took=$(((${EPOCHREALTIME/./} - t0) / 1000))
pass "topology.sh up built the reference topology (in $took ms)"
(($(ip netns list | grep -c "^$prefix-") == 19)) || die "topology.sh up made $(ip netns list | grep -c "^$prefix-") namespaces, want 19"
bash "$HERE/topology.sh" status --prefix "$prefix" >/dev/null
bash "$HERE/topology.sh" down --prefix "$prefix" 2>/dev/null
check_clean "topology.sh up; topology.sh down" "$prefix"

# --- 2. A failing script ------------------------------------------------------------------
# It also lists a pid of a process not its own (as when the kernel reuses the pid of one of
# its processes that ended): that process must survive the cleanup.
sleep 62 &
export STRANGER=$!
child fail
rc=0
wait "$CHILD" || rc=$?
((rc == 1)) || die "the failing script exited $rc, want 1"
check_clean "script failing after topology_up" "$(cat "$OUT/prefix.fail")"
! kill -0 "$(cat "$OUT/outside.pid")" 2>/dev/null || die "a process of the run outside its namespaces survived"
kill -0 "$STRANGER" 2>/dev/null || die "cleanup killed a process that was not the run's (a reused pid)"
kill "$STRANGER"
wait "$STRANGER" 2>/dev/null || true
pass "cleanup stops the run's processes by pid and start time, and leaves a reused pid alone"

# --- 3. Ctrl-C in the middle of building ----------------------------------------------------
child mid
wait_until 180 test -e "$OUT/held.mid" || die "the script did not get to its fifth namespace"
prefix=$(cat "$OUT/prefix.mid")
(($(ip netns list | grep -c "^$prefix-") == 5)) || die "run $prefix is not half built"
kill -INT "$CHILD"
rc=0
wait "$CHILD" || rc=$?
((rc == 130)) || die "the interrupted script exited $rc, want 130"
[[ ! -e $OUT/up.mid ]] || die "the script went on building after Ctrl-C"
check_clean "Ctrl-C while building" "$prefix"

# --- 4. SIGTERM once up ----------------------------------------------------------------------
child term
wait_until 180 test -e "$OUT/up.term" || die "the script did not bring the topology up"
kill -TERM "$CHILD"
rc=0
wait "$CHILD" || rc=$?
((rc == 143)) || die "the terminated script exited $rc, want 143"
check_clean "SIGTERM once up" "$(cat "$OUT/prefix.term")"

# --- 5. SIGKILL, then gc -----------------------------------------------------------------------
child kill
wait_until 180 test -e "$OUT/up.kill" || die "the script did not bring the topology up"
exec 3>&2 2>/dev/null # bash would report "Killed" on stderr
kill -KILL "$CHILD"
wait "$CHILD" || true
exec 2>&3 3>&-
prefix=$(cat "$OUT/prefix.kill")
[[ -n $(ip netns list | grep "^$prefix-") ]] || die "SIGKILL left nothing to collect?"
bash "$HERE/topology.sh" gc 2>/dev/null
check_clean "SIGKILL, then topology.sh gc" "$prefix"
