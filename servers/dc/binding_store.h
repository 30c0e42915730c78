// Durable state of a DC (SQLite, `<state-dir>/dc.sqlite3`): which node identity holds which
// vIP, so a node keeps its vIP across restarts of the DC too; and, per identity, the timestamp
// of its last accepted handshake (so an old handshake initiation does not replay after a DC
// restart, docs/protocol.md §3.4) and when it was last seen (for reclaiming vIPs).
//
//   vip_bindings(family INTEGER, vip BLOB(16), identity BLOB(32)), primary key (family, vip),
//                one row per identity and family
//   identities(identity BLOB(32) primary key, handshake BLOB(12), last_seen INTEGER unix s)
//
// Reads happen once, at start-up. Writes never run on the DC's event loop: put(), erase(),
// touch() and forget() queue an operation (bounded: kMaxQueued, overflow counted in
// dropped()) and a writer thread commits whatever is queued in one transaction — one fsync
// for a whole burst of registrations instead of two per new identity.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/handshake.h"

namespace ntm::dc {

using Address = std::array<uint8_t, 16>;  ///< IPv4 in the first 4 bytes

class BindingStore {
 public:
  struct Binding {
    crypto::Key identity;
    Address vip;
  };
  struct IdentityRow {
    crypto::Key identity;
    std::optional<crypto::Timestamp> handshake;
    int64_t last_seen = 0;  ///< unix seconds
  };
  static constexpr size_t kMaxQueued = 1 << 16;

  /// Opens or creates the database; nullptr with `error` set when that fails.
  static std::unique_ptr<BindingStore> open(const std::string& path, std::string& error);
  /// Commits everything queued, then closes.
  ~BindingStore();
  BindingStore(const BindingStore&) = delete;
  BindingStore& operator=(const BindingStore&) = delete;

  /// Every binding of `family` (AF_INET or AF_INET6), oldest first.
  std::vector<Binding> load(int family);
  std::vector<IdentityRow> load_identities();

  /// Queues: `identity` holds `vip` (replacing its previous vIP and the vIP's previous holder).
  void put(int family, const crypto::Key& identity, const Address& vip);
  /// Queues: `identity` holds no vIP of `family` any more (reclaimed).
  void erase(int family, const crypto::Key& identity);
  /// Queues: the identity's last accepted handshake timestamp and last-seen time.
  void touch(const crypto::Key& identity, const crypto::Timestamp& handshake, int64_t last_seen);
  /// Queues: delete the identity's row.
  void forget(const crypto::Key& identity);
  /// Blocks until everything queued so far is committed (or failed and logged).
  void flush();
  /// Operations dropped because the queue was full.
  uint64_t dropped() const;

 private:
  struct Op {
    enum Kind { kPut, kErase, kTouch, kForget } kind;
    int family = 0;
    crypto::Key identity{};
    Address vip{};
    crypto::Timestamp handshake{};
    int64_t last_seen = 0;
  };
  explicit BindingStore(sqlite3* db);
  bool exec(const char* sql);
  void enqueue(Op op);
  void writer();
  bool apply(const Op& op);

  sqlite3* db_;  // used by load*() before writes start, then by the writer thread only
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Op> queue_;   // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool writing_ = false;   // guarded by mu_
  uint64_t dropped_ = 0;   // guarded by mu_
  std::thread thread_;
};

}  // namespace ntm::dc
