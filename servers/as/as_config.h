// ntm-as configuration: command-line flags and the same keys in a config file
// (servers/common/daemon.h); the command line wins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "as/account_store.h"
#include "crypto/aead.h"

namespace ntm::as {

struct AsConfig {
  std::vector<std::string> admin_listen;  ///< "ip:port" UDP endpoints of the admin channel
  std::string state_dir;                  ///< holds as.key
  std::string database;                   ///< SQLite file (default <state-dir>/accounts.sqlite3)
  /// `postgres = CONNINFO`: libpq connection string of a PostgreSQL database shared by several
  /// AS processes (as/postgres_store.h); when set the AS uses it and not `database`, which
  /// stays empty. Setting both is a config error (exit code 2).
  std::string postgres;
  std::vector<crypto::Key> admin_keys;  ///< static public keys allowed to administer
  std::vector<crypto::Key> dc_keys;     ///< static public keys of DCs that relay node logins
  int64_t node_release_after = 30 * 24 * 3600;  ///< seconds a node counts after its last login
  unsigned hash_threads = 2;  ///< worker threads for Argon2id (login, account add, passwd)
  uint32_t default_node_limit = 5;
  PasswordCost password_cost;  ///< Argon2id cost of new password hashes
  double admin_handshake_rate = 5, admin_handshake_burst = 20;  ///< per source address
  size_t max_admin_sessions = 256;
  std::string log_level = "info";
  std::string port_file;
  std::string config_file;  ///< re-read on SIGHUP for admin-key and dc-key
  bool print_public_key = false;
  /// `--print-signing-key`: print the Ed25519 key that verifies the DC certificates this AS
  /// signs (as-sign.key in state_dir) and exit.
  bool print_signing_key = false;
  /// `--sign-dc ZONE --dc-public-key KEY [--cert-days N]`: print a DC certificate
  /// (docs/protocol.md §15) as one base64 line and exit. Checked by parse_config: sign_dc is a
  /// valid zone (a trailing dot dropped), dc_public_key a base64 X25519 key, 1 <= cert_days <=
  /// 3650.
  std::string sign_dc;
  std::optional<crypto::Key> dc_public_key;
  unsigned cert_days = 365;
};

/// Parses argv (and --config FILE). Returns nullopt after printing help or an error to
/// stderr; `exit_code` tells main() what to return.
std::optional<AsConfig> parse_config(int argc, char** argv, int& exit_code);

}  // namespace ntm::as
