// ntm-ns configuration: command-line flags and the same keys in a config file
// (Boost.Program_options INI syntax, "key = value"); the command line wins. docs/admin.md
// describes every key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crypto/aead.h"

namespace ntm::ns {

struct NsConfig {
  /// TCP endpoints nodes connect to ("ip:port"; default 0.0.0.0:7400 and [::]:7400).
  std::vector<std::string> node_listen;
  /// UDP endpoints of the DC channel (default 127.0.0.1:7401).
  std::vector<std::string> dc_listen;
  std::string state_dir = "/var/lib/ntm-ns";  ///< holds ns.key
  std::vector<crypto::Key> dc_keys;           ///< DCs that may ask for notifications
  /// Node connections held at most (authenticated or not); a connection beyond is closed at
  /// once (counted refused_limit).
  size_t max_connections = 100000;
  /// A node connection with no frame for this long is closed: 3 of the nodes' default ping
  /// intervals (NTM_NS_PING_MS, 600 s).
  unsigned idle_timeout_s = 1800;
  /// A connection that has not completed its handshake and its first ping this long after it
  /// was accepted is closed.
  unsigned handshake_timeout_s = 10;
  /// New node connections per second per source (IPv4 address or IPv6 /64), and the burst.
  double handshake_rate = 20, handshake_burst = 40;
  /// DC channel: handshakes per second per source, sessions held at most.
  double dc_handshake_rate = 20, dc_handshake_burst = 40;
  size_t max_dc_sessions = 1024;
  /// SO_REUSEPORT on the node listeners: several ntm-ns processes share one port.
  bool reuse_port = false;
  unsigned stats_interval_s = 0;  ///< a stats line in the log this often (0: only on SIGHUP)
  std::string log_level = "info";
  std::string port_file;  ///< node ports, then DC ports, one per line
  std::string config_file;
  bool print_public_key = false;
};

/// Parses argv (and --config FILE). Returns nullopt after printing help or an error to stderr;
/// `exit_code` tells main() what to return.
std::optional<NsConfig> parse_config(int argc, char** argv, int& exit_code);

}  // namespace ntm::ns
