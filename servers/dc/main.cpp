// ntm-dc: the Direction Coordinator daemon.
//   ntm-dc --config FILE            run
//   ntm-dc --config FILE --print-public-key   print the key node configs pin, and exit
#include <asio/io_context.hpp>
#include <iostream>

#include <spdlog/spdlog.h>
#include "common/daemon.h"
#include "common/logging.h"
#include "crypto/static_key.h"
#include "dc/binding_store.h"
#include "dc/dc_config.h"
#include "dc/dc_server.h"
#include "dc/dns_server.h"
#include "dc/dns_zone.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto cfg = ntm::dc::parse_config(argc, argv, exit_code);
  if (!cfg) return exit_code;
  std::string error;
  auto key = ntm::crypto::load_or_create_key(cfg->state_dir, "dc.key", error);
  if (!key) {
    std::cerr << "ntm-dc: " << error << "\n";
    return 1;
  }
  if (cfg->print_public_key) {
    std::cout << ntm::crypto::key_to_base64(key->public_key) << "\n";
    return 0;
  }
  if (!ntm::server::setup_logging("ntm-dc", cfg->log_level)) {
    std::cerr << "ntm-dc: unknown log level " << cfg->log_level << "\n";
    return 2;
  }
  // vIP bindings survive restarts: a node keeps its vIP when the DC comes back.
  auto store = ntm::dc::BindingStore::open(cfg->state_dir + "/dc.sqlite3", error);
  if (!store) {
    std::cerr << "ntm-dc: " << error << "\n";
    return 1;
  }
  asio::io_context io;
  ntm::dc::DcServer server(io, *cfg, *key, store.get());
  if (!server.open()) return 1;
  // The zone's DNS server answers from the registration table, on the same event loop.
  ntm::dc::DnsZone zone(cfg->dns_zone, [&server](const std::string& fqdn) {
    std::optional<ntm::dc::DnsNodeAddresses> out;
    const ntm::dc::NodeRecord* n = server.find_node(fqdn);
    if (!n) return out;
    out.emplace();
    if (n->vip4)
      out->v4 = std::array<uint8_t, 4>{(*n->vip4)[0], (*n->vip4)[1], (*n->vip4)[2], (*n->vip4)[3]};
    if (n->vip6) out->v6 = *n->vip6;
    return out;
  });
  std::optional<ntm::dc::DnsServer> dns;
  if (cfg->dns.port != 0) {
    dns.emplace(io, cfg->dns, zone);
    if (!dns->open()) return 1;
  }
  std::vector<uint16_t> ports;
  for (auto& e : server.local_endpoints()) ports.push_back(e.port());
  ntm::server::write_port_file(cfg->port_file, ports);
  spdlog::info("DC for {} up, public key {}", cfg->domain,
               ntm::crypto::key_to_base64(key->public_key));
  // SIGTERM/SIGINT stop the DC, SIGHUP logs its counters; both with the DNS server's.
  ntm::server::SignalHandler signals(
      io, [&] { return server.stats_line() + (dns ? " " + dns->stats_line() : std::string()); });
  io.run();
  return 0;
}
