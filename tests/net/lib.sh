# shellcheck shell=bash
# tests/net/lib.sh — the helpers every test-network script is built from.
#
#   source "$(dirname "$0")/lib.sh"
#   net_require_root                  # exit 77 (ctest: skipped) without CAP_NET_ADMIN
#   net_begin                         # unique prefix + `trap net_cleanup EXIT`
#   ns_add h1; ns_add h2
#   veth h1 eth0 h2 eth0              # a cable between two namespaces
#   n h1 ip addr add 198.18.0.1/24 dev eth0     # `n NS CMD...` runs CMD inside NS
#   bg h2 sink ntm-udpprobe sink --bind 0.0.0.0:4000
#   ...                               # however the script ends, everything is removed
#
# Names. Scripts use short names (h1, rtr-a); the namespace is "$NET_PREFIX-h1". The prefix
# is unique per run ([a-z0-9]+, no dash, reserved by creating /run/ntm-net/$NET_PREFIX), so
# runs in parallel never collide. Interfaces are created directly inside their namespaces
# (`ip link add ... netns X type veth peer ... netns Y`), never in the host's namespace, so
# their names only have to be unique within one namespace.
#
# State. /run/ntm-net/$NET_PREFIX/ holds `namespaces` (one per line, in creation order),
# `pids` (processes we started: pid, name and start time), `logs/` (their output) and `owner`
# (the pid and start time of the script that owns a transient run; absent for a topology kept
# up with net_keep). A pid is only trusted with its start time: the kernel reuses pids (here
# pid_max is 32768, and a test suite starts more processes than that), so "pid N is alive"
# alone may name another program's process.
# net_cleanup works from that directory alone, so `topology.sh down` in another shell can
# undo what `topology.sh up` built.

NET_ROOT=${NET_ROOT:-/run/ntm-net}
NET_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NET_REPO_DIR=$(cd "$NET_LIB_DIR/../.." && pwd)
NET_PREFIX=${NET_PREFIX:-}
NET_STATE=${NET_STATE:-}
NET_KEEP=${NET_KEEP:-0}

# ---------------------------------------------------------------------------------------
# Messages and checks
# ---------------------------------------------------------------------------------------

log() { printf '[%s] %s\n' "${NET_PREFIX:-net}" "$*" >&2; }
die() {
  printf '[%s] FAIL: %s\n' "${NET_PREFIX:-net}" "$*" >&2
  exit 1
}
pass() { printf '[%s] ok: %s\n' "${NET_PREFIX:-net}" "$*" >&2; }

# expect_ok DESC CMD...    — CMD must succeed.
# expect_fail DESC CMD...  — CMD must answer "no": exit status 1, the way our tools (and
#                            ntm-udpprobe's "timeout"/"unreachable") report a negative result.
#                            A crash, a usage error (2) or any other status fails the check.
expect_ok() {
  local desc=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$desc"; else die "$desc (command failed: $*)"; fi
}
expect_fail() {
  local desc=$1 rc=0
  shift
  "$@" >/dev/null 2>&1 || rc=$?
  case $rc in
  0) die "$desc (command unexpectedly succeeded: $*)" ;;
  1) pass "$desc" ;;
  *) die "$desc (command failed with status $rc, not the expected 'no' (1): $*)" ;;
  esac
}

# wait_until SECONDS CMD... — retry CMD every 20 ms until it succeeds; fail after SECONDS.
wait_until() {
  local limit=$1
  shift
  local deadline=$((${EPOCHREALTIME/./} + limit * 1000000))
  until "$@" >/dev/null 2>&1; do
    ((${EPOCHREALTIME/./} < deadline)) || return 1
    sleep 0.02
  done
}

# ---------------------------------------------------------------------------------------
# Privileges and tools
# ---------------------------------------------------------------------------------------

# Exits 77 — ctest's SKIP_RETURN_CODE — when we cannot create network namespaces.
net_require_root() {
  local caps
  caps=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  # CAP_NET_ADMIN is bit 12; `ip netns add` also mounts, which needs CAP_SYS_ADMIN (bit 21).
  if (((0x$caps >> 12 & 1) == 0 || (0x$caps >> 21 & 1) == 0)); then
    echo "SKIP: needs CAP_NET_ADMIN and CAP_SYS_ADMIN to build network namespaces (run as root)"
    exit 77
  fi
  local tool
  for tool in ip nft iptables ip6tables sysctl awk; do
    command -v "$tool" >/dev/null || die "missing $tool: run scripts/install-deps"
  done
}

