#include "as/account_store.h"

#include <sodium.h>
#include <sqlite3.h>

#include <ctime>

namespace ntm::as {

bool valid_account_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

bool valid_password(const std::string& password) {
  return password.size() >= 8 && password.size() <= 256;
}

std::optional<std::string> hash_password(const std::string& password, PasswordCost cost) {
  if (sodium_init() < 0) return std::nullopt;
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops, cost.mem_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return std::nullopt;
  return std::string(out);
}

bool verify_password(const std::string& hash, const std::string& password) {
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

namespace {

class SqliteStore : public AccountStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Result add(const Account& a) override {
    Stmt s(db_, "INSERT INTO accounts(name, hash, node_limit, created) VALUES(?, ?, ?, ?)");
    if (!s) return Result::kError;
    sqlite3_bind_text(s, 1, a.name.data(), int(a.name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, a.password_hash.data(), int(a.password_hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, a.node_limit);
    sqlite3_bind_int64(s, 4, a.created ? a.created : int64_t(std::time(nullptr)));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT) return Result::kExists;
    return rc == SQLITE_DONE ? Result::kOk : Result::kError;
  }
  Result remove(const std::string& name) override {
    Stmt s(db_, "DELETE FROM accounts WHERE name = ?");
    if (!s) return Result::kError;
    sqlite3_bind_text(s, 1, name.data(), int(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) return Result::kError;
    return sqlite3_changes(db_) ? Result::kOk : Result::kNotFound;
  }
  Result set_password_hash(const std::string& name, const std::string& hash) override {
    Stmt s(db_, "UPDATE accounts SET hash = ? WHERE name = ?");
    if (!s) return Result::kError;
    sqlite3_bind_text(s, 1, hash.data(), int(hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, name.data(), int(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) return Result::kError;
    return sqlite3_changes(db_) ? Result::kOk : Result::kNotFound;
  }
  std::optional<Account> find(const std::string& name) override {
    Stmt s(db_, "SELECT name, hash, node_limit, created FROM accounts WHERE name = ?");
    if (!s) return std::nullopt;
    sqlite3_bind_text(s, 1, name.data(), int(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) return std::nullopt;
    return row(s);
  }
  std::vector<Account> list(const std::string& after, size_t limit) override {
    std::vector<Account> out;
    Stmt s(db_,
           "SELECT name, hash, node_limit, created FROM accounts WHERE name > ? ORDER BY name "
           "LIMIT ?");
    if (!s) return out;
    sqlite3_bind_text(s, 1, after.data(), int(after.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, int64_t(limit));
    while (sqlite3_step(s) == SQLITE_ROW) out.push_back(row(s));
    return out;
  }

 private:
  struct Stmt {
    Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
    ~Stmt() { sqlite3_finalize(s); }
    explicit operator bool() const { return s != nullptr; }
    operator sqlite3_stmt*() const { return s; }
    sqlite3_stmt* s = nullptr;
  };
  static Account row(sqlite3_stmt* s) {
    Account a;
    auto text = [&](int col) {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
      return std::string(p ? p : "", size_t(sqlite3_column_bytes(s, col)));
    };
    a.name = text(0);
    a.password_hash = text(1);
    a.node_limit = uint32_t(sqlite3_column_int64(s, 2));
    a.created = sqlite3_column_int64(s, 3);
    return a;
  }
  sqlite3* db_;
};

}  // namespace

std::unique_ptr<AccountStore> open_sqlite_store(const std::string& path, std::string& error) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    error = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  char* msg = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS accounts(name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
      " node_limit INTEGER NOT NULL, created INTEGER NOT NULL);";
  if (sqlite3_exec(db, schema, nullptr, nullptr, &msg) != SQLITE_OK) {
    error = "cannot set up " + path + ": " + (msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return std::make_unique<SqliteStore>(db);
}

}  // namespace ntm::as
