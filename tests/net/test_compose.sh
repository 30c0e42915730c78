#!/usr/bin/env bash
# docker/docker-compose.yml stays a faithful mirror of topology.sh.
#
#   test_compose.sh validate   (no privileges needed)
#     1. `docker-compose config -q` accepts the file (offline: no Docker engine involved).
#     2. Every host and router of topology.sh is a service with the same addresses.
#   test_compose.sh run        (needs CAP_NET_ADMIN)
#     3. The compose file brought up without Docker: one namespace per service, a bridge per
#        compose network, the addresses compose would give, and each service's own
#        command — docker/netsetup.sh ROLE — run inside it. Then the things that make it
#        the reference topology: >= 10 ms from a node to dc1 through the emulated access link,
#        NAT kinds as turnutils_natdiscovery sees them, the IPv6-only node, routed access.
#     4. The two NTM domains the compose file runs (docker/ntm-service.sh): nsd's referral
#        for dc2.ntm.test, dc2's authoritative answers, an account made with ntm-admin on the
#        AS, and a node of dc1 behind NAT A exchanging 1 MB each way with a node of dc2 on ng
#        by FQDN; a wrong password gets no vIP.
#
#      ns "sw": bridge per network      internet   lan_a   lan_b   lan_c   access_v6   access_global
#                                           |        |       |       |        |             |
#      one ns per service, eth0..N:    inet dc1 .. rtr-a   na mn  ...  (as docker would attach them)
set -euo pipefail
# shellcheck source=topology.sh
source "$(dirname "$0")/topology.sh"
COMPOSE_FILE="$NET_REPO_DIR/docker/docker-compose.yml"
mode=${1:-validate}

# The compose file, normalised by docker-compose itself, as lines a shell can read:
#   net NAME SUBNET...  |  link SERVICE NETWORK V4 V6  |  sysctl SERVICE K=V
#   env SERVICE K=V     |  cmd SERVICE ARGS...
compose_plan() {
  docker-compose -f "$COMPOSE_FILE" config | python3 -c '
import sys, yaml
c = yaml.safe_load(sys.stdin)
for name, net in c["networks"].items():
    subnets = [cfg["subnet"] for cfg in net.get("ipam", {}).get("config", [])]
    print("net", name, *subnets)
for name, svc in c["services"].items():
    for net, cfg in (svc.get("networks") or {}).items():
        cfg = cfg or {}
        print("link", name, net, cfg.get("ipv4_address", "-"), cfg.get("ipv6_address", "-"))
    for k, v in (svc.get("sysctls") or {}).items():
        print("sysctl", name, f"{k}={v}")
    for k, v in (svc.get("environment") or {}).items():
        print("env", name, f"{k}={v}")
    print("cmd", name, *svc.get("command", []))
'
}

validate() {
  command -v docker-compose >/dev/null || die "docker-compose is not installed: run scripts/install-deps"
  docker-compose -f "$COMPOSE_FILE" config -q || die "docker-compose rejects $COMPOSE_FILE"
  pass "docker-compose config -q accepts docker/docker-compose.yml"

  local plan want h x a missing=0
  plan=$(compose_plan)
  # has SERVICE ADDRESS — the service has that address on some network.
  has() { awk -v s="$1" -v a="$2" '$1 == "link" && $2 == s && ($4 == a || $5 == a) {f = 1} END {exit !f}' <<<"$plan"; }
  want=()
  for h in "${INTERNET_HOSTS[@]}" na nb nc n6 ng; do
    for a in ${HOST_V4[$h]:-} ${HOST_V6[$h]:-}; do want+=("$h $a"); done
  done
  for x in "${ACCESS_NETS[@]}"; do
    for a in ${ACCESS_WAN[$x]} ${ACCESS_LAN[$x]}; do want+=("rtr-$x ${a%/*}"); done
  done
  want+=("$MOBILE ${MOBILE_V4[a]}" "inet $INET_V4" "inet $INET_V6")
  for a in "${want[@]}"; do
    read -r h x <<<"$a"
    # stun's second addresses are added by netsetup.sh (Docker gives one per network).
    [[ $h == stun && $x == *101 ]] && continue
    has "$h" "$x" || {
      log "compose service $h lacks $x"
      missing=$((missing + 1))
    }
  done
  ((missing == 0)) || die "$missing addresses of topology.sh are missing from the compose file"
  pass "every host and router address of topology.sh is in the compose file (${#want[@]} checked)"
}

