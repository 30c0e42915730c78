#include "ns/ns_config.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "common/daemon.h"
#include "crypto/static_key.h"

namespace po = boost::program_options;

namespace ntm::ns {

std::optional<NsConfig> parse_config(int argc, char** argv, int& exit_code) {
  NsConfig c;
  std::vector<std::string> dc_keys;
  po::options_description cli("Command line");
  cli.add_options()("print-public-key", po::bool_switch(&c.print_public_key),
                    "print the NS's static public key (base64; creates it if needed) for the "
                    "DCs' ns-key, and exit");
  po::options_description opts("Options (command line or config file)");
  opts.add_options()("node-listen", po::value(&c.node_listen)->composing(),
                     "TCP endpoint ip:port for nodes, repeatable (default 0.0.0.0:7400 and "
                     "[::]:7400)")(
      "dc-listen", po::value(&c.dc_listen)->composing(),
      "UDP endpoint ip:port for DCs, repeatable (default 127.0.0.1:7401)")(
      "state-dir", po::value(&c.state_dir)->default_value(c.state_dir),
      "directory of the NS's static key (ns.key)")(
      "dc-key", po::value(&dc_keys)->composing(),
      "static public key (base64) of a DC that may ask for notifications, repeatable; "
      "re-read on SIGHUP")("max-connections",
                           po::value(&c.max_connections)->default_value(c.max_connections),
                           "node connections held at most")(
      "idle-timeout", po::value(&c.idle_timeout_s)->default_value(c.idle_timeout_s),
      "seconds without a frame after which a node connection is closed")(
      "handshake-timeout", po::value(&c.handshake_timeout_s)->default_value(c.handshake_timeout_s),
      "seconds a new connection has for its handshake and first ping")(
      "handshake-rate", po::value(&c.handshake_rate)->default_value(c.handshake_rate),
      "new node connections per second per source address")(
      "handshake-burst", po::value(&c.handshake_burst)->default_value(c.handshake_burst),
      "burst of new node connections per source address")(
      "dc-handshake-rate", po::value(&c.dc_handshake_rate)->default_value(c.dc_handshake_rate),
      "DC channel handshakes per second per source address")(
      "dc-handshake-burst", po::value(&c.dc_handshake_burst)->default_value(c.dc_handshake_burst),
      "burst of DC channel handshakes per source address")(
      "max-dc-sessions", po::value(&c.max_dc_sessions)->default_value(c.max_dc_sessions),
      "DC channel sessions held at most")(
      "reuse-port", po::value(&c.reuse_port)->default_value(c.reuse_port),
      "SO_REUSEPORT on the node listeners (true/false): several ntm-ns processes share a port")(
      "stats-interval", po::value(&c.stats_interval_s)->default_value(c.stats_interval_s),
      "seconds between stats lines in the log (0: only on SIGHUP and at exit)");
  server::add_daemon_options(opts, c.log_level, c.port_file);
  po::variables_map vm;
  if (!server::parse_options("ntm-ns", "ntm-ns --config FILE [options]", argc, argv, cli, opts, vm,
                             exit_code))
    return std::nullopt;
  if (vm.count("config")) c.config_file = vm["config"].as<std::string>();
  if (c.node_listen.empty()) c.node_listen = {"0.0.0.0:7400", "[::]:7400"};
  if (c.dc_listen.empty()) c.dc_listen = {"127.0.0.1:7401"};
  for (auto& k : dc_keys) {
    auto key = crypto::key_from_base64(k);
    if (!key) {
      std::cerr << "ntm-ns: dc-key '" << k << "' is not a base64 public key\n";
      exit_code = 2;
      return std::nullopt;
    }
    c.dc_keys.push_back(*key);
  }
  if (c.max_connections < 1 || c.idle_timeout_s < 1 || c.handshake_timeout_s < 1 ||
      c.handshake_rate <= 0 || c.handshake_burst < 1 || c.dc_handshake_rate <= 0 ||
      c.dc_handshake_burst < 1 || c.max_dc_sessions < 1) {
    std::cerr << "ntm-ns: limits and timeouts must be at least 1, rates positive\n";
    exit_code = 2;
    return std::nullopt;
  }
  return c;
}

}  // namespace ntm::ns
