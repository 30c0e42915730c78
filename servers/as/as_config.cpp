#include "as/as_config.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "common/daemon.h"
#include "common/server_cert.h"
#include "crypto/static_key.h"

namespace po = boost::program_options;

namespace ntm::as {

std::optional<AsConfig> parse_config(int argc, char** argv, int& exit_code) {
  AsConfig c;
  std::vector<std::string> keys, dc_keys;
  unsigned pwhash_mem_mib = unsigned(c.password_cost.mem_bytes >> 20);
  po::options_description cli("Command line");
  std::string dc_public_key_text;
  cli.add_options()("print-public-key", po::bool_switch(&c.print_public_key),
                    "print the AS's static public key (base64; creates it if needed) and exit")(
      "print-signing-key", po::bool_switch(&c.print_signing_key),
      "print the AS's Ed25519 signing key (base64; creates as-sign.key if needed), which DCs "
      "list as trusted-as, and exit")(
      "sign-dc", po::value(&c.sign_dc),
      "sign the static key of the DC of zone ZONE (with --dc-public-key) and print its "
      "certificate, one base64 line for the DC's dc-cert file, then exit")(
      "dc-public-key", po::value(&dc_public_key_text),
      "the DC's static public key to sign (ntm-dc --print-public-key), base64")(
      "cert-days", po::value(&c.cert_days)->default_value(c.cert_days),
      "days the certificate is valid (1..3650; it starts 5 minutes before now)");
  po::options_description opts("Options (command line or config file)");
  opts.add_options()("admin-listen", po::value(&c.admin_listen)->composing(),
                     "UDP endpoint ip:port of the admin channel, repeatable (default "
                     "127.0.0.1:7300)")(
      "state-dir", po::value(&c.state_dir)->default_value("/var/lib/ntm-as"),
      "directory for the AS's key (as.key) and, by default, its database")(
      "database", po::value(&c.database),
      "SQLite file of the accounts (default "
      "<state-dir>/accounts.sqlite3)")(
      "postgres", po::value(&c.postgres),
      "the accounts in PostgreSQL instead: libpq connection string (\"host=H dbname=D "
      "user=U\" or postgresql://...), one database shared by several AS processes; not with "
      "database")("admin-key", po::value(&keys)->composing(),
                  "static public key (base64) of an administrator, repeatable; re-read on SIGHUP")(
      "dc-key", po::value(&dc_keys)->composing(),
      "static public key (base64) of a DC that may relay node logins, repeatable; re-read on "
      "SIGHUP")(
      "node-release-after", po::value(&c.node_release_after)->default_value(c.node_release_after),
      "seconds after its last login that a node stops counting against its account's node "
      "limit")("hash-threads", po::value(&c.hash_threads)->default_value(c.hash_threads),
               "worker threads hashing passwords (Argon2id), 1..64")(
      "default-node-limit", po::value(&c.default_node_limit)->default_value(c.default_node_limit),
      "nodes an account may register at once, unless given when it is created")(
      "pwhash-ops", po::value(&c.password_cost.ops)->default_value(c.password_cost.ops),
      "Argon2id passes over memory for new password hashes (1..10)")(
      "pwhash-mem-mib", po::value(&pwhash_mem_mib)->default_value(pwhash_mem_mib),
      "Argon2id memory in MiB for new password hashes (8..1024)")(
      "admin-handshake-rate",
      po::value(&c.admin_handshake_rate)->default_value(c.admin_handshake_rate),
      "admin handshakes per second per source address")(
      "admin-handshake-burst",
      po::value(&c.admin_handshake_burst)->default_value(c.admin_handshake_burst),
      "burst of admin handshakes per source address")(
      "max-admin-sessions", po::value(&c.max_admin_sessions)->default_value(c.max_admin_sessions),
      "admin sessions held at most");
  server::add_daemon_options(opts, c.log_level, c.port_file);
  po::variables_map vm;
  if (!server::parse_options("ntm-as", "ntm-as --config FILE [options]", argc, argv, cli, opts, vm,
                             exit_code))
    return std::nullopt;
  if (vm.count("config")) c.config_file = vm["config"].as<std::string>();
  if (vm.count("sign-dc") || vm.count("dc-public-key")) {
    while (!c.sign_dc.empty() && c.sign_dc.back() == '.') c.sign_dc.pop_back();
    if (!server::valid_cert_name(c.sign_dc)) {
      std::cerr << "ntm-as: --sign-dc '" << c.sign_dc
                << "' is not a zone name: lower case labels of a-z, 0-9 and '-' (1..63 "
                   "characters each, not starting or ending with '-'), dot-separated, at most "
                   "253 characters\n";
      exit_code = 2;
      return std::nullopt;
    }
    c.dc_public_key = crypto::key_from_base64(dc_public_key_text);
    if (!c.dc_public_key) {
      std::cerr << "ntm-as: --sign-dc needs --dc-public-key, the DC's static public key as 44 "
                   "characters of base64 (ntm-dc --print-public-key)"
                << (dc_public_key_text.empty() ? "" : "; got '" + dc_public_key_text + "'") << "\n";
      exit_code = 2;
      return std::nullopt;
    }
    if (c.cert_days < 1 || c.cert_days > 3650) {
      std::cerr << "ntm-as: --cert-days must be 1..3650\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (c.admin_listen.empty()) c.admin_listen = {"127.0.0.1:7300"};
  if (!c.postgres.empty() && vm.count("database")) {
    std::cerr << "ntm-as: database (an SQLite file) and postgres (a PostgreSQL database) are "
                 "both set; the accounts live in one of them: remove one\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (c.database.empty() && c.postgres.empty()) c.database = c.state_dir + "/accounts.sqlite3";
  for (auto* list : {&keys, &dc_keys})
    for (auto& k : *list) {
      auto key = crypto::key_from_base64(k);
      const char* what = list == &keys ? "admin-key" : "dc-key";
      if (!key) {
        std::cerr << "ntm-as: " << what << " '" << k << "' is not a base64 public key\n";
        exit_code = 2;
        return std::nullopt;
      }
      (list == &keys ? c.admin_keys : c.dc_keys).push_back(*key);
    }
  if (c.node_release_after < 1 || c.hash_threads < 1 || c.hash_threads > 64) {
    std::cerr << "ntm-as: node-release-after must be at least 1 and hash-threads 1..64\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (c.password_cost.ops < 1 || c.password_cost.ops > 10 || pwhash_mem_mib < 8 ||
      pwhash_mem_mib > 1024) {
    std::cerr << "ntm-as: pwhash-ops must be 1..10 and pwhash-mem-mib 8..1024\n";
    exit_code = 2;
    return std::nullopt;
  }
  c.password_cost.mem_bytes = size_t(pwhash_mem_mib) << 20;
  if (c.admin_handshake_rate <= 0 || c.admin_handshake_burst < 1 || c.max_admin_sessions < 1) {
    std::cerr << "ntm-as: rates must be positive, bursts and max-admin-sessions at least 1\n";
    exit_code = 2;
    return std::nullopt;
  }
  return c;
}

}  // namespace ntm::as
