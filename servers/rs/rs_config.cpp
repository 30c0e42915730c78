#include "rs/rs_config.h"

#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>

#include "common/secret_file.h"

namespace po = boost::program_options;

namespace ntm::rs {

std::optional<RsConfig> parse_config(int argc, char** argv, int& exit_code) {
  RsConfig c;
  std::string config_file;
  po::options_description cli("Command line");
  cli.add_options()("help,h", "show this help")("config,c", po::value(&config_file),
                                                "config file (same keys as the long options)")(
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
      "seconds after which a session without binds or traffic is forgotten")(
      "log-level", po::value(&c.log_level)->default_value("info"),
      "trace, debug, info, warn, error")(
      "port-file", po::value(&c.port_file),
      "write the bound UDP ports here, one per line (for --listen with port 0)");
  po::options_description all;
  all.add(cli).add(opts);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("config")) {
      std::ifstream f(vm["config"].as<std::string>());
      if (!f) {
        std::cerr << "ntm-rs: cannot read config file " << vm["config"].as<std::string>() << "\n";
        exit_code = 2;
        return std::nullopt;
      }
      po::store(po::parse_config_file(f, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ntm-rs: " << e.what() << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (vm.count("help")) {
    std::cout << "Usage: ntm-rs --config FILE [options]\n\n" << all << "\n";
    exit_code = 0;
    return std::nullopt;
  }
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
