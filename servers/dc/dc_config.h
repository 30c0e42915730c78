// ntm-dc configuration: command-line flags and the same keys in a config file
// (Boost.Program_options INI syntax, "key = value"); the command line wins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/cidr.h"
#include "common/server_cert.h"
#include "crypto/aead.h"
#include "dc/dns_server.h"
#include "dc/dns_zone.h"
#include "proto/endpoint.h"

namespace ntm::dc {

struct DcConfig {
  std::vector<std::string> listen;  ///< "ip:port" control endpoints (UDP)
  std::string domain;               ///< DC's DNS domain, e.g. "dc1.ntm.test"
  std::optional<server::Cidr> vip4_pool;
  std::optional<server::Cidr> vip6_pool;
  std::string state_dir;  ///< holds dc.key
  unsigned registration_lifetime_s = 60;
  /// vIP bindings of identities unseen (no registration, no keep-alive) this long are removed.
  unsigned vip_reclaim_after_s = 30 * 24 * 3600;
  /// DoS limits (docs/protocol.md §3.8). Above this many handshake initiations per second the
  /// DC is "under load": it demands a cookie (mac2) and rate-limits per source.
  unsigned handshake_load_threshold = 100;
  double handshake_rate = 20, handshake_burst = 40;   ///< per source address, under load
  double request_rate = 50, request_burst = 100;      ///< control requests per node session
  double direction_rate = 20, direction_burst = 100;  ///< direction requests per node session
  /// Control sessions held at most; beyond it only already registered identities may
  /// handshake (they replace their own session).
  size_t max_sessions = 100000;
  /// Relay servers (docs/admin.md): each "ip:port[,ip:port]" (one endpoint per family), and
  /// the relay key this DC shares with them.
  std::vector<std::string> relays;
  std::vector<std::vector<proto::Endpoint>> relay_endpoints;  ///< parsed from `relays`
  std::string relay_key_file;
  std::optional<crypto::Key> relay_key;      ///< loaded from relay_key_file
  unsigned relay_ticket_lifetime_s = 86400;  ///< how long a relay ticket is valid
  unsigned relay_check_interval_ms = 1000;   ///< status requests to every RS endpoint
  /// The Account Server (docs/admin.md): with `as` set, only nodes whose account the AS accepts
  /// may register (docs/protocol.md §4.4.1, §14 op 0x10); without it registration is open.
  std::optional<proto::Endpoint> as;
  std::optional<crypto::Key> as_key;  ///< the AS's static public key (pinned)
  unsigned as_timeout_ms = 3000;      ///< a login the AS did not answer this long fails
  /// A node identity the AS accepted registers again without asking the AS for this long
  /// (same account and password): re-registrations after a handshake cost no AS round trip.
  unsigned login_cache_s = 3600;
  /// The Notification Server (docs/protocol.md §17, docs/admin.md): `ns` is the TCP address
  /// nodes connect to (given to nodes that ask for it at registration), `ns_dc` the DC
  /// channel (UDP) of each NS process (1..16, distinct: several processes may share `ns` with
  /// SO_REUSEPORT; every notification goes to all of them), `ns_key` their static public key
  /// (they share ns.key). All three or none; none: the DC behaves as without an NS.
  std::optional<proto::Endpoint> ns;
  std::vector<proto::Endpoint> ns_dc;
  std::optional<crypto::Key> ns_key;
  /// Registration lifetime granted to nodes registered with the NS flag while an NS is set.
  unsigned ns_registration_lifetime_s = 3600;
  unsigned ns_timeout_ms = 2000;  ///< a notification the NS did not answer this long fails
  /// Multi-domain NTM (issue 11; docs/admin.md "Signing a DC's key"). This DC's certificate:
  /// its static key signed by the AS (docs/protocol.md §15), loaded from `dc-cert FILE`
  /// (server::load_cert_file); main() verifies it against trusted_as at start.
  std::optional<proto::Bytes> dc_cert;
  std::vector<server::VerifyKey> trusted_as;  ///< `trusted-as KEY` (repeatable): AS signing keys
  /// `resolver IP:PORT` (repeatable; [v6]:port): DNS servers c-ares asks for NS records.
  std::vector<proto::Endpoint> resolvers;
  /// `peer-dc-port`: UDP control port of other DCs at the addresses their NS records give.
  uint16_t peer_dc_port = 7100;
  unsigned peer_timeout_ms = 3000;  ///< a DC⇄DC exchange unanswered this long fails
  /// `peer-session-lifetime`: DC⇄DC shared keys are renewed after this many seconds.
  unsigned peer_session_lifetime_s = 600;
  std::string log_level = "info";
  std::string port_file;  ///< when set, the bound ports are written here
  bool print_public_key = false;
  /// The zone's authoritative DNS server (dns_zone.h): off while dns.port is 0. dns_zone.zone
  /// is `domain`; the other fields come from the dns-* keys.
  DnsListenConfig dns;
  DnsZoneConfig dns_zone;
};

/// Parses argv (and --config FILE). Returns nullopt after printing help or an error to
/// stderr; `exit_code` tells main() what to return.
std::optional<DcConfig> parse_config(int argc, char** argv, int& exit_code);

}  // namespace ntm::dc
