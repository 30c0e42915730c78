#include "dc/binding_store.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace ntm::dc {
namespace {

/// Finalizes a prepared statement when it goes out of scope.
struct Statement {
  sqlite3_stmt* s = nullptr;
  ~Statement() { sqlite3_finalize(s); }
};

}  // namespace

std::unique_ptr<BindingStore> BindingStore::open(const std::string& path, std::string& error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    error = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<BindingStore> store(new BindingStore(db));
  if (!store->exec("PRAGMA journal_mode=WAL") ||
      !store->exec("CREATE TABLE IF NOT EXISTS vip_bindings ("
                   " family INTEGER NOT NULL, vip BLOB NOT NULL, identity BLOB NOT NULL,"
                   " PRIMARY KEY (family, vip))")) {
    error = "cannot initialise " + path + ": " + sqlite3_errmsg(db);
    return nullptr;
  }
  return store;
}

BindingStore::~BindingStore() {
  sqlite3_close(db_);
}

bool BindingStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  spdlog::error("vIP binding store: {}", msg ? msg : "error");
  sqlite3_free(msg);
  return false;
}

std::vector<BindingStore::Binding> BindingStore::load(int family) {
  std::vector<Binding> out;
  Statement st;
  if (sqlite3_prepare_v2(db_,
                         "SELECT vip, identity FROM vip_bindings WHERE family = ?1 ORDER BY rowid",
                         -1, &st.s, nullptr) != SQLITE_OK)
    return out;
  sqlite3_bind_int(st.s, 1, family);
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    // Rows are ours, but a damaged file must not become a damaged pool: exact sizes only.
    if (sqlite3_column_bytes(st.s, 0) != 16 || sqlite3_column_bytes(st.s, 1) != 32) continue;
    Binding b;
    std::memcpy(b.vip.data(), sqlite3_column_blob(st.s, 0), 16);
    std::memcpy(b.identity.data(), sqlite3_column_blob(st.s, 1), 32);
    out.push_back(b);
  }
  return out;
}

bool BindingStore::put(int family, const crypto::Key& identity, const Address& vip) {
  if (!exec("BEGIN")) return false;
  Statement del, ins;
  bool ok = sqlite3_prepare_v2(db_, "DELETE FROM vip_bindings WHERE family = ?1 AND identity = ?2",
                               -1, &del.s, nullptr) == SQLITE_OK &&
            sqlite3_bind_int(del.s, 1, family) == SQLITE_OK &&
            sqlite3_bind_blob(del.s, 2, identity.data(), 32, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(del.s) == SQLITE_DONE &&
            sqlite3_prepare_v2(db_,
                               "INSERT OR REPLACE INTO vip_bindings (family, vip, identity) "
                               "VALUES (?1, ?2, ?3)",
                               -1, &ins.s, nullptr) == SQLITE_OK &&
            sqlite3_bind_int(ins.s, 1, family) == SQLITE_OK &&
            sqlite3_bind_blob(ins.s, 2, vip.data(), 16, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_blob(ins.s, 3, identity.data(), 32, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(ins.s) == SQLITE_DONE;
  if (!ok) {
    spdlog::error("vIP binding store: {}", sqlite3_errmsg(db_));
    exec("ROLLBACK");
    return false;
  }
  return exec("COMMIT");
}

}  // namespace ntm::dc
