#include "common/node_options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace po = boost::program_options;

namespace ntm::apps {

void NodeOptions::add_to(po::options_description& desc) {
  desc.add_options()("dc", po::value(&dc), "DC control address ip:port (env NTM_DC)")(
      "dc-key", po::value(&dc_key), "DC public key, base64 (env NTM_DC_KEY)")(
      "name", po::value(&name), "this node's name (env NTM_NAME)")(
      "state-dir", po::value(&state_dir), "directory for this node's key (env NTM_STATE_DIR)")(
      "bind", po::value(&bind), "local UDP address ip:port (env NTM_BIND; default [::]:0)")(
      "stats", po::bool_switch(&stats), "print the node's packet counters to stderr at exit");
}

bool NodeOptions::complete(const char* prog) {
  auto fill = [](std::string& v, const char* env) {
    if (v.empty())
      if (const char* e = std::getenv(env)) v = e;
  };
  fill(dc, "NTM_DC");
  fill(dc_key, "NTM_DC_KEY");
  fill(name, "NTM_NAME");
  fill(state_dir, "NTM_STATE_DIR");
  fill(bind, "NTM_BIND");
  const char* missing = dc.empty()          ? "--dc"
                        : dc_key.empty()    ? "--dc-key"
                        : name.empty()      ? "--name"
                        : state_dir.empty() ? "--state-dir"
                                            : nullptr;
  if (missing) {
    std::fprintf(stderr, "%s: %s is required (or its environment variable)\n", prog, missing);
    return false;
  }
  return true;
}

bool NodeOptions::start_node(const char* prog, ntm_config& cfg) {
  ntm_config_init(&cfg);
  cfg.dc_address = dc.c_str();
  cfg.dc_public_key = dc_key.c_str();
  cfg.node_name = name.c_str();
  cfg.state_dir = state_dir.c_str();
  cfg.bind_address = bind.empty() ? nullptr : bind.c_str();
  if (ntm_start(&cfg) != 0) {
    std::fprintf(stderr, "%s: cannot start node: %s (%s)\n", prog, ntm_last_error(),
                 std::strerror(errno));
    return false;
  }
  return true;
}

void NodeOptions::print_stats() const {
  if (!stats) return;
  ntm_stats s;
  if (ntm_get_stats(&s) != 0) return;
  std::fprintf(stderr,
               "stat tx_packets=%llu tx_bytes=%llu rx_packets=%llu rx_bytes=%llu "
               "drop_malformed=%llu drop_unknown_tunnel=%llu drop_auth=%llu drop_replay=%llu "
               "drop_too_old=%llu drop_spoofed=%llu drop_no_tunnel=%llu drop_control=%llu "
               "tunnels_established=%llu roams=%llu\n",
               (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes,
               (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes,
               (unsigned long long)s.drop_malformed, (unsigned long long)s.drop_unknown_tunnel,
               (unsigned long long)s.drop_auth, (unsigned long long)s.drop_replay,
               (unsigned long long)s.drop_too_old, (unsigned long long)s.drop_spoofed,
               (unsigned long long)s.drop_no_tunnel, (unsigned long long)s.drop_control,
               (unsigned long long)s.tunnels_established, (unsigned long long)s.roams);
}

}  // namespace ntm::apps
