#!/usr/bin/env bash
# AS logins per second (issue 11): an ntm-as with one account, and ntm-as-logins playing a DC
# that relays node logins (op 0x10) with 16 in flight; beside it, in the same run, the
# reference — Argon2id verifications per second of a hash of the same cost on as many threads
# as the AS hashes with. The Argon2id cost is the AS's default (2 passes over 64 MiB,
# pwhash-ops / pwhash-mem-mib), or 1 pass over 8 MiB with --cheap. No root needed.
#
#   bench/as_logins.sh [--seconds S] [--cheap]
set -euo pipefail
SECS=5 OPS=2 MEM=64
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --cheap) OPS=1 MEM=8; shift ;;
    *) echo "usage: $0 [--seconds S] [--cheap]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NTM_BIN_DIR:-$root/build/bin}
# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"
work_dir ntm-aslogins
THREADS=2

as_key=$("$bin/ntm-as" --state-dir "$work/as" --print-public-key)
admin_key=$("$bin/ntm-admin" --key-dir "$work/admin" key)
dc_key=$("$bin/ntm-dc" --state-dir "$work/dc" --print-public-key)  # creates $work/dc/dc.key
printf '%s\n' "state-dir = $work/as" "admin-listen = 127.0.0.1:0" "port-file = $work/as.port" \
  "pwhash-ops = $OPS" "pwhash-mem-mib = $MEM" "hash-threads = $THREADS" \
  "admin-key = $admin_key" "dc-key = $dc_key" >"$work/as.conf"
"$bin/ntm-as" --config "$work/as.conf" 2>"$work/as.log" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/as.port" ] && break; sleep 0.05; done
[ -s "$work/as.port" ] || { cat "$work/as.log"; echo "ntm-as did not start"; exit 1; }
as="127.0.0.1:$(head -1 "$work/as.port")"
echo "bench-password-0123" >"$work/password"
NTM_AS=$as NTM_AS_KEY=$as_key "$bin/ntm-admin" --key-dir "$work/admin" account add bench \
  --node-limit 5 <"$work/password" >/dev/null
echo "AS logins, Argon2id $OPS pass(es) over $MEM MiB, $THREADS hash threads, ${SECS} s"
"$bin/ntm-as-logins" --as "$as" --as-key "$as_key" --key-dir "$work/dc" --account bench \
  --password-file "$work/password" --seconds "$SECS" --inflight 16 --threads "$THREADS" \
  --ops "$OPS" --mem-mib "$MEM" | sed 's/^/  /'
