// A vIP pool (paper 002 §2.2: "assigns them to each NTMobile node without address
// duplication"). Sticky: a node identity keeps its vIP across re-registrations and restarts
// of the node. When the pool has no never-used address left, the binding of the node
// released longest ago is reused; a bound, live node's vIP is never handed to another.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "common/cidr.h"
#include "crypto/aead.h"

namespace ntm::dc {

using Address = std::array<uint8_t, 16>;  ///< IPv4 in the first 4 bytes

class VipPool {
 public:
  /// The network and (IPv4) broadcast addresses are never assigned.
  explicit VipPool(const server::Cidr& cidr);

  /// The vIP of `identity`, binding a new one if needed; nullopt when the pool is exhausted.
  std::optional<Address> acquire(const crypto::Key& identity);
  /// Marks the identity's vIP reusable (its registration expired); the binding stays until
  /// the pool needs the address for someone else.
  void release(const crypto::Key& identity);
  /// Number of addresses the pool can hand out.
  uint64_t capacity() const { return capacity_; }
  const server::Cidr& cidr() const { return cidr_; }

 private:
  server::Cidr cidr_;
  uint64_t capacity_;
  uint64_t next_fresh_ = 0;  // offsets [1, next_fresh_] have been handed out at least once
  std::map<crypto::Key, Address> bound_;
  std::map<crypto::Key, bool> live_;
  std::list<crypto::Key> released_;  // oldest release first
};

}  // namespace ntm::dc
