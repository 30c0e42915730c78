#include "dc/dc_config.h"

#include "common/daemon.h"
#include "common/secret_file.h"
#include "common/server_cert.h"
#include "crypto/static_key.h"
#include "dc/ns_fanout.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iostream>

namespace po = boost::program_options;

namespace ntm::dc {

std::optional<DcConfig> parse_config(int argc, char** argv, int& exit_code) {
  DcConfig c;
  std::string vip4, vip6;
  std::vector<std::string> dns_dc_addresses;
  std::string as_text, as_key_text, ns_text, ns_key_text;
  std::vector<std::string> ns_dc_texts;
  std::string dc_cert_file;
  std::vector<std::string> trusted_as_text, resolver_text;
  unsigned dns_tcp_idle_s = 10;
  po::options_description cli("Command line");
  cli.add_options()(
      "print-public-key", po::bool_switch(&c.print_public_key),
      "print the DC's static public key (base64; creates the key if needed) and exit");
  po::options_description opts("Options (command line or config file)");
  opts.add_options()("listen", po::value(&c.listen)->composing(),
                     "UDP control endpoint ip:port, repeatable (default 0.0.0.0:7100 and "
                     "[::]:7100)")("domain", po::value(&c.domain)->default_value("dc.ntm.test"),
                                   "DNS domain of this DC; nodes get <name>.<domain>")(
      "vip4-pool", po::value(&vip4)->default_value("100.64.0.0/16"), "IPv4 vIP pool (CIDR)")(
      "vip6-pool", po::value(&vip6)->default_value("fd00:6e74:6d::/64"),
      "IPv6 vIP pool (CIDR); 'none' disables")(
      "state-dir", po::value(&c.state_dir)->default_value("/var/lib/ntm-dc"),
      "directory for the DC's key")("registration-lifetime",
                                    po::value(&c.registration_lifetime_s)->default_value(60),
                                    "seconds a registration lives without a keep-alive")(
      "vip-reclaim-after", po::value(&c.vip_reclaim_after_s)->default_value(c.vip_reclaim_after_s),
      "seconds after which the vIP binding of an identity not seen since is removed")(
      "handshake-load-threshold",
      po::value(&c.handshake_load_threshold)->default_value(c.handshake_load_threshold),
      "handshake initiations per second above which cookies are demanded")(
      "handshake-rate", po::value(&c.handshake_rate)->default_value(c.handshake_rate),
      "handshakes per second per source address while under load")(
      "handshake-burst", po::value(&c.handshake_burst)->default_value(c.handshake_burst),
      "burst of handshakes per source address while under load")(
      "request-rate", po::value(&c.request_rate)->default_value(c.request_rate),
      "control requests per second per node")(
      "request-burst", po::value(&c.request_burst)->default_value(c.request_burst),
      "burst of control requests per node")(
      "direction-rate", po::value(&c.direction_rate)->default_value(c.direction_rate),
      "direction requests per second per node")(
      "direction-burst", po::value(&c.direction_burst)->default_value(c.direction_burst),
      "burst of direction requests per node")(
      "max-sessions", po::value(&c.max_sessions)->default_value(c.max_sessions),
      "control sessions held at most")(
      "relay", po::value(&c.relays)->composing(),
      "a relay server, ip:port[,ip:port] (one endpoint per family), repeatable")(
      "relay-key-file", po::value(&c.relay_key_file),
      "the relay key shared with the relay servers (ntm-rs --generate-key FILE)")(
      "relay-ticket-lifetime",
      po::value(&c.relay_ticket_lifetime_s)->default_value(c.relay_ticket_lifetime_s),
      "seconds a relay ticket is valid")(
      "relay-check-interval",
      po::value(&c.relay_check_interval_ms)->default_value(c.relay_check_interval_ms),
      "milliseconds between status requests to each relay server")(
      "as", po::value(&as_text),
      "the Account Server, ip:port: only nodes with an account it accepts may register "
      "(default: open registration)")("as-key", po::value(&as_key_text),
                                      "the Account Server's public key, base64")(
      "as-timeout", po::value(&c.as_timeout_ms)->default_value(c.as_timeout_ms),
      "milliseconds to wait for the Account Server's answer to a login")(
      "login-cache", po::value(&c.login_cache_s)->default_value(c.login_cache_s),
      "seconds a node the Account Server accepted registers again without asking it")(
      "ns", po::value(&ns_text),
      "the Notification Server's node address, ip:port (TCP), given to nodes that ask for "
      "it (default: no NS)")("ns-dc", po::value(&ns_dc_texts)->composing(),
                             "the DC channel (dc-listen) of a Notification Server process, "
                             "ip:port (UDP); repeatable, one per process, 16 at most")(
      "ns-key", po::value(&ns_key_text),
      "the Notification Server's public key, base64 (ntm-ns --print-public-key)")(
      "ns-registration-lifetime",
      po::value(&c.ns_registration_lifetime_s)->default_value(c.ns_registration_lifetime_s),
      "registration lifetime in seconds for nodes that use the NS")(
      "ns-timeout", po::value(&c.ns_timeout_ms)->default_value(c.ns_timeout_ms),
      "milliseconds to wait for the NS's answer to a notification");
  server::add_daemon_options(opts, c.log_level, c.port_file);
  po::options_description peers(
      "Other domains' DCs (command line or config file; docs/admin.md \"Signing a DC's key\")");
  peers.add_options()("dc-cert", po::value(&dc_cert_file),
                      "this DC's certificate: one base64 line from ntm-as --sign-dc (its zone "
                      "must be domain and its key this DC's); needs trusted-as")(
      "trusted-as", po::value(&trusted_as_text)->composing(),
      "an Account Server's signing key (ntm-as --print-signing-key, base64), repeatable: "
      "certificates of other DCs must be signed by one of them")(
      "resolver", po::value(&resolver_text)->composing(),
      "DNS server ip:port ([v6]:port) asked for the NS records of other zones, repeatable")(
      "peer-dc-port", po::value(&c.peer_dc_port)->default_value(c.peer_dc_port),
      "UDP control port of other DCs, at the addresses their NS records give")(
      "peer-timeout-ms", po::value(&c.peer_timeout_ms)->default_value(c.peer_timeout_ms),
      "milliseconds after which an unanswered DC-to-DC exchange fails")(
      "peer-session-lifetime",
      po::value(&c.peer_session_lifetime_s)->default_value(c.peer_session_lifetime_s),
      "seconds after which the keys shared with another DC are renewed");
  opts.add(peers);
  po::options_description dns("The zone's authoritative DNS server (command line or config file)");
  dns.add_options()("dns-port", po::value(&c.dns.port)->default_value(0),
                    "UDP and TCP port of the DNS server; 0 = no DNS server")(
      "dns-listen", po::value(&c.dns.addresses)->composing(),
      "IP address the DNS server listens on, repeatable (default 0.0.0.0 and ::)")(
      "dns-ns-name", po::value(&c.dns_zone.ns_name),
      "the zone's name server, as in its NS record (default ns.<domain>)")(
      "dns-address", po::value(&dns_dc_addresses)->composing(),
      "the DC's own IP address, repeatable: A/AAAA of the zone apex and of dns-ns-name")(
      "dns-soa-rname", po::value(&c.dns_zone.soa_rname),
      "SOA RNAME, the operator's mailbox as a name (default hostmaster.<domain>)")(
      "dns-ttl", po::value(&c.dns_zone.zone_ttl)->default_value(c.dns_zone.zone_ttl),
      "TTL (s) of SOA, NS and the DC's addresses")(
      "dns-node-ttl", po::value(&c.dns_zone.node_ttl)->default_value(c.dns_zone.node_ttl),
      "TTL (s) of a node's A/AAAA")(
      "dns-negative-ttl",
      po::value(&c.dns_zone.negative_ttl)->default_value(c.dns_zone.negative_ttl),
      "TTL (s) of a negative answer (SOA MINIMUM, RFC 2308)")(
      "dns-max-tcp", po::value(&c.dns.max_tcp)->default_value(c.dns.max_tcp),
      "DNS TCP connections held at most")(
      "dns-tcp-idle", po::value(&dns_tcp_idle_s)->default_value(dns_tcp_idle_s),
      "seconds a DNS TCP connection may go without completing a query");
  opts.add(dns);
  po::variables_map vm;
  if (!server::parse_options("ntm-dc", "ntm-dc --config FILE [options]", argc, argv, cli, opts, vm,
                             exit_code))
    return std::nullopt;
  if (c.listen.empty()) c.listen = {"0.0.0.0:7100", "[::]:7100"};
  if (vip4 != "none") {
    c.vip4_pool = server::Cidr::parse(vip4);
    if (!c.vip4_pool || c.vip4_pool->family != AF_INET || c.vip4_pool->host_bits() < 2) {
      std::cerr << "ntm-dc: vip4-pool '" << vip4 << "' is not an IPv4 CIDR of /30 or wider\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (vip6 != "none") {
    c.vip6_pool = server::Cidr::parse(vip6);
    if (!c.vip6_pool || c.vip6_pool->family != AF_INET6 || c.vip6_pool->host_bits() < 2) {
      std::cerr << "ntm-dc: vip6-pool '" << vip6 << "' is not an IPv6 CIDR of /126 or wider\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (!c.vip4_pool && !c.vip6_pool) {
    std::cerr << "ntm-dc: at least one of vip4-pool and vip6-pool is needed\n";
    exit_code = 2;
    return std::nullopt;
  }
  while (!c.domain.empty() && c.domain.back() == '.') c.domain.pop_back();
  if (c.domain.empty() || c.domain.size() > 180) {
    std::cerr << "ntm-dc: domain must be 1..180 characters\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (!ns_text.empty() || !ns_dc_texts.empty() || !ns_key_text.empty()) {
    c.ns = proto::Endpoint::parse(ns_text);
    c.ns_key = crypto::key_from_base64(ns_key_text);
    if (!c.ns || c.ns->port() == 0 || ns_dc_texts.empty() || !c.ns_key) {
      std::cerr << "ntm-dc: a Notification Server needs ns (ip:port), ns-dc (ip:port, one per "
                   "NS process) and ns-key (base64)\n";
      exit_code = 2;
      return std::nullopt;
    }
    if (ns_dc_texts.size() > NsFanout::kMaxProcesses) {
      std::cerr << "ntm-dc: ns-dc is given " << ns_dc_texts.size() << " times; at most "
                << NsFanout::kMaxProcesses << " NS processes\n";
      exit_code = 2;
      return std::nullopt;
    }
    for (auto& text : ns_dc_texts) {
      auto ep = proto::Endpoint::parse(text);
      if (!ep || ep->port() == 0) {
        std::cerr << "ntm-dc: ns-dc '" << text << "' is not ip:port\n";
        exit_code = 2;
        return std::nullopt;
      }
      if (std::find(c.ns_dc.begin(), c.ns_dc.end(), *ep) != c.ns_dc.end()) {
        std::cerr << "ntm-dc: ns-dc " << ep->to_string()
                  << " is given twice (each NS process has its own dc-listen)\n";
        exit_code = 2;
        return std::nullopt;
      }
      c.ns_dc.push_back(*ep);
    }
    if (c.ns_registration_lifetime_s < 30 || c.ns_timeout_ms < 100) {
      std::cerr << "ntm-dc: ns-registration-lifetime must be at least 30 s and ns-timeout at "
                   "least 100 ms\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (c.dns.port != 0) {
    auto fail = [&](const std::string& what) {
      std::cerr << "ntm-dc: " << what << "\n";
      exit_code = 2;
      return std::nullopt;
    };
    if (c.dns.addresses.empty()) c.dns.addresses = {"0.0.0.0", "::"};
    c.dns_zone.zone = c.domain;
    if (c.dns_zone.ns_name.empty()) c.dns_zone.ns_name = "ns." + c.domain;
    if (c.dns_zone.soa_rname.empty()) c.dns_zone.soa_rname = "hostmaster." + c.domain;
    for (auto* name : {&c.dns_zone.ns_name, &c.dns_zone.soa_rname}) {
      while (!name->empty() && name->back() == '.') name->pop_back();
      if (!valid_dns_name(*name)) return fail("'" + *name + "' is not a domain name");
    }
    if (!valid_dns_name(c.domain)) return fail("domain '" + c.domain + "' is not a domain name");
    for (auto& text : dns_dc_addresses) {
      std::array<uint8_t, 16> a{};
      if (inet_pton(AF_INET, text.c_str(), a.data()) == 1)
        c.dns_zone.dc_v4.push_back({a[0], a[1], a[2], a[3]});
      else if (inet_pton(AF_INET6, text.c_str(), a.data()) == 1)
        c.dns_zone.dc_v6.push_back(a);
      else
        return fail("dns-address '" + text + "' is not an IP address");
    }
    // A name-server address set of any size fits a TCP answer; over UDP the answer is
    // truncated (TC) beyond 512 bytes or the client's EDNS size.
    if (c.dns_zone.dc_v4.size() + c.dns_zone.dc_v6.size() > 32)
      return fail("at most 32 dns-address values");
    if (c.dns.max_tcp < 1 || dns_tcp_idle_s < 1)
      return fail("dns-max-tcp and dns-tcp-idle must be at least 1");
    c.dns.tcp_idle = std::chrono::seconds(dns_tcp_idle_s);
    // The zone changes with every registration; the serial says which run of the DC answers.
    c.dns_zone.serial = uint32_t(std::time(nullptr));
  }
  if (c.handshake_rate <= 0 || c.handshake_burst < 1 || c.request_rate <= 0 ||
      c.request_burst < 1 || c.direction_rate <= 0 || c.direction_burst < 1 || c.max_sessions < 1) {
    std::cerr << "ntm-dc: rates must be positive, bursts and max-sessions at least 1\n";
    exit_code = 2;
    return std::nullopt;
  }
  for (auto& text : c.relays) {
    std::vector<proto::Endpoint> eps;
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      std::string part =
          text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto ep = proto::Endpoint::parse(part);
      if (!ep || ep->port() == 0) {
        std::cerr << "ntm-dc: relay '" << text << "': '" << part << "' is not ip:port\n";
        exit_code = 2;
        return std::nullopt;
      }
      eps.push_back(*ep);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    c.relay_endpoints.push_back(std::move(eps));
  }
  if (!c.relays.empty() && c.relay_key_file.empty()) {
    std::cerr << "ntm-dc: relay servers need relay-key-file\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (!c.relay_key_file.empty()) {
    std::string error;
    c.relay_key = server::load_secret_file(c.relay_key_file, error);
    if (!c.relay_key) {
      std::cerr << "ntm-dc: " << error << "\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (c.relay_ticket_lifetime_s < 60 || c.relay_check_interval_ms < 50) {
    std::cerr << "ntm-dc: relay-ticket-lifetime must be at least 60 s, relay-check-interval "
                 "at least 50 ms\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (!as_text.empty() || !as_key_text.empty()) {
    c.as = proto::Endpoint::parse(as_text);
    c.as_key = crypto::key_from_base64(as_key_text);
    if (!c.as || c.as->port() == 0 || !c.as_key) {
      std::cerr << "ntm-dc: an Account Server needs both as (ip:port) and as-key (base64)\n";
      exit_code = 2;
      return std::nullopt;
    }
    if (c.as_timeout_ms < 100) {
      std::cerr << "ntm-dc: as-timeout must be at least 100 ms\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  auto fail = [&](const std::string& what) {
    std::cerr << "ntm-dc: " << what << "\n";
    exit_code = 2;
    return std::nullopt;
  };
  if (!dc_cert_file.empty()) {
    std::string error;
    c.dc_cert = server::load_cert_file(dc_cert_file, error);
    if (!c.dc_cert) return fail("dc-cert: " + error);
  }
  for (auto& text : trusted_as_text) {
    auto k = server::verify_key_from_base64(text);
    if (!k) return fail("trusted-as '" + text + "' is not a base64 Ed25519 public key");
    c.trusted_as.push_back(*k);
  }
  if (c.dc_cert && c.trusted_as.empty())
    return fail("dc-cert needs at least one trusted-as key (ntm-as --print-signing-key)");
  for (auto& text : resolver_text) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep || ep->port() == 0) return fail("resolver '" + text + "' is not ip:port");
    c.resolvers.push_back(*ep);
  }
  if (c.peer_dc_port == 0) return fail("peer-dc-port must not be 0");
  if (c.peer_timeout_ms < 100) return fail("peer-timeout-ms must be at least 100");
  if (c.peer_session_lifetime_s < 10) return fail("peer-session-lifetime must be at least 10 s");
  if (c.registration_lifetime_s < 3) {
    std::cerr << "ntm-dc: registration-lifetime must be at least 3 seconds\n";
    exit_code = 2;
    return std::nullopt;
  }
  return c;
}

}  // namespace ntm::dc
