#include "common/node_options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace po = boost::program_options;

namespace ntm::apps {

void NodeOptions::add_to(po::options_description& desc) {
  desc.add_options()("dc", po::value(&dc), "DC control address ip:port (env NTM_DC)")(
      "dc-key", po::value(&dc_key), "DC public key, base64 (env NTM_DC_KEY)")(
      "name", po::value(&name), "this node's name (env NTM_NAME)")(
      "state-dir", po::value(&state_dir), "directory for this node's key (env NTM_STATE_DIR)")(
      "bind", po::value(&bind), "local UDP address ip:port (env NTM_BIND; default [::]:0)")(
      "keepalive-ms", po::value(&keepalive_ms),
      "keep-alive interval to the DC and on idle tunnels (env NTM_KEEPALIVE_MS; default 15000)")(
      "rekey-ms", po::value(&rekey_ms),
      "rekey tunnels whose keys are this old (env NTM_REKEY_MS; default 120000)")(
      "rekey-messages", po::value(&rekey_messages),
      "rekey tunnels after this many packets either way (env NTM_REKEY_MESSAGES; default 2^60)")(
      "tunnel-timeout-ms", po::value(&tunnel_timeout_ms),
      "remove tunnels silent this long (env NTM_TUNNEL_TIMEOUT_MS; default 4 keep-alive "
      "intervals)")(
      "start-timeout-ms", po::value(&start_timeout_ms),
      "how long to wait for the DC's registration response (env NTM_START_TIMEOUT_MS; default "
      "5000)")(
      "linger", po::value(&linger_ms),
      "at exit, wait at most this many ms for TCP data to be acknowledged, as long as it makes "
      "progress (env NTM_LINGER_MS; default 60000)")(
      "account", po::value(&account),
      "account at the DC's Account Server (env NTM_ACCOUNT); the password comes from "
      "--password-file or env NTM_PASSWORD")(
      "password-file", po::value(&password_file),
      "file whose first line is the account's password (env NTM_PASSWORD_FILE)")(
      "stats", po::bool_switch(&stats),
      "print the node's counters to stderr at exit, after ntm_stop()'s linger");
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
  auto number = [](auto& v, const char* env) {
    if (!v)
      if (const char* e = std::getenv(env)) v = decltype(+v)(std::strtoull(e, nullptr, 10));
  };
  number(keepalive_ms, "NTM_KEEPALIVE_MS");
  number(rekey_ms, "NTM_REKEY_MS");
  number(rekey_messages, "NTM_REKEY_MESSAGES");
  number(tunnel_timeout_ms, "NTM_TUNNEL_TIMEOUT_MS");
  number(start_timeout_ms, "NTM_START_TIMEOUT_MS");
  number(linger_ms, "NTM_LINGER_MS");
  fill(account, "NTM_ACCOUNT");
  fill(password_file, "NTM_PASSWORD_FILE");
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!in || !std::getline(in, password)) {
      std::fprintf(stderr, "%s: cannot read the password from %s\n", prog, password_file.c_str());
      return false;
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else if (const char* e = std::getenv("NTM_PASSWORD")) {
    password = e;
  }
  if (!account.empty() && password.empty()) {
    std::fprintf(stderr, "%s: --account needs a password (--password-file or NTM_PASSWORD)\n",
                 prog);
    return false;
  }
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

void NodeOptions::fill(ntm_config& cfg) const {
  ntm_config_init(&cfg);
  cfg.dc_address = dc.c_str();
  cfg.dc_public_key = dc_key.c_str();
  cfg.node_name = name.c_str();
  cfg.state_dir = state_dir.c_str();
  cfg.bind_address = bind.empty() ? nullptr : bind.c_str();
  cfg.keepalive_interval_ms = keepalive_ms;
  cfg.rekey_after_ms = rekey_ms;
  cfg.rekey_after_messages = rekey_messages;
  cfg.tunnel_timeout_ms = tunnel_timeout_ms;
  cfg.start_timeout_ms = start_timeout_ms;
  cfg.stop_linger_ms = linger_ms;
  if (!account.empty()) {
    cfg.account = account.c_str();
    cfg.password = password.c_str();
  }
}

bool NodeOptions::start_node(const char* prog, ntm_config& cfg) {
  fill(cfg);
  if (ntm_start(&cfg) != 0) {
    std::fprintf(stderr, "%s: cannot start node: %s (%s)\n", prog, ntm_last_error(),
                 std::strerror(errno));
    return false;
  }
  return true;
}

bool NodeOptions::stop_node(const char* prog) {
  bool ok = ntm_stop() == 0;
  if (!ok) std::fprintf(stderr, "%s: %s\n", prog, ntm_last_error());
  ntm_stats s;
  if (stats && ntm_get_stats(&s) == 0) {  // the stopped node's final counters
    if (gauges_) {
      s.tunnels_open = gauges_->tunnels_open;
      s.negotiations_open = gauges_->negotiations_open;
      s.relay_sessions_open = gauges_->relay_sessions_open;
      s.sockets_open = gauges_->sockets_open;
    }
    write_stats(stderr, s);
  }
  return ok;
}

void NodeOptions::note_gauges() {
  ntm_stats s;
  if (stats && ntm_get_stats(&s) == 0) gauges_ = s;
}

void write_stats(FILE* out) {
  ntm_stats s;
  if (ntm_get_stats(&s) == 0) write_stats(out, s);
}

void write_stats(FILE* out, const ntm_stats& s) {
  const std::pair<const char*, uint64_t> fields[] = {
      {"tx_packets", s.tx_packets},
      {"tx_bytes", s.tx_bytes},
      {"rx_packets", s.rx_packets},
      {"rx_bytes", s.rx_bytes},
      {"drop_malformed", s.drop_malformed},
      {"drop_unknown_tunnel", s.drop_unknown_tunnel},
      {"drop_auth", s.drop_auth},
      {"drop_replay", s.drop_replay},
      {"drop_too_old", s.drop_too_old},
      {"drop_spoofed", s.drop_spoofed},
      {"drop_no_tunnel", s.drop_no_tunnel},
      {"drop_control", s.drop_control},
      {"drop_reassembly", s.drop_reassembly},
      {"tx_keepalives", s.tx_keepalives},
      {"tunnels_established", s.tunnels_established},
      {"roams", s.roams},
      {"drop_overload", s.drop_overload},
      {"drop_unvalidated_path", s.drop_unvalidated_path},
      {"path_challenges", s.path_challenges},
      {"paths_validated", s.paths_validated},
      {"rekeys", s.rekeys},
      {"tunnels_expired", s.tunnels_expired},
      {"tunnels_refused", s.tunnels_refused},
      {"tcp_rexmit_recovery", s.tcp_rexmit_recovery},
      {"tcp_rexmit_tlp", s.tcp_rexmit_tlp},
      {"tcp_rexmit_rto", s.tcp_rexmit_rto},
      {"tcp_rto_events", s.tcp_rto_events},
      {"drop_relay", s.drop_relay},
      {"tx_relayed", s.tx_relayed},
      {"path_switches", s.path_switches},
      {"relay_binds", s.relay_binds},
      {"punches_sent", s.punches_sent},
      {"punches_received", s.punches_received},
      {"tunnels_open", s.tunnels_open},
      {"negotiations_open", s.negotiations_open},
      {"relay_sessions_open", s.relay_sessions_open},
      {"sockets_open", s.sockets_open}};
  std::fprintf(out, "stats");
  for (auto& [name, value] : fields) std::fprintf(out, " %s=%llu", name, (unsigned long long)value);
  std::fprintf(out, "\n");
  std::fflush(out);
}

}  // namespace ntm::apps
