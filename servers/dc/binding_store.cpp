#include "dc/binding_store.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <functional>

namespace ntm::dc {
namespace {

/// Finalizes a prepared statement when it goes out of scope.
struct Statement {
  sqlite3_stmt* s = nullptr;
  ~Statement() { sqlite3_finalize(s); }
};

bool run(sqlite3* db, const char* sql, const std::function<bool(sqlite3_stmt*)>& bind) {
  Statement st;
  return sqlite3_prepare_v2(db, sql, -1, &st.s, nullptr) == SQLITE_OK && bind(st.s) &&
         sqlite3_step(st.s) == SQLITE_DONE;
}

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
                   " PRIMARY KEY (family, vip))") ||
      !store->exec("CREATE TABLE IF NOT EXISTS identities ("
                   " identity BLOB PRIMARY KEY, handshake BLOB, last_seen INTEGER NOT NULL)")) {
    error = "cannot initialise " + path + ": " + sqlite3_errmsg(db);
    return nullptr;
  }
  return store;
}

BindingStore::BindingStore(sqlite3* db) : db_(db), thread_([this] { writer(); }) {}

BindingStore::~BindingStore() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  sqlite3_close(db_);
}

bool BindingStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  spdlog::error("DC store: {}", msg ? msg : "error");
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

std::vector<BindingStore::IdentityRow> BindingStore::load_identities() {
  std::vector<IdentityRow> out;
  Statement st;
  if (sqlite3_prepare_v2(db_, "SELECT identity, handshake, last_seen FROM identities", -1, &st.s,
                         nullptr) != SQLITE_OK)
    return out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st.s, 0) != 32) continue;
    IdentityRow r;
    std::memcpy(r.identity.data(), sqlite3_column_blob(st.s, 0), 32);
    if (sqlite3_column_bytes(st.s, 1) == 12) {
      crypto::Timestamp t;
      std::memcpy(t.data(), sqlite3_column_blob(st.s, 1), 12);
      r.handshake = t;
    }
    r.last_seen = sqlite3_column_int64(st.s, 2);
    out.push_back(r);
  }
  return out;
}

void BindingStore::put(int family, const crypto::Key& identity, const Address& vip) {
  Op op{Op::kPut};
  op.family = family, op.identity = identity, op.vip = vip;
  enqueue(op);
}

void BindingStore::erase(int family, const crypto::Key& identity) {
  Op op{Op::kErase};
  op.family = family, op.identity = identity;
  enqueue(op);
}

void BindingStore::touch(const crypto::Key& identity, const crypto::Timestamp& handshake,
                         int64_t last_seen) {
  Op op{Op::kTouch};
  op.identity = identity, op.handshake = handshake, op.last_seen = last_seen;
  enqueue(op);
}

void BindingStore::forget(const crypto::Key& identity) {
  Op op{Op::kForget};
  op.identity = identity;
  enqueue(op);
}

void BindingStore::enqueue(Op op) {
  {
    std::lock_guard l(mu_);
    if (queue_.size() >= kMaxQueued) {
      ++dropped_;
      return;
    }
    queue_.push_back(op);
  }
  cv_.notify_one();
}

uint64_t BindingStore::dropped() const {
  std::lock_guard l(mu_);
  return dropped_;
}

void BindingStore::flush() {
  std::unique_lock l(mu_);
  idle_cv_.wait(l, [&] { return queue_.empty() && !writing_; });
}

void BindingStore::writer() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::deque<Op> batch;
    batch.swap(queue_);
    writing_ = true;
    l.unlock();
    // One transaction (one fsync) for everything that queued up meanwhile.
    bool ok = exec("BEGIN");
    for (auto& op : batch) ok = ok && apply(op);
    if (ok) {
      ok = exec("COMMIT");
    } else {
      spdlog::error("DC store: {} (a batch of {} writes is lost)", sqlite3_errmsg(db_),
                    batch.size());
      exec("ROLLBACK");
    }
    l.lock();
    writing_ = false;
    idle_cv_.notify_all();
  }
}

bool BindingStore::apply(const Op& op) {
  switch (op.kind) {
    case Op::kPut:
      return run(db_, "DELETE FROM vip_bindings WHERE family = ?1 AND identity = ?2",
                 [&](sqlite3_stmt* s) {
                   return sqlite3_bind_int(s, 1, op.family) == SQLITE_OK &&
                          sqlite3_bind_blob(s, 2, op.identity.data(), 32, SQLITE_STATIC) ==
                              SQLITE_OK;
                 }) &&
             run(db_,
                 "INSERT OR REPLACE INTO vip_bindings (family, vip, identity) VALUES (?1, ?2, ?3)",
                 [&](sqlite3_stmt* s) {
                   return sqlite3_bind_int(s, 1, op.family) == SQLITE_OK &&
                          sqlite3_bind_blob(s, 2, op.vip.data(), 16, SQLITE_STATIC) == SQLITE_OK &&
                          sqlite3_bind_blob(s, 3, op.identity.data(), 32, SQLITE_STATIC) ==
                              SQLITE_OK;
                 });
    case Op::kErase:
      return run(db_, "DELETE FROM vip_bindings WHERE family = ?1 AND identity = ?2",
                 [&](sqlite3_stmt* s) {
                   return sqlite3_bind_int(s, 1, op.family) == SQLITE_OK &&
                          sqlite3_bind_blob(s, 2, op.identity.data(), 32, SQLITE_STATIC) ==
                              SQLITE_OK;
                 });
    case Op::kTouch:
      return run(
          db_,
          "INSERT OR REPLACE INTO identities (identity, handshake, last_seen) "
          "VALUES (?1, ?2, ?3)",
          [&](sqlite3_stmt* s) {
            return sqlite3_bind_blob(s, 1, op.identity.data(), 32, SQLITE_STATIC) == SQLITE_OK &&
                   sqlite3_bind_blob(s, 2, op.handshake.data(), 12, SQLITE_STATIC) == SQLITE_OK &&
                   sqlite3_bind_int64(s, 3, op.last_seen) == SQLITE_OK;
          });
    case Op::kForget:
      return run(db_, "DELETE FROM identities WHERE identity = ?1", [&](sqlite3_stmt* s) {
        return sqlite3_bind_blob(s, 1, op.identity.data(), 32, SQLITE_STATIC) == SQLITE_OK;
      });
  }
  return false;
}

}  // namespace ntm::dc
