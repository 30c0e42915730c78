#include "rs/rs_config.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "common/daemon.h"
#include "common/secret_file.h"

namespace po = boost::program_options;

namespace ntm::rs {

std::optional<RsConfig> parse_config(int argc, char** argv, int& exit_code) {
  RsConfig c;
  po::options_description cli("Command line");
  cli.add_options()(
      "generate-key", po::value(&c.generate_key),
      "write a new random relay key to FILE (mode 0600) and exit; give the same file to the "
      "DC (relay-key-file) and to the RS (key-file)");
  po::options_description opts("Options (command line or config file)");
  opts.add_options()("listen", po::value(&c.listen)->composing(),
                     "UDP endpoint ip:port, repeatable (default 0.0.0.0:7300 and [::]:7300)")(
      "key-file", po::value(&c.key_files)->composing(),
      "relay key shared with a DC (base64, mode 0600), repeatable")(
      "node-pps", po::value(&c.node_pps)->default_value(c.node_pps),
      "datagrams per second one node may send through the relay")(
      "node-bytes", po::value(&c.node_bytes)->default_value(c.node_bytes),
      "bytes per second one node may send through the relay")(
      "global-pps", po::value(&c.global_pps)->default_value(c.global_pps),
      "datagrams per second the relay forwards at most")(
      "global-bytes", po::value(&c.global_bytes)->default_value(c.global_bytes),
      "bytes per second the relay forwards at most")(
      "max-sessions", po::value(&c.max_sessions)->default_value(c.max_sessions),
      "relay sessions held at most")(
      "session-idle", po::value(&c.session_idle_s)->default_value(c.session_idle_s),
      "seconds after which a session without binds or traffic is forgotten");
  server::add_daemon_options(opts, c.log_level, c.port_file);
  po::variables_map vm;
  if (!server::parse_options("ntm-rs", "ntm-rs --config FILE [options]", argc, argv, cli, opts, vm,
                             exit_code))
    return std::nullopt;
  if (!c.generate_key.empty()) return c;
  if (c.listen.empty()) c.listen = {"0.0.0.0:7300", "[::]:7300"};
  if (c.key_files.empty()) {
    std::cerr << "ntm-rs: at least one key-file is needed (ntm-rs --generate-key FILE makes one)\n";
    exit_code = 2;
    return std::nullopt;
  }
  for (auto& f : c.key_files) {
    std::string error;
    auto k = server::load_secret_file(f, error);
    if (!k) {
      std::cerr << "ntm-rs: " << error << "\n";
      exit_code = 2;
      return std::nullopt;
    }
    c.keys.push_back(*k);
  }
  if (c.node_pps <= 0 || c.node_bytes <= 0 || c.global_pps <= 0 || c.global_bytes <= 0 ||
      c.max_sessions < 1 || c.session_idle_s < 1) {
    std::cerr << "ntm-rs: quotas must be positive, max-sessions and session-idle at least 1\n";
    exit_code = 2;
    return std::nullopt;
  }
  return c;
}

}  // namespace ntm::rs
