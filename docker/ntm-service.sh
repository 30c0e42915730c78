#!/usr/bin/env bash
# docker/ntm-service.sh ROLE — the NTM daemon of a docker-compose.yml service, started by
# docker/netsetup.sh once the container's network is set (`netsetup.sh server -- ...`).
# Two domains, dc1.ntm.test and dc2.ntm.test, joined only through DNS and the AS's key
# (docs/admin.md "Several domains"):
#
#   as      first start: makes an admin key and both DCs' keys, signs the DCs' keys
#           (ntm-as --sign-dc), writes the AS's config listing the admin and the DCs; then
#           runs ntm-as (admin channel and DC logins on udp 7300)
#   dc1|dc2 waits for the AS's provisioning, then runs ntm-dc for dcN.ntm.test: nodes on udp
#           7100, the zone's DNS on 53, other DCs found through the parent zone on `dns`,
#           logins checked by the AS
#   dns     nsd serving the parent zone ntm.test. on 53, delegating dc1 and dc2
#
# Shared state (keys, certificates, the AS's accounts): $NTM_SHARED, default /var/lib/ntm —
# the compose volume ntm-shared. Binaries: $NTM_BIN, else the PATH. Create an account with
#   docker compose exec as ntm-admin --key-dir /var/lib/ntm/admin \
#     --as 198.18.0.30:7300 --as-key "$(cat /var/lib/ntm/as/as.pub)" account add alice
set -euo pipefail
role=${1:?usage: ntm-service.sh as|dc1|dc2|dns}
SHARED=${NTM_SHARED:-/var/lib/ntm}
bin() { if [[ -n ${NTM_BIN:-} ]]; then echo "$NTM_BIN/$1"; else command -v "$1"; fi; }
say() { echo "ntm-service: $role: $*" >&2; }
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh" # nsd_conf

# The test network's addresses (docs/testnet.md): dcN at 198.18.0.1N and 2001:db8::1N.
dc_v4() { echo "198.18.0.1${1#dc}"; }
dc_v6() { echo "2001:db8::1${1#dc}"; }

case $role in
as)
  mkdir -p "$SHARED/as" "$SHARED/admin"
  if [[ ! -s $SHARED/as/ntm-as.conf ]]; then
    admin=$("$(bin ntm-admin)" --key-dir "$SHARED/admin" key)
    "$(bin ntm-as)" --state-dir "$SHARED/as" --print-public-key >"$SHARED/as/as.pub"
    "$(bin ntm-as)" --state-dir "$SHARED/as" --print-signing-key >"$SHARED/as/signing.pub"
    {
      echo "admin-listen = 0.0.0.0:7300"
      echo "admin-listen = [::]:7300"
      echo "state-dir = $SHARED/as"
      echo "admin-key = $admin"
    } >"$SHARED/as/ntm-as.conf.tmp"
    for dc in dc1 dc2; do
      mkdir -p "$SHARED/$dc"
      key=$("$(bin ntm-dc)" --state-dir "$SHARED/$dc" --print-public-key)
      "$(bin ntm-as)" --state-dir "$SHARED/as" --sign-dc "$dc.ntm.test" --dc-public-key "$key" \
        >"$SHARED/$dc/dc.cert"
      echo "dc-key = $key" >>"$SHARED/as/ntm-as.conf.tmp"
      say "signed the key of $dc.ntm.test ($key)"
    done
    mv "$SHARED/as/ntm-as.conf.tmp" "$SHARED/as/ntm-as.conf" # the DCs wait for this file
  fi
  exec "$(bin ntm-as)" --config "$SHARED/as/ntm-as.conf"
  ;;
dc1 | dc2)
  for _ in $(seq 600); do
    [[ -s $SHARED/as/ntm-as.conf ]] && break
    sleep 0.1
  done
  [[ -s $SHARED/as/ntm-as.conf ]] || {
    say "the AS did not provision $SHARED within 60 s"
    exit 1
  }
  n=${role#dc}
  exec "$(bin ntm-dc)" --state-dir "$SHARED/$role" --domain "$role.ntm.test" \
    --vip4-pool "100.64.$n.0/24" --vip6-pool "fd00:6e74:6d:$n::/112" \
    --dc-cert "$SHARED/$role/dc.cert" --trusted-as "$(cat "$SHARED/as/signing.pub")" \
    --resolver 198.18.0.53:53 --dns-port 53 --dns-address "$(dc_v4 "$role")" \
    --dns-address "$(dc_v6 "$role")" --as 198.18.0.30:7300 --as-key "$(cat "$SHARED/as/as.pub")"
  ;;
dns)
  dir=$SHARED/nsd
  mkdir -p "$dir"
  printf '%s\n' '$ORIGIN ntm.test.' '$TTL 300' \
    '@ IN SOA ns.ntm.test. hostmaster.ntm.test. 1 3600 600 86400 60' '@ IN NS ns.ntm.test.' \
    'ns IN A 198.18.0.53' 'ns IN AAAA 2001:db8::53' \
    'dc1 IN NS ns.dc1' "ns.dc1 IN A $(dc_v4 dc1)" "ns.dc1 IN AAAA $(dc_v6 dc1)" \
    'dc2 IN NS ns.dc2' "ns.dc2 IN A $(dc_v4 dc2)" "ns.dc2 IN AAAA $(dc_v6 dc2)" >"$dir/zone"
  nsd_conf "$dir" 198.18.0.53 53 ntm.test >"$dir/nsd.conf"
  say "nsd serves ntm.test. on 198.18.0.53:53"
  exec nsd -d -c "$dir/nsd.conf"
  ;;
*)
  say "unknown role (as, dc1, dc2 or dns)"
  exit 2
  ;;
esac
