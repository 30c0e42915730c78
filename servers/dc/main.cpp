// ntm-dc: the Direction Coordinator daemon.
//   ntm-dc --config FILE            run
//   ntm-dc --config FILE --print-public-key   print the key node configs pin, and exit
#include <asio/io_context.hpp>
#include <ctime>
#include <iostream>

#include <spdlog/spdlog.h>
#include "common/daemon.h"
#include "common/server_cert.h"
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
  // A DC that other domains' DCs will not accept must not come up looking healthy: its
  // certificate has to be valid now and name this DC (docs/admin.md "Signing a DC's key").
  ntm::server::ServerCert cert;
  if (cfg->dc_cert) {
    auto err = ntm::server::verify_cert(*cfg->dc_cert, cfg->trusted_as,
                                        uint64_t(std::time(nullptr)), &cert);
    std::string why;
    if (err != ntm::server::CertError::kOk)
      why = ntm::server::to_string(err);
    else if (cert.role != ntm::server::CertRole::kDc)
      why = "it is not a DC certificate";
    else if (cert.name != cfg->domain)
      why = "it is for " + cert.name + ", this DC's domain is " + cfg->domain;
    else if (cert.static_key != key->public_key)
      why = "it certifies another key than this DC's (" +
            ntm::crypto::key_to_base64(key->public_key) + "): sign this one with ntm-as --sign-dc";
    if (!why.empty()) {
      std::cerr << "ntm-dc: dc-cert refused: " << why << "\n";
      return 2;
    }
  }
  if (!ntm::server::start_logging("ntm-dc", cfg->log_level)) return 2;
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
  // Before the port file says the daemon is up: from then on SIGTERM/SIGINT stop the DC, SIGHUP
  // logs its counters; both with the DNS server's.
  ntm::server::SignalHandler signals(
      io, [&] { return server.stats_line() + (dns ? " " + dns->stats_line() : std::string()); });
  std::vector<uint16_t> ports;
  for (auto& e : server.local_endpoints()) ports.push_back(e.port());
  ntm::server::write_port_file(cfg->port_file, ports);
  spdlog::info("DC for {} up, public key {}", cfg->domain,
               ntm::crypto::key_to_base64(key->public_key));
  if (cfg->dc_cert) {
    // Renewal is the operator's job (docs/admin.md): say when it is due.
    uint64_t now = uint64_t(std::time(nullptr));
    uint64_t days_left = (cert.not_after - now) / 86400;
    spdlog::info("certificate of {} signed by AS key {} valid until {} (Unix time, {} days)",
                 cert.name, ntm::server::verify_key_to_base64(cert.signer), cert.not_after,
                 days_left);
    if (days_left < 30)
      spdlog::warn("the certificate expires in {} days: renew it with ntm-as --sign-dc", days_left);
  }
  io.run();
  return 0;
}
