#include "dc/vip_pool.h"

#include <sys/socket.h>

#include <algorithm>

namespace ntm::dc {

VipPool::VipPool(const server::Cidr& cidr) : cidr_(cidr) {
  unsigned bits = std::min(cidr.host_bits(), 62u);
  uint64_t size = 1ull << bits;
  // Offset 0 is the network address; for IPv4 the last one is the broadcast address. A
  // prefix with no host address left (IPv4 /31 and /32, IPv6 /128) has nothing to give.
  uint64_t reserved = cidr.family == AF_INET ? 2 : 1;
  capacity_ = size > reserved ? size - reserved : 0;
}

std::optional<Address> VipPool::acquire(const crypto::Key& identity) {
  auto it = bound_.find(identity);
  if (it != bound_.end()) {
    if (!live_[identity]) released_.remove(identity);
    live_[identity] = true;
    return it->second;
  }
  Address a;
  if (next_fresh_ < capacity_) {
    a = cidr_.at(++next_fresh_);
  } else if (!released_.empty()) {
    crypto::Key old = released_.front();
    released_.pop_front();
    a = bound_[old];
    bound_.erase(old);
    live_.erase(old);
  } else {
    return std::nullopt;
  }
  bound_[identity] = a;
  live_[identity] = true;
  return a;
}

void VipPool::release(const crypto::Key& identity) {
  auto it = live_.find(identity);
  if (it == live_.end() || !it->second) return;
  it->second = false;
  released_.push_back(identity);
}

}  // namespace ntm::dc
