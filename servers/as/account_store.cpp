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
    Transaction t(db_);
    if (!t) return Result::kError;
    Stmt nodes(db_, "DELETE FROM nodes WHERE account = ?");
    if (!nodes) return Result::kError;
    bind(nodes, 1, name);
    if (sqlite3_step(nodes) != SQLITE_DONE) return Result::kError;
    Stmt s(db_, "DELETE FROM accounts WHERE name = ?");
    if (!s) return Result::kError;
    bind(s, 1, name);
    if (sqlite3_step(s) != SQLITE_DONE) return Result::kError;
    if (!sqlite3_changes(db_)) return Result::kNotFound;  // rolls back (nothing to undo)
    return t.commit() ? Result::kOk : Result::kError;
  }
  Result set_password_hash(const std::string& name, const std::string& hash) override {
    Stmt s(db_, "UPDATE accounts SET hash = ? WHERE name = ?");
    if (!s) return Result::kError;
    sqlite3_bind_text(s, 1, hash.data(), int(hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, name.data(), int(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) return Result::kError;
    return sqlite3_changes(db_) ? Result::kOk : Result::kNotFound;
  }
  std::optional<Account> find(const std::string& name, Result* status = nullptr) override {
    Result ignored;
    Result& st = status ? *status : ignored;
    st = Result::kError;
    Stmt s(db_, "SELECT name, hash, node_limit, created FROM accounts WHERE name = ?");
    if (!s) return std::nullopt;
    sqlite3_bind_text(s, 1, name.data(), int(name.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) st = Result::kNotFound;
    if (rc != SQLITE_ROW) return std::nullopt;
    st = Result::kOk;
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

  Attach attach_node(const std::string& account, const std::string& node, int64_t now,
                     int64_t release_after) override {
    Attach out;
    Transaction t(db_);
    if (!t) return out;
    Stmt limit(db_, "SELECT node_limit FROM accounts WHERE name = ?");
    if (!limit) return out;
    bind(limit, 1, account);
    int rc = sqlite3_step(limit);
    if (rc == SQLITE_DONE) {
      out.result = Result::kNotFound;
      return out;
    }
    if (rc != SQLITE_ROW) return out;
    out.node_limit = uint32_t(sqlite3_column_int64(limit, 0));
    // Nodes not seen within the window no longer count: forget them.
    int64_t oldest = now - release_after;
    Stmt forget(db_, "DELETE FROM nodes WHERE account = ? AND last_login < ?");
    if (!forget) return out;
    bind(forget, 1, account);
    sqlite3_bind_int64(forget, 2, oldest);
    if (sqlite3_step(forget) != SQLITE_DONE) return out;
    Stmt count(db_, "SELECT COUNT(*), SUM(node = ?) FROM nodes WHERE account = ?");
    if (!count) return out;
    bind(count, 1, node);
    bind(count, 2, account);
    if (sqlite3_step(count) != SQLITE_ROW) return out;
    int64_t counted = sqlite3_column_int64(count, 0);
    bool attached = sqlite3_column_int64(count, 1) > 0;
    if (!attached && counted >= int64_t(out.node_limit)) {
      out.result = Result::kLimitReached;
      out.counted = uint32_t(counted);
      return out;
    }
    Stmt up(db_, attached ? "UPDATE nodes SET last_login = ?1 WHERE account = ?2 AND node = ?3"
                          : "INSERT INTO nodes(account, node, first_login, last_login) "
                            "VALUES(?2, ?3, ?1, ?1)");
    if (!up) return out;
    sqlite3_bind_int64(up, 1, now);
    bind(up, 2, account);
    bind(up, 3, node);
    if (sqlite3_step(up) != SQLITE_DONE || !t.commit()) return out;
    out.result = Result::kOk;
    out.counted = uint32_t(counted + (attached ? 0 : 1));
    return out;
  }
  std::optional<std::vector<NodeRecord>> list_nodes(const std::string& account,
                                                    const std::string& after,
                                                    size_t limit) override {
    Transaction t(db_);  // one snapshot: the account and its nodes
    if (!t) return std::nullopt;
    if (!find(account)) return std::nullopt;
    Stmt s(db_,
           "SELECT node, first_login, last_login FROM nodes WHERE account = ? AND node > ? "
           "ORDER BY node LIMIT ?");
    if (!s) return std::nullopt;
    bind(s, 1, account);
    bind(s, 2, after);
    sqlite3_bind_int64(s, 3, int64_t(limit));
    std::vector<NodeRecord> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
      out.push_back({text(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2)});
    if (rc != SQLITE_DONE) return std::nullopt;
    return out;
  }
  Result release_node(const std::string& account, const std::string& node) override {
    Stmt s(db_, "DELETE FROM nodes WHERE account = ? AND node = ?");
    if (!s) return Result::kError;
    bind(s, 1, account);
    bind(s, 2, node);
    if (sqlite3_step(s) != SQLITE_DONE) return Result::kError;
    return sqlite3_changes(db_) ? Result::kOk : Result::kNotFound;
  }

 private:
  /// BEGIN IMMEDIATE (the write lock up front: another process sharing the file cannot
  /// slip a write between our read and our write); rolled back unless committed.
  class Transaction {
   public:
    explicit Transaction(sqlite3* db) : db_(db) {
      ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    ~Transaction() {
      if (ok_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    explicit operator bool() const { return ok_; }
    bool commit() {
      if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
      ok_ = false;
      return true;
    }

   private:
    sqlite3* db_;
    bool ok_ = false;
  };
  static void bind(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  }
  static std::string text(sqlite3_stmt* s, int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return std::string(p ? p : "", size_t(sqlite3_column_bytes(s, col)));
  }
  struct Stmt {
    Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
    ~Stmt() { sqlite3_finalize(s); }
    explicit operator bool() const { return s != nullptr; }
    operator sqlite3_stmt*() const { return s; }
    sqlite3_stmt* s = nullptr;
  };
  static Account row(sqlite3_stmt* s) {
    Account a;
    a.name = text(s, 0);
    a.password_hash = text(s, 1);
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
      " node_limit INTEGER NOT NULL, created INTEGER NOT NULL);"
      // Format 2 (user_version 1): the nodes attached to each account. A format 1 file
      // (accounts only, user_version 0) gains the table here and keeps its accounts.
      "CREATE TABLE IF NOT EXISTS nodes(account TEXT NOT NULL, node TEXT NOT NULL,"
      " first_login INTEGER NOT NULL, last_login INTEGER NOT NULL,"
      " PRIMARY KEY(account, node)) WITHOUT ROWID;"
      "PRAGMA user_version = 1;";
  if (sqlite3_exec(db, schema, nullptr, nullptr, &msg) != SQLITE_OK) {
    error = "cannot set up " + path + ": " + (msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return std::make_unique<SqliteStore>(db);
}

}  // namespace ntm::as
