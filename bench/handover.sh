#!/usr/bin/env bash
# Handover time (issue 12 item 5; test network, needs root): mn moves while a peer streams to
# it through the tunnel (3 MB in 3 s, 10 kB every 10 ms, the move 1.5 s in). Per scenario —
# the roaming fast path (A->C break-before-make and C->A make-before-break, peer ng on the
# global network), relay after the move (A->B behind the symmetric NAT, peer nc behind a
# filtering NAT), IPv4 -> IPv6-only (B->6) and back to IPv4 behind NAT (6->C), and the
# baseline without the node's rtnetlink watcher (NTM_WATCH_NETWORK=0, same run) — it prints
# the median and p95 of: the handover (old link down -> the first byte after the longest gap
# in arrival at mn, from ntm-cat -v), the test network's own link gap, the time from the new
# link, and mn's steps after the change it reacted to (registered again, the peer's answer
# to the challenge from the new position, the re-created tunnel replacing the old one).
# The rounds are tests/net/test_handover.sh's.
#   bench/handover.sh [RUNS]      (default 30)
set -euo pipefail
exec bash "$(dirname "$0")/../tests/net/test_handover.sh" bench "${1:-30}"
