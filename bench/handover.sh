#!/usr/bin/env bash
# Handover pause with the peer as the sender (test network, needs root): mn moves between
# LAN A and LAN C — break before make (topology.sh move mn c) and make before break back —
# while ng streams 3 MB to it through the tunnel, paced at 100 kB per 100 ms, the move 1.5 s
# in. The pause is the longest time mn's received byte count stood still after the move
# began. Each round runs with the node's rtnetlink watcher (libntm/src/handover/) and without
# it (NTM_WATCH_NETWORK=0, the baseline, in the same run), tunnel keep-alives at 60 s.
# Prints median, p95 and max per move and mode. The rounds are tests/net/test_handover.sh's.
#   bench/handover.sh [RUNS]      (default 10)
set -euo pipefail
exec bash "$(dirname "$0")/../tests/net/test_handover.sh" bench "${1:-10}"