run() {
  net_require_root
  net_begin
  local plan kind name net a4 a6 rest port=0
  plan=$(compose_plan)
  declare -A bridge=() nics=() envs=() prefix4=() prefix6=()
  ns_add sw
  while read -r kind name rest; do
    [[ $kind == net ]] || continue
    bridge[$name]=br${#bridge[@]}
    bridge_add sw "${bridge[$name]}"
    for a4 in $rest; do
      if [[ $a4 == *:* ]]; then prefix6[$name]=${a4#*/}; else prefix4[$name]=${a4#*/}; fi
    done
  done <<<"$plan"
  # Interfaces in the order compose lists the networks, like Docker's eth0, eth1, ...
  while read -r kind name net a4 a6; do
    [[ $kind == link ]] || continue
    if [[ -z ${nics[$name]:-} ]]; then
      ns_add "$name"
      nics[$name]=0
    fi
    local dev=eth${nics[$name]}
    nics[$name]=$((nics[$name] + 1))
    port=$((port + 1))
    veth "$name" "$dev" sw "p$port"
    bridge_port sw "${bridge[$net]}" "p$port"
    if [[ $a4 != - ]]; then addr "$name" "$dev" "$a4/${prefix4[$net]}"; fi
    if [[ $a6 != - ]]; then addr "$name" "$dev" "$a6/${prefix6[$net]}"; fi
  done <<<"$plan"
  while read -r kind name rest; do
    case $kind in
    sysctl) n "$name" sysctl -qw "$rest" ;;
    env) envs[$name]+="$rest " ;;
    esac
  done <<<"$plan"
  local linkemu bindir
  linkemu=$(net_bin ntm-linkemu)
  bindir=$(dirname "$(net_bin ntm-dc)")
  # The services' state (the compose volume ntm-shared), and their commands' relative paths.
  mkdir -p "$NET_STATE/shared"
  cd "$NET_REPO_DIR"
  while read -r kind name rest; do
    [[ $kind == cmd ]] || continue
    mkdir -p "$NET_STATE/svc-$name"
    # shellcheck disable=SC2086 # rest is the command's argument list
    bg "$name" "svc-$name" env ${envs[$name]:-} LINKEMU="$linkemu" NETSETUP_STATE="$NET_STATE/svc-$name" \
      NTM_SHARED="$NET_STATE/shared" NTM_BIN="$bindir" bash "$NET_REPO_DIR/docker/netsetup.sh" $rest
  done <<<"$plan"
  while read -r kind name rest; do
    [[ $kind == cmd ]] && bg_wait_line "svc-$name" '^netsetup: .* ready' 60
  done <<<"$plan"
  wait_until 60 stun_listening || die "turnserver in the stun service did not come up"
  pass "all $(grep -c '^cmd' <<<"$plan") services up in namespaces, each configured by netsetup.sh"

  # The emulated access link holds each packet 5 ms each way, so no echo can come back
  # sooner than 10 ms (less the emulator's 50 us release slack); how much later depends on
  # the machine, and is not checked.
  local rtt
  rtt=$(n na ping -c 5 -i 0.05 198.18.0.11 | sed -n 's|^rtt.*= \([0-9.]*\)/.*|\1|p')
  awk -v r="$rtt" 'BEGIN {exit !(r >= 9.9)}' || die "na -> dc1 minimum RTT '$rtt' ms: the delay is missing"
  pass "na -> dc1 through rtr-a's emulated access link: minimum RTT $rtt ms (>= 10 ms of delay)"
  local pids=() h
  for h in na nb ng; do
    (nat_discovery "$h" 198.18.0.100 >"$NET_STATE/natdiscovery.$h") &
    pids+=($!)
  done
  (nat_discovery n6 2001:db8::100 >"$NET_STATE/natdiscovery.n6") &
  pids+=($!)
  wait "${pids[@]}"
  grep -q 'UDP reflexive addr: 198.18.0.201:' "$NET_STATE/natdiscovery.na" &&
    grep -q '^NAT with Endpoint Independent Mapping!' "$NET_STATE/natdiscovery.na" ||
    die "na: $(cat "$NET_STATE/natdiscovery.na")"
  grep -q 'UDP reflexive addr: 198.18.0.202:' "$NET_STATE/natdiscovery.nb" &&
    grep -q '^NAT with Address and Port Dependent Mapping!' "$NET_STATE/natdiscovery.nb" ||
    die "nb: $(cat "$NET_STATE/natdiscovery.nb")"
  grep -q 'UDP reflexive addr: 198.18.7.10:' "$NET_STATE/natdiscovery.ng" ||
    die "ng: $(cat "$NET_STATE/natdiscovery.ng")"
  grep -q 'UDP reflexive addr: 2001:db8:6::10:' "$NET_STATE/natdiscovery.n6" ||
    die "n6: $(cat "$NET_STATE/natdiscovery.n6")"
  pass "natdiscovery: rtr-a endpoint-independent, rtr-b symmetric, ng and n6 un-NATed"
  [[ -z $(n n6 ip -4 addr show scope global) ]] || die "n6 kept an IPv4 address"
  pass "n6 is IPv6-only"
  two_domains "$bindir"
}

