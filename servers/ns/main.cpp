// ntm-ns: the Notification Server (docs/admin.md, docs/protocol.md §17).
//   ntm-ns --config FILE                      run
//   ntm-ns --config FILE --print-public-key   print the key DCs pin (ns-key), and exit
// SIGHUP logs the counters and re-reads the config file's dc-key list; SIGTERM/SIGINT stop,
// with the counters.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <asio/io_context.hpp>
#include <iostream>

#include "common/daemon.h"
#include "crypto/static_key.h"
#include "ns/ns_config.h"
#include "ns/ns_server.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto cfg = ntm::ns::parse_config(argc, argv, exit_code);
  if (!cfg) return exit_code;
  ntm::crypto::init();
  std::string error;
  auto key = ntm::crypto::load_or_create_key(cfg->state_dir, "ns.key", error);
  if (!key) {
    std::cerr << "ntm-ns: " << error << "\n";
    return 1;
  }
  if (cfg->print_public_key) {
    std::cout << ntm::crypto::key_to_base64(key->public_key) << "\n";
    return 0;
  }
  if (!ntm::server::start_logging("ntm-ns", cfg->log_level)) return 2;
  // One descriptor per node: take every descriptor the hard limit allows.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0)
      spdlog::warn("cannot raise RLIMIT_NOFILE to {}", (unsigned long long)nofile.rlim_max);
  }
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0)
    spdlog::info("descriptor limit {}", (unsigned long long)nofile.rlim_cur);
  asio::io_context io(1);
  ntm::ns::NsServer server(io, *cfg, *key);
  if (!server.open()) return 1;
  // From here on a signal stops the daemon cleanly: before the port file says it is up.
  ntm::server::SignalHandler signals(
      io, [&] { return server.stats_line(); },
      [&] {
        int code = 0;
        if (auto again = ntm::ns::parse_config(argc, argv, code))
          server.set_dc_keys(again->dc_keys);
        else
          spdlog::error("SIGHUP: config not re-read (exit code {}); keys unchanged", code);
      });
  std::vector<uint16_t> ports;
  for (auto& e : server.node_endpoints()) ports.push_back(e.port());
  for (auto& e : server.dc_endpoints()) ports.push_back(e.port());
  ntm::server::write_port_file(cfg->port_file, ports);
  spdlog::info("NS up, public key {}", ntm::crypto::key_to_base64(key->public_key));
  io.run();
  return 0;
}
