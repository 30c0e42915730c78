// Durable vIP bindings of a DC (SQLite, `<state-dir>/dc.sqlite3`): which node identity holds
// which vIP, so a node keeps its vIP across restarts of the DC too, not only of the node.
//
// Table vip_bindings(family INTEGER, vip BLOB(16), identity BLOB(32)), primary key
// (family, vip), one row per identity and family. Written only when a binding is made or
// moves to another identity — never per packet or per keep-alive.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "crypto/aead.h"

namespace ntm::dc {

using Address = std::array<uint8_t, 16>;  ///< IPv4 in the first 4 bytes

class BindingStore {
 public:
  struct Binding {
    crypto::Key identity;
    Address vip;
  };

  /// Opens or creates the database; nullptr with `error` set when that fails.
  static std::unique_ptr<BindingStore> open(const std::string& path, std::string& error);
  ~BindingStore();
  BindingStore(const BindingStore&) = delete;
  BindingStore& operator=(const BindingStore&) = delete;

  /// Every binding of `family` (AF_INET or AF_INET6), oldest first.
  std::vector<Binding> load(int family);
  /// Records that `identity` holds `vip` (replacing its previous vIP and the vIP's previous
  /// holder). Returns false (and logs) on a storage error; the DC keeps serving from memory.
  bool put(int family, const crypto::Key& identity, const Address& vip);

 private:
  explicit BindingStore(sqlite3* db) : db_(db) {}
  bool exec(const char* sql);
  sqlite3* db_;
};

}  // namespace ntm::dc
