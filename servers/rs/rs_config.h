// ntm-rs configuration: command-line flags and the same keys in a config file
// (Boost.Program_options INI syntax, "key = value"); the command line wins. docs/admin.md
// describes every key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crypto/aead.h"

namespace ntm::rs {

struct RsConfig {
  std::vector<std::string> listen;  ///< "ip:port" UDP endpoints (default 0.0.0.0:7300, [::]:7300)
  /// Relay keys shared with DCs (each a file holding 32 bytes in base64). A ticket, a bind and a
  /// status request are accepted under any of them.
  std::vector<std::string> key_files;
  std::vector<crypto::Key> keys;  ///< loaded from key_files
  /// Quotas per node (one side of a session) and for the whole server, per second; the burst
  /// of each token bucket is a quarter of a second's worth (at least 64 packets / 64 KiB).
  double node_pps = 50000, node_bytes = 50e6;
  double global_pps = 2e6, global_bytes = 2.5e9;
  size_t max_sessions = 100000;
  /// A session nobody bound or sent through for this long is forgotten (nodes re-bind at
  /// least every keep-alive interval, 15 s by default).
  unsigned session_idle_s = 120;
  std::string log_level = "info";
  std::string port_file;     ///< when set, the bound ports are written here
  std::string generate_key;  ///< --generate-key FILE: write a new relay key there and exit
};

/// Parses argv (and --config FILE), loads the keys. Returns nullopt after printing help or an
/// error to stderr; `exit_code` tells main() what to return.
std::optional<RsConfig> parse_config(int argc, char** argv, int& exit_code);

}  // namespace ntm::rs
