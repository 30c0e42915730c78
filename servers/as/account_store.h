// The Account Server's accounts behind a storage interface (SQLite here; PostgreSQL, shared by
// several AS processes, in as/postgres_store.h), and the password hashing they use.
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

/// A node identity that logged in under an account.
struct NodeRecord {
  std::string node;         ///< the node's static X25519 public key, base64 (44 characters)
  int64_t first_login = 0;  ///< Unix seconds
  int64_t last_login = 0;   ///< Unix seconds
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;
  enum class Result { kOk, kExists, kNotFound, kError, kLimitReached };
  virtual Result add(const Account& a) = 0;
  /// Removes the account and every node attached to it.
  virtual Result remove(const std::string& name) = 0;
  virtual Result set_password_hash(const std::string& name, const std::string& hash) = 0;
  /// The account named `name`; nullopt when there is none or the store failed, which
  /// `*status` (when given) tells apart: kOk, kNotFound or kError. A login must not answer
  /// "wrong password" because the database was down.
  virtual std::optional<Account> find(const std::string& name, Result* status = nullptr) = 0;
  /// Accounts in name order, starting after `after` (empty: from the first), at most `limit`.
  virtual std::vector<Account> list(const std::string& after, size_t limit) = 0;

  struct Attach {
    Result result = Result::kError;  ///< kOk, kNotFound (no account), kLimitReached, kError
    uint32_t node_limit = 0;         ///< the account's limit (kOk, kLimitReached)
    uint32_t counted = 0;            ///< nodes counted against it, `node` included on kOk
  };
  /// Attaches `node` (base64 identity) to `account` at `now` (Unix seconds), atomically (one
  /// transaction). A node counts against the limit while its last login is at most
  /// `release_after` seconds old. Already attached and counted: last login = now, kOk.
  /// Otherwise, with `node limit` other nodes counted: kLimitReached and nothing changes;
  /// else the node is attached (again: its first login is kept) with last login = now.
  /// The account's nodes no longer counted are forgotten here (the table stays bounded).
  /// A node may be attached to several accounts.
  virtual Attach attach_node(const std::string& account, const std::string& node, int64_t now,
                             int64_t release_after) = 0;
  /// The account's nodes in identity order after `after` ("" = from the first), at most
  /// `limit`; nullopt when the account does not exist (or the store failed).
  virtual std::optional<std::vector<NodeRecord>> list_nodes(const std::string& account,
                                                            const std::string& after,
                                                            size_t limit) = 0;
  /// Detaches `node` from `account` (it no longer counts): kOk, or kNotFound when either is
  /// unknown.
  virtual Result release_node(const std::string& account, const std::string& node) = 0;
};

/// SQLite in WAL mode: every write is committed before the call returns, so an AS restart
/// (or crash) keeps every account it confirmed. A file of the first format (accounts only)
/// gains the nodes table when opened. nullptr and `error` set when the file cannot be opened
/// or created. Not thread-safe: one thread uses a store (ntm-as: its io thread).
std::unique_ptr<AccountStore> open_sqlite_store(const std::string& path, std::string& error);

}  // namespace ntm::as
