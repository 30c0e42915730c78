// A vIP pool (paper 002 §2.2: "assigns them to each NTMobile node without address
// duplication"). Sticky: a node identity keeps its vIP across re-registrations and restarts
// of the node. When the pool has no never-used address left, the binding of the node
// released longest ago is reused; a bound, live node's vIP is never handed to another.
// With a BindingStore the bindings also survive restarts of the DC. A binding whose identity
// has not been seen for the reclaim time is removed (reclaim()), so the pool's state is bounded
// by the identities seen recently, not by every identity ever seen; the address becomes free.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cidr.h"
#include "crypto/aead.h"
#include "dc/binding_store.h"

namespace ntm::dc {

class VipPool {
 public:
  /// The network and (IPv4) broadcast addresses are never assigned. `store` (may be null)
  /// supplies the bindings of earlier runs, as released ones, and records every new binding.
  /// `last_seen` (unix seconds per identity, from the store) dates the loaded bindings; one
  /// without an entry counts as seen now.
  explicit VipPool(const server::Cidr& cidr, BindingStore* store = nullptr,
                   const std::map<crypto::Key, int64_t>& last_seen = {});

  /// The vIP of `identity`, binding a new one if needed; nullopt when the pool is exhausted.
  std::optional<Address> acquire(const crypto::Key& identity);
  /// Marks the identity's vIP reusable (its registration expired); the binding stays until
  /// the pool needs the address for someone else.
  void release(const crypto::Key& identity);
  /// Records that `identity` was seen at `unix_seconds` (registration or keep-alive).
  void seen(const crypto::Key& identity, int64_t unix_seconds);
  /// Removes every released binding last seen before `cutoff` (unix seconds); their addresses
  /// become free. Returns the identities whose binding went.
  std::vector<crypto::Key> reclaim(int64_t cutoff);
  /// Number of identities holding a binding (live or released).
  size_t bindings() const { return bound_.size(); }
  /// Number of addresses the pool can hand out.
  uint64_t capacity() const { return capacity_; }
  const server::Cidr& cidr() const { return cidr_; }

 private:
  /// `vip`'s host offset inside the pool, or 0 when it is not a host address of the pool.
  uint64_t offset_of(const Address& vip) const;

  server::Cidr cidr_;
  BindingStore* store_;
  uint64_t capacity_;
  uint64_t next_fresh_ = 0;  // offsets [1, next_fresh_] have been handed out at least once
  std::map<crypto::Key, Address> bound_;
  std::map<crypto::Key, bool> live_;
  std::map<crypto::Key, int64_t> last_seen_;
  std::list<crypto::Key> released_;  // oldest release first
  std::vector<Address> free_;        // reclaimed addresses, handed out before released ones
};

}  // namespace ntm::dc
