// The Account Server's accounts behind a storage interface (SQLite here; a shared database
// later), and the password hashing they use.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ntm::as {

struct Account {
  std::string name;
  std::string password_hash;  ///< crypto_pwhash_str output (Argon2id, parameters inside)
  uint32_t node_limit = 0;    ///< nodes that may be registered under the account at once
  int64_t created = 0;        ///< Unix seconds
};

/// Account names: 1..64 of [a-z0-9._-], starting with a letter or digit.
bool valid_account_name(const std::string& name);
/// Passwords: 8..256 bytes.
bool valid_password(const std::string& password);

/// Argon2id (libsodium crypto_pwhash_str). Default cost: 2 passes over 64 MiB
/// (crypto_pwhash_OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE), a few hundred milliseconds of
/// one core on the machines at hand; ntm-as's pwhash-ops and pwhash-mem-mib change it. The
/// cost is stored in each hash, so a change applies to new passwords only.
struct PasswordCost {
  unsigned long long ops = 2;
  size_t mem_bytes = 64u << 20;
};
/// The encoded hash (algorithm, parameters, salt, hash), or nullopt when out of memory.
std::optional<std::string> hash_password(const std::string& password, PasswordCost cost = {});
/// True when `password` matches `hash` (constant time in the password).
bool verify_password(const std::string& hash, const std::string& password);

class AccountStore {
 public:
  virtual ~AccountStore() = default;
  enum class Result { kOk, kExists, kNotFound, kError };
  virtual Result add(const Account& a) = 0;
  virtual Result remove(const std::string& name) = 0;
  virtual Result set_password_hash(const std::string& name, const std::string& hash) = 0;
  virtual std::optional<Account> find(const std::string& name) = 0;
  /// Accounts in name order, starting after `after` (empty: from the first), at most `limit`.
  virtual std::vector<Account> list(const std::string& after, size_t limit) = 0;
};

/// SQLite in WAL mode: every write is committed before the call returns, so an AS restart
/// (or crash) keeps every account it confirmed. nullptr and `error` set when the file cannot
/// be opened or created.
std::unique_ptr<AccountStore> open_sqlite_store(const std::string& path, std::string& error);

}  // namespace ntm::as
