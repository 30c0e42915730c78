// ntm-rs: the Relay Server daemon (docs/admin.md).
//   ntm-rs --config FILE                 run
//   ntm-rs --generate-key FILE           write a new relay key (share it with the DC) and exit
// SIGHUP logs the counters; SIGTERM/SIGINT stop, with the counters.
#include <asio/io_context.hpp>
#include <iostream>

#include <spdlog/spdlog.h>
#include "common/daemon.h"
#include "common/secret_file.h"
#include "crypto/aead.h"
#include "rs/rs_config.h"
#include "rs/rs_server.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto cfg = ntm::rs::parse_config(argc, argv, exit_code);
  if (!cfg) return exit_code;
  ntm::crypto::init();
  if (!cfg->generate_key.empty()) {
    std::string error;
    if (!ntm::server::write_secret_file(cfg->generate_key, error)) {
      std::cerr << "ntm-rs: " << error << "\n";
      return 1;
    }
    return 0;
  }
  if (!ntm::server::start_logging("ntm-rs", cfg->log_level)) return 2;
  asio::io_context io;
  size_t keys = cfg->keys.size();
  std::string port_file = cfg->port_file;
  ntm::rs::RsServer server(io, std::move(*cfg));
  if (!server.open()) return 1;
  // Before the port file says the daemon is up: from then on SIGTERM/SIGINT stop the relay, SIGHUP
  // logs its counters.
  ntm::server::SignalHandler signals(io, [&] { return server.stats_line(); });
  std::vector<uint16_t> ports;
  for (auto& e : server.local_endpoints()) ports.push_back(e.port());
  ntm::server::write_port_file(port_file, ports);
  spdlog::info("relay server up with {} relay key(s)", keys);
  io.run();
  return 0;
}
