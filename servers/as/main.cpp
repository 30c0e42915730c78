// ntm-as: the Account Server.
//   ntm-as --config FILE                      run
//   ntm-as --config FILE --print-public-key   print the key ntm-admin pins, and exit
//   ntm-as --config FILE --print-signing-key  print the key DCs trust (trusted-as), and exit
//   ntm-as --config FILE --sign-dc ZONE --dc-public-key KEY [--cert-days N]
//                                             print a DC certificate (base64), and exit
// SIGHUP re-reads the config file's admin-key and dc-key lists; SIGTERM/SIGINT stop, with the
// counters.
#include <asio/io_context.hpp>
#include <ctime>
#include <iostream>

#include <spdlog/spdlog.h>
#include "as/account_store.h"
#include "as/admin_server.h"
#include "as/as_config.h"
#include "as/postgres_store.h"
#include "common/daemon.h"
#include "common/server_cert.h"
#include "crypto/static_key.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto cfg = ntm::as::parse_config(argc, argv, exit_code);
  if (!cfg) return exit_code;
  std::string error;
  auto key = ntm::crypto::load_or_create_key(cfg->state_dir, "as.key", error);
  if (!key) {
    std::cerr << "ntm-as: " << error << "\n";
    return 1;
  }
  if (cfg->print_public_key) {
    std::cout << ntm::crypto::key_to_base64(key->public_key) << "\n";
    return 0;
  }
  // The AS is the servers' trust anchor: its Ed25519 key signs DC certificates
  // (docs/protocol.md §15).
  auto sign_key = ntm::server::load_or_create_sign_key(cfg->state_dir, "as-sign.key", error);
  if (!sign_key) {
    std::cerr << "ntm-as: " << error << "\n";
    return 1;
  }
  if (cfg->print_signing_key) {
    std::cout << ntm::server::verify_key_to_base64(ntm::server::verify_key_of(*sign_key)) << "\n";
    return 0;
  }
  if (!cfg->sign_dc.empty()) {
    ntm::server::ServerCert c;
    c.name = cfg->sign_dc;
    c.static_key = *cfg->dc_public_key;
    // Valid from 5 minutes ago, so that a DC whose clock is a little behind accepts it.
    c.not_before = uint64_t(std::time(nullptr)) - 300;
    c.not_after = c.not_before + 300 + uint64_t(cfg->cert_days) * 86400;
    auto cert = ntm::server::sign_cert(c, *sign_key);
    if (cert.empty()) {
      std::cerr << "ntm-as: cannot sign a certificate for " << c.name << "\n";
      return 2;
    }
    std::cout << ntm::server::cert_to_base64(cert) << "\n";
    return 0;
  }
  if (!ntm::server::start_logging("ntm-as", cfg->log_level)) return 2;
  // Store calls run on the io thread (AdminServer): PostgreSQL round trips block it.
  auto store = cfg->postgres.empty() ? ntm::as::open_sqlite_store(cfg->database, error)
                                     : ntm::as::open_postgres_store(cfg->postgres, error);
  if (!store) {
    std::cerr << "ntm-as: " << error << "\n";
    return 1;
  }
  asio::io_context io;
  ntm::as::AdminServer server(io, *cfg, *key, *store);
  if (!server.open()) return 1;
  // From here on a signal stops the daemon cleanly: before the port file says it is up.
  ntm::server::SignalHandler signals(
      io, [&] { return server.stats_line(); },
      [&] {
        int code = 0;
        if (auto again = ntm::as::parse_config(argc, argv, code))
          server.set_keys(again->admin_keys, again->dc_keys);
        else
          spdlog::error("SIGHUP: config not re-read (exit code {}); keys unchanged", code);
      });
  std::vector<uint16_t> ports;
  for (auto& e : server.local_endpoints()) ports.push_back(e.port());
  ntm::server::write_port_file(cfg->port_file, ports);
  // Not the conninfo: it may hold a password.
  spdlog::info("AS up, accounts in {}, public key {}",
               cfg->postgres.empty() ? cfg->database : "PostgreSQL (postgres = ...)",
               ntm::crypto::key_to_base64(key->public_key));
  io.run();
  return 0;
}
