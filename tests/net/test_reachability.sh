#!/usr/bin/env bash
# Reachability matrix of the reference topology (topology.sh has the diagram):
# which host can open a UDP flow to which, and which cannot without prior outbound traffic.
#
#   internet (dc1) ----+---- rtr-a (EIM NAT) ---- na, mn     LAN A 192.168.1.0/24
#                      +---- rtr-b (symmetric) -- nb         LAN B 192.168.2.0/24
#                      +---- rtr-c (EIM NAT) ---- nc         LAN C 192.168.3.0/24
#                      +---- rtr-6 (routed) ----- n6         IPv6 only
#                      +---- rtr-g (routed) ----- ng         global, dual-stack
#
# Part 1 opens a flow from every host to every other host's address and checks the answer
# against the table below. Part 2 shows the NATs' filtering: a host behind each NAT sends
# one datagram out (a "punch") and from then on — only — the exact peer it sent to can
# reach it through the binding.
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
net_require_root
net_begin
topology_up
PROBE=$(net_bin ntm-udpprobe)

# One dual-stack echo server per host, port 7000 (`[::]` also takes IPv4).
for h in dc1 na nb nc n6 ng mn; do
  bg "$h" "echo-$h" "$PROBE" echo --bind "[::]:7000" --timeout 60000
done
for h in dc1 na nb nc n6 ng mn; do bg_wait_line "echo-$h" '^listening' 30; done

# --- Part 1: the matrix -------------------------------------------------------------------
# "via" says how the destination is addressed: its own address, or the public address of
# the NAT in front of it (nothing forwards that port, so nobody gets through unsolicited).
MATRIX=$(
  cat <<'EOF'
# from  to    via        address                  expect
na      dc1   v4         198.18.0.11:7000         ok
nb      dc1   v4         198.18.0.11:7000         ok
nc      dc1   v4         198.18.0.11:7000         ok
ng      dc1   v4         198.18.0.11:7000         ok
ng      dc1   v6         [2001:db8::11]:7000      ok
n6      dc1   v6         [2001:db8::11]:7000      ok
n6      dc1   v4         198.18.0.11:7000         no     # IPv6-only: no IPv4 at all
na      dc1   v6         [2001:db8::11]:7000      no     # NAT LANs are IPv4-only
mn      dc1   v4         198.18.0.11:7000         ok
dc1     ng    v4         198.18.7.10:7000         ok
dc1     ng    v6         [2001:db8:7::10]:7000    ok
na      ng    v4         198.18.7.10:7000         ok
nb      ng    v4         198.18.7.10:7000         ok
n6      ng    v6         [2001:db8:7::10]:7000    ok
dc1     n6    v6         [2001:db8:6::10]:7000    ok     # no firewall on the IPv6 access
ng      n6    v6         [2001:db8:6::10]:7000    ok
dc1     na    nat        198.18.0.201:7000        no     # unsolicited inbound through NAT
ng      na    nat        198.18.0.201:7000        no
nb      na    nat        198.18.0.201:7000        no
nc      na    nat        198.18.0.201:7000        no
dc1     nb    nat        198.18.0.202:7000        no
na      nb    nat        198.18.0.202:7000        no
ng      nb    nat        198.18.0.202:7000        no
dc1     nc    nat        198.18.0.203:7000        no
na      nc    nat        198.18.0.203:7000        no
n6      nc    nat        198.18.0.203:7000        no
dc1     na    private    192.168.1.10:7000        no     # private addresses are not routed
nb      na    private    192.168.1.10:7000        no
na      mn    lan        192.168.1.100:7000       ok     # same LAN: switched, no NAT
mn      na    lan        192.168.1.10:7000        ok
EOF
)

# Every cell runs at once: a "no" costs its full timeout, so in parallel the matrix takes
# about one timeout. Results land in $NET_STATE/cell.N.
i=0
cells=()
while read -r from to via address expect _; do
  [[ -z $from || $from == \#* ]] && continue
  i=$((i + 1))
  (
    out=$(n "$from" "$PROBE" probe --to "$address" --tries 3 --timeout 900 2>&1) && rc=0 || rc=$?
    echo "$from $to $via $address $expect $rc ${out//$'\n'/ }" >"$NET_STATE/cell.$i"
  ) &
  cells+=($!)
done <<<"$MATRIX"
wait "${cells[@]}"
failures=0
printf '%-4s -> %-4s %-8s %-24s %-6s %s\n' from to via address expect got >&2
for ((k = 1; k <= i; k++)); do
  read -r from to via address expect rc out <"$NET_STATE/cell.$k"
  # "no" is the probe saying so (exit 1: "timeout", or "unreachable" when there is no
  # route); a crash or a usage error is neither ok nor no.
  if [[ $rc == 0 ]]; then
    got=ok
  elif [[ $rc == 1 && $out =~ ^(timeout|unreachable) ]]; then
    got=no
  else
    got="error($rc)"
  fi
  mark=$([[ $got == "$expect" ]] && echo "" || echo "   <-- MISMATCH ($out)")
  printf '%-4s -> %-4s %-8s %-24s %-6s %s%s\n' "$from" "$to" "$via" "$address" "$expect" "$got" "$mark" >&2
  [[ $got == "$expect" ]] || failures=$((failures + 1))
done
((failures == 0)) || die "$failures cells of the reachability matrix differ from the table"
pass "reachability matrix: all $i cells as expected"

# --- Part 2: after outbound traffic -------------------------------------------------------
# punch_and_reach X HOST — HOST (behind rtr-X) sends one datagram from port 7100 to
# dc1:7100; dc1 sees the binding as M. Then dc1:7100 reaches HOST through M, but dc1 from
# another port, and dc2, do not (address- and port-dependent filtering).
punch_and_reach() {
  local x=$1 h=$2 mapped
  bg dc1 "punch-rx-$h" "$PROBE" echo --bind 0.0.0.0:7100 --count 1 --timeout 5000
  local rx=$BG_PID
  bg_wait_line "punch-rx-$h" '^listening' 30
  expect_fail "$h: dc1 cannot reach it before it sends anything" \
    n dc1 "$PROBE" probe --bind 0.0.0.0:7101 --to "$(public_v4 "$x"):7100" --tries 2 --timeout 400
  bg "$h" "punched-$h" "$PROBE" echo --bind 0.0.0.0:7100 --punch 198.18.0.11:7100 --timeout 20000
  bg_wait_line "punch-rx-$h" '^from .* PUNCH' 30
  wait "$rx" || true
  mapped=$(awk '/PUNCH/ {print $2; exit}' "$(bg_log "punch-rx-$h")")
  [[ $mapped == "$(public_v4 "$x")":* ]] || die "$h's punch arrived from $mapped, not from rtr-$x"
  expect_ok "$h: after its punch, dc1:7100 reaches it through $mapped" \
    n dc1 "$PROBE" probe --bind 0.0.0.0:7100 --to "$mapped" --tries 3 --timeout 900
  expect_fail "$h: dc1 from another port (7101) still cannot" \
    n dc1 "$PROBE" probe --bind 0.0.0.0:7101 --to "$mapped" --tries 2 --timeout 400
  expect_fail "$h: dc2 still cannot" \
    n dc2 "$PROBE" probe --bind 0.0.0.0:7100 --to "$mapped" --tries 2 --timeout 400
}
punch_and_reach a na
punch_and_reach b nb
punch_and_reach c nc