# two_domains BINDIR — step 4: the daemons docker/ntm-service.sh started in the services.
two_domains() {
  local bindir=$1 sh=$NET_STATE/shared dig_out
  bg_wait_line svc-dc1 'DC for dc1.ntm.test up' 60
  bg_wait_line svc-dc2 'DC for dc2.ntm.test up' 60
  bg_wait_line svc-as 'AS up' 60
  # The parent zone refers dc2.ntm.test to dc2, and dc2 answers for its zone itself.
  wait_until 20 eval 'n ng dig +norec +time=1 +tries=1 @198.18.0.53 NS dc2.ntm.test >"$NET_STATE/dig.ref"' ||
    die "nsd on dns does not answer: $(cat "$NET_STATE/dig.ref")"
  grep -Eq '^ns\.dc2\.ntm\.test\..*IN[[:space:]]+A[[:space:]]+198\.18\.0\.12$' "$NET_STATE/dig.ref" ||
    die "no referral to dc2 at 198.18.0.12: $(cat "$NET_STATE/dig.ref")"
  dig_out=$(n ng dig +norec +time=2 +tries=2 @198.18.0.12 SOA dc2.ntm.test)
  grep -q 'flags: qr aa' <<<"$dig_out" && grep -Eq '^dc2\.ntm\.test\..*SOA' <<<"$dig_out" ||
    die "dc2 is not authoritative for dc2.ntm.test: $dig_out"
  pass "nsd on dns delegates dc2.ntm.test to 198.18.0.12, which answers for it (aa)"

  # The operator makes an account on the AS with ntm-admin, as in the compose file's header.
  local admin=("$bindir/ntm-admin" --key-dir "$sh/admin" --as 198.18.0.30:7300
    --as-key "$(cat "$sh/as/as.pub")")
  echo correct-horse | n as "${admin[@]}" account add alice >"$NET_STATE/admin.out" 2>&1 ||
    die "ntm-admin account add: $(cat "$NET_STATE/admin.out")"
  pass "ntm-admin created account alice on the AS"

  # A node of dc2 on ng serves, a node of dc1 behind NAT A connects by FQDN: 1 MB each way.
  local dc1_key dc2_key
  dc1_key=$("$bindir/ntm-dc" --state-dir "$sh/dc1" --print-public-key)
  dc2_key=$("$bindir/ntm-dc" --state-dir "$sh/dc2" --print-public-key)
  head -c 1000000 /dev/urandom >"$NET_STATE/server.bin"
  head -c 1000000 /dev/urandom >"$NET_STATE/client.bin"
  ip netns exec "$NET_PREFIX-ng" env NTM_DC=198.18.0.12:7100 NTM_DC_KEY="$dc2_key" NTM_NAME=server \
    NTM_STATE_DIR="$NET_STATE/node-server" NTM_ACCOUNT=alice NTM_PASSWORD=correct-horse \
    NTM_START_TIMEOUT_MS=30000 timeout 120 "$bindir/ntm-cat" -v -l 9000 \
    <"$NET_STATE/server.bin" >"$NET_STATE/server.got" 2>"$(bg_log node-server)" &
  local server_pid=$!
  net_track "$server_pid" node-server
  bg_wait_line node-server listening 60
  local rc=0
  ip netns exec "$NET_PREFIX-na" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$dc1_key" NTM_NAME=client \
    NTM_STATE_DIR="$NET_STATE/node-client" NTM_ACCOUNT=alice NTM_PASSWORD=correct-horse \
    NTM_START_TIMEOUT_MS=30000 timeout 120 "$bindir/ntm-cat" -v server.dc2.ntm.test 9000 \
    <"$NET_STATE/client.bin" >"$NET_STATE/client.got" 2>"$(bg_log node-client)" || rc=$?
  wait "$server_pid" || die "the node of dc2 failed: $(cat "$(bg_log node-server)")"
  ((rc == 0)) || die "the node of dc1 failed ($rc): $(cat "$(bg_log node-client)")"
  cmp -s "$NET_STATE/server.bin" "$NET_STATE/client.got" || die "dc2 -> dc1: bytes differ"
  cmp -s "$NET_STATE/client.bin" "$NET_STATE/server.got" || die "dc1 -> dc2: bytes differ"
  grep -q 'DC⇄DC' "$(bg_log svc-dc1)" || die "dc1 did not talk to dc2: $(cat "$(bg_log svc-dc1)")"
  pass "a node of dc1 behind NAT A and a node of dc2 on ng exchanged 1 MB each way by FQDN"

  # A wrong password: ntm_start fails with the documented error and the node gets no vIP.
  rc=0
  ip netns exec "$NET_PREFIX-na" env NTM_DC=198.18.0.11:7100 NTM_DC_KEY="$dc1_key" NTM_NAME=intruder \
    NTM_STATE_DIR="$NET_STATE/node-intruder" NTM_ACCOUNT=alice NTM_PASSWORD=wrong-horse \
    NTM_START_TIMEOUT_MS=30000 timeout 60 "$bindir/ntm-cat" -l 9001 </dev/null \
    >/dev/null 2>"$(bg_log node-intruder)" || rc=$?
  ((rc != 0 && rc != 124)) || die "a wrong password was not refused ($rc)"
  grep -q 'EACCES\|Permission denied' "$(bg_log node-intruder)" ||
    die "no clear refusal: $(cat "$(bg_log node-intruder)")"
  n ng dig +norec +time=2 +tries=2 @198.18.0.11 A intruder.dc1.ntm.test | grep -q 'status: NXDOMAIN' ||
    die "the refused node has a name in dc1.ntm.test"
  pass "a wrong password is refused, and the node has no name (NXDOMAIN)"
}

case $mode in
validate) validate ;;
run) run ;;
*) die "usage: test_compose.sh validate|run" ;;
esac
