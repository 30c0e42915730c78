// ntm-rs: the Relay Server daemon (docs/admin.md).
//   ntm-rs --config FILE                 run
//   ntm-rs --generate-key FILE           write a new relay key (share it with the DC) and exit
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include "common/logging.h"
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
  if (!ntm::server::setup_logging("ntm-rs", cfg->log_level)) {
    std::cerr << "ntm-rs: unknown log level " << cfg->log_level << "\n";
    return 2;
  }
  asio::io_context io;
  size_t keys = cfg->keys.size();
  std::string port_file = cfg->port_file;
  ntm::rs::RsServer server(io, std::move(*cfg));
  if (!server.open()) return 1;
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream f(tmp);
      for (auto& e : server.local_endpoints()) f << e.port() << "\n";
    }
    std::rename(tmp.c_str(), port_file.c_str());
  }
  spdlog::info("relay server up with {} relay key(s)", keys);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int sig) {
    spdlog::info("stopping on signal {}: {}", sig, server.stats_line());
    io.stop();
  });
  io.run();
  return 0;
}
