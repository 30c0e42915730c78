#!/usr/bin/env bash
# docker/netsetup.sh ROLE [ARGS...] [-- COMMAND...] — the entry point of every container of
# docker-compose.yml: configures the container's network namespace for its ROLE the way
# tests/net/topology.sh configures the matching namespace, then runs the container's command
# after `--` (or sleeps). Needs cap_add NET_ADMIN.
#
#   core                     the internet's router: routes to the routed access networks
#   server                   a host on the internet; default route via the core
#   stun                     a server that also takes .101/::101 and runs turnserver
#   router KIND              an access router, KIND = eim | symmetric | routed; runs
#                            ntm-linkemu on its access link ($DELAY one way, default 5ms)
#   host GW [GW6]            a host on an access network, default route(s) via its router
#   host6 GW6                the IPv6-only host: its IPv4 address is removed
#
# Docker names interfaces in no fixed order, so interfaces are found by the subnet of their
# address: the internet is 198.18.0.0/24 and 2001:db8::/64, everything else is a LAN.
set -euo pipefail
role=${1:-server}
shift || true
args=()
while (($#)) && [[ $1 != -- ]]; do
  args+=("$1")
  shift
done
if (($#)); then shift; fi # the --; what is left is the command
set -- "${args[@]+"${args[@]}"}" -- "$@"
DELAY=${DELAY:-5ms}
LINKEMU=${LINKEMU:-/src/build/bin/ntm-linkemu}
STATE=${NETSETUP_STATE:-/run} # pid files and turnserver's database
die() {
  echo "netsetup: $*" >&2
  exit 1
}
# shellcheck source=../tests/net/routers.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/net/routers.sh" # nat_ruleset

# iface_of PATTERN — the interface holding an address that matches PATTERN (awk regex).
iface_of() { ip -o addr show | awk -v p="$1" '$4 ~ p {print $2; exit}'; }
wan_if() { iface_of '^(198\.18\.0\.|2001:db8::)'; }
lan_if() { ip -o addr show scope global | awk '$4 !~ /^(198\.18\.0\.|2001:db8::)/ {print $2; exit}'; }

# Static addressing only: no router advertisements, no redirects.
sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv4.conf.all.accept_redirects=0 \
  net.ipv6.conf.all.accept_redirects=0 2>/dev/null || true

case $role in
core)
  ip route replace 198.18.7.0/24 via 198.18.0.207
  ip -6 route replace 2001:db8:6::/64 via 2001:db8::206
  ip -6 route replace 2001:db8:7::/64 via 2001:db8::207
  ;;
server)
  ip route replace default via 198.18.0.1
  ip -6 route replace default via 2001:db8::1 2>/dev/null || true
  ;;
stun)
  ip route replace default via 198.18.0.1
  ip -6 route replace default via 2001:db8::1
  dev=$(wan_if)
  ip addr add 198.18.0.101/24 dev "$dev"
  ip -6 addr add 2001:db8::101/64 dev "$dev" nodad
  turnserver -n --stun-only -L 198.18.0.100 -L 198.18.0.101 -L 2001:db8::100 \
    -L 2001:db8::101 --no-tls --no-dtls --no-cli --no-software-attribute \
    --log-file stdout --simple-log --userdb "$STATE/turndb" --pidfile "$STATE/turnserver.pid" &
  ;;
router)
  kind=${1:?router needs a kind: eim, symmetric or routed}
  wan=$(wan_if)
  lan=$(lan_if)
  if ip -4 addr show dev "$wan" | grep -q inet; then ip route replace default via 198.18.0.1; fi
  if ip -6 addr show dev "$wan" scope global | grep -q inet6; then
    ip -6 route replace default via 2001:db8::1
  fi
  case $kind in
  eim | symmetric)
    nat_ruleset "$wan" "$kind" | nft -f -  # the ruleset tests/net/routers.sh installs
    ;;
  routed) ;;
  *) echo "netsetup: unknown router kind $kind" >&2 && exit 2 ;;
  esac
  "$LINKEMU" run --pidfile "$STATE/linkemu.pid" --queue 1 --delay "$DELAY" --queue 2 --delay "$DELAY" &
  for _ in $(seq 100); do
    [[ -s $STATE/linkemu.pid ]] && break
    sleep 0.05
  done
  for ipt in iptables ip6tables; do
    $ipt -t raw -A PREROUTING -i "$lan" -j NFQUEUE --queue-num 1
    $ipt -t raw -A PREROUTING -i "$wan" -j NFQUEUE --queue-num 2
  done
  ;;
host)
  ip route replace default via "${1:?host needs its router address}"
  if [[ ${2:---} != -- ]]; then ip -6 route replace default via "$2"; fi
  ;;
host6)
  dev=$(lan_if)
  ip -4 addr flush dev "$dev"
  ip -4 route flush table main
  ip -6 route replace default via "${1:?host6 needs its router IPv6 address}"
  ;;
*)
  echo "netsetup: unknown role $role" >&2
  exit 2
  ;;
esac
while (($#)) && [[ $1 != -- ]]; do shift; done
if (($#)); then shift; fi
echo "netsetup: $role ready: $(ip -br addr show | grep -v '^lo' | tr -s ' ' | tr '\n' ';')"
if (($#)); then exec "$@"; fi
exec sleep infinity