# Locates our own binaries: $NTM_BIN_DIR, else build/bin, else build-*/bin in the repo.
net_bin() {
  local name=$1 dir
  for dir in ${NTM_BIN_DIR:+"$NTM_BIN_DIR"} "$NET_REPO_DIR/build/bin" "$NET_REPO_DIR"/build-*/bin; do
    if [[ -x $dir/$name ]]; then
      echo "$dir/$name"
      return 0
    fi
  done
  die "$name not built (run scripts/build, or set NTM_BIN_DIR)"
}

# ---------------------------------------------------------------------------------------
# Runs: prefix, state directory, cleanup
# ---------------------------------------------------------------------------------------

# net_begin [PREFIX] — reserves a prefix (generated if not given) and arms the cleanup trap.
# Leftovers of earlier runs whose script was killed outright are collected first.
net_begin() {
  local want=${1:-}
  mkdir -p "$NET_ROOT"
  net_gc
  if [[ -n $want ]]; then
    [[ $want =~ ^[a-z0-9]{1,12}$ ]] || die "prefix must be 1-12 of [a-z0-9]: '$want'"
    mkdir "$NET_ROOT/$want" 2>/dev/null ||
      die "a test network with prefix '$want' is already up (down it, or pick another prefix)"
    NET_PREFIX=$want
  else
    local try
    for try in 0 1 2 3 4 5 6 7 8 9; do
      NET_PREFIX=n$(printf '%x' $$)$(printf '%x' $((RANDOM % 4096)))
      mkdir "$NET_ROOT/$NET_PREFIX" 2>/dev/null && break
      [[ $try == 9 ]] && die "could not reserve a prefix under $NET_ROOT"
    done
  fi
  NET_STATE=$NET_ROOT/$NET_PREFIX
  mkdir -p "$NET_STATE/logs"
  : >"$NET_STATE/namespaces"
  : >"$NET_STATE/pids"
  echo "$$ $(proc_start $$)" >"$NET_STATE/owner.tmp"
  mv "$NET_STATE/owner.tmp" "$NET_STATE/owner"
  trap net_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# net_gc — removes what transient runs left when their script died without cleaning up
# (SIGKILL, a ctest timeout). A run is collected only if it has an owner and the owner is
# gone; topologies kept up with net_keep have no owner and are never touched.
net_gc() {
  local dir owner start
  for dir in "$NET_ROOT"/*/; do
    [[ -f $dir/owner ]] || continue
    read -r owner start <"$dir/owner" 2>/dev/null || continue
    [[ -z $owner ]] && continue
    proc_is "$owner" "$start" && continue
    log "collecting leftovers of run $(basename "$dir") (its script, pid $owner, is gone)"
    (net_attach "$(basename "$dir")" && net_teardown)
  done
}

# net_keep — the run outlives this script (topology.sh up): no cleanup on a normal exit.
net_keep() {
  rm -f "$NET_STATE/owner"
  NET_KEEP=1
}

# net_attach PREFIX — adopt a run started elsewhere (topology.sh down/status/move).
net_attach() {
  NET_PREFIX=$1
  NET_STATE=$NET_ROOT/$NET_PREFIX
  [[ -d $NET_STATE ]] || die "no test network with prefix '$NET_PREFIX' (nothing under $NET_STATE)"
}

# Stops every process we started and everything else still inside our namespaces, deletes
# the namespaces (which takes their interfaces, veth peers, bridges, routes and nftables
# state with them), and removes the state directory. Safe to call twice.
net_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ $NET_KEEP == 1 && $rc == 0 ]]; then
    return 0
  fi
  [[ -n $NET_STATE && -d $NET_STATE ]] || return "$rc"
  set +e
  if [[ $rc != 0 && -d $NET_STATE/logs ]]; then
    local f
    for f in "$NET_STATE"/logs/*.log; do
      [[ -s $f ]] || continue
      echo "---- last lines of ${f##*/} ----" >&2
      tail -n 15 "$f" >&2
    done
  fi
  net_teardown
  return "$rc"
}

