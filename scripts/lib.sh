# Shell helpers shared by scripts/demo and the benchmarks in bench/ (sourced, not run):
#   work_dir PREFIX           $work = a new /tmp/PREFIX.XXXXXX; on exit every pid in $pids is
#                             killed and $work removed, even on failure
#   free_udp_port             a UDP port nothing listens on (any address)
#   nsd_conf DIR ADDR PORT ZONE   nsd's configuration (stdout) to serve ZONE from DIR/zone on
#                             ADDR:PORT, run in the foreground by an unprivileged caller; its
#                             response rate limiting off (benchmarks send bursts from one host)

work_dir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap work_dir_cleanup EXIT INT TERM
}
work_dir_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

free_udp_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 50); do
    ss -Hlun "( sport = :$p )" | grep -q . || { echo "$p"; return; }
  done
  return 1
}

nsd_conf() {
  printf '%s\n' 'server:' "  ip-address: $2" "  port: $3" '  username: ""' '  chroot: ""' \
    "  zonesdir: \"$1\"" '  database: ""' "  pidfile: \"$1/nsd.pid\"" \
    "  xfrdfile: \"$1/xfrd.state\"" "  xfrdir: \"$1\"" "  zonelistfile: \"$1/zone.list\"" \
    "  logfile: \"$1/nsd.log\"" '  server-count: 1' '  reuseport: no' '  rrl-ratelimit: 0' \
    'remote-control:' '  control-enable: no' 'zone:' "  name: \"$4\"" '  zonefile: "zone"'
}