net_teardown() {
  local - # errexit off for this function only: teardown goes on past every failure
  set +e
  local pid name start ns pids=()
  while read -r pid name start; do
    [[ -n $pid && -n $start ]] && proc_is "$pid" "$start" && pids+=("$pid")
  done <"$NET_STATE/pids"
  # Whatever else runs in our namespaces was started by us too (they exist only for this run).
  while read -r ns; do
    [[ -n $ns ]] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
  done <"$NET_STATE/namespaces"
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null

    for _ in $(seq 50); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.02
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  fi
  tac "$NET_STATE/namespaces" | while read -r ns; do
    [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$NET_STATE"
}

# ---------------------------------------------------------------------------------------
# Namespaces, links, addresses
# ---------------------------------------------------------------------------------------

# nsname SHORT — the real namespace name.
nsname() { echo "$NET_PREFIX-$1"; }

# n SHORT CMD... — run CMD inside namespace SHORT (WireGuard's `n1 ping ...`).
n() {
  local ns=$1
  shift
  ip netns exec "$NET_PREFIX-$ns" "$@"
}

# ns_add SHORT — a fresh namespace with loopback up, static addressing only (no DAD, no
# router advertisements, no redirects) so addresses are usable the moment they are added.
ns_add() {
  local full="$NET_PREFIX-$1"
  ip netns add "$full"
  echo "$full" >>"$NET_STATE/namespaces"
  n "$1" sysctl -qw \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
    net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.default.accept_redirects=0 \
    net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 \
    net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
  ip -n "$full" link set lo up
}

# ns_forwarding SHORT — make SHORT a router (IPv4 and IPv6).
ns_forwarding() {
  n "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# veth NS_A IF_A NS_B IF_B [MAC_A] — a cable: IF_A in NS_A (with MAC_A) to IF_B in NS_B, both up.
veth() {
  ip link add "$2" netns "$NET_PREFIX-$1" ${5:+address "$5"} type veth peer name "$4" \
    netns "$NET_PREFIX-$3"
  ip -n "$NET_PREFIX-$1" link set "$2" up
  ip -n "$NET_PREFIX-$3" link set "$4" up
}

# bridge_add NS BR — a switch inside NS (no STP, no multicast snooping: ports forward at
# once). This kernel has br_netfilter built in; switched frames must not pass through
# iptables/nftables (they would be queued to the link emulator and tracked by conntrack).
bridge_add() {
  n "$1" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
    net.bridge.bridge-nf-call-arptables=0
  ip -n "$NET_PREFIX-$1" link add "$2" type bridge stp_state 0 mcast_snooping 0
  ip -n "$NET_PREFIX-$1" link set "$2" up
}

# bridge_port NS BR IF — plug IF (already in NS) into bridge BR.
bridge_port() { ip -n "$NET_PREFIX-$1" link set "$3" master "$2" up; }

# addr NS IF ADDR/LEN... — add addresses (IPv6 ones with nodad).
addr() {
  local ns=$1 dev=$2 a
  shift 2
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      ip -n "$NET_PREFIX-$ns" -6 addr add "$a" dev "$dev" nodad
    else
      ip -n "$NET_PREFIX-$ns" addr add "$a" dev "$dev"
    fi
  done
}

# route NS DEST GATEWAY — e.g. `route h1 default 198.18.0.1`; family follows GATEWAY.
route() {
  if [[ $3 == *:* ]]; then
    ip -n "$NET_PREFIX-$1" -6 route replace "$2" via "$3"
  else
    ip -n "$NET_PREFIX-$1" route replace "$2" via "$3"
  fi
}

# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------

# bg NS NAME CMD... — start CMD in NS in the background; output to $NET_STATE/logs/NAME.log.
# Sets BG_PID. net_cleanup stops it.
bg() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$NET_PREFIX-$ns" "$@" >"$NET_STATE/logs/$name.log" 2>&1 </dev/null &
  BG_PID=$!
  net_track "$BG_PID" "$name"
}

# net_track PID NAME — teardown stops this process of ours if it still runs (lib.sh state).
net_track() {
  echo "$1 $2 $(proc_start "$1")" >>"$NET_STATE/pids"
}

# proc_start PID — the process's start time (clock ticks since boot, /proc/PID/stat field 22);
# nothing if it is gone. With the pid it names one process, even after the pid is reused.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) } # the command name may hold spaces and parentheses
  read -r -a stat <<<"$stat"
  echo "${stat[19]}"
}

# proc_is PID START — PID is still the process that started at START (an empty START, from an
# owner file of an older version, checks the pid alone).
proc_is() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ -z $2 || $(proc_start "$1") == "$2" ]]
}

# bg_log NAME — path of a background process's log.
bg_log() { echo "$NET_STATE/logs/$1.log"; }

# bg_wait_line NAME REGEX SECONDS — wait until the process's log has a line matching REGEX.
bg_wait_line() {
  wait_until "$3" grep -Eq "$2" "$(bg_log "$1")" ||
    die "$1 did not print /$2/ within $3 s"
}

# bg_stop PID — stop one process we started, and wait for it.
bg_stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
