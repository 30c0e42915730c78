#include "dc/vip_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <ctime>

namespace ntm::dc {

VipPool::VipPool(const server::Cidr& cidr, BindingStore* store,
                 const std::map<crypto::Key, int64_t>& last_seen)
    : cidr_(cidr), store_(store) {
  unsigned bits = std::min(cidr.host_bits(), 62u);
  uint64_t size = 1ull << bits;
  // Offset 0 is the network address; for IPv4 the last one is the broadcast address. A
  // prefix with no host address left (IPv4 /31 and /32, IPv6 /128) has nothing to give.
  uint64_t reserved = cidr.family == AF_INET ? 2 : 1;
  capacity_ = size > reserved ? size - reserved : 0;
  if (!store_) return;
  // Bindings from earlier runs come back released: their nodes get their vIPs again when they
  // register, and the addresses are the last to be reused for anyone else.
  for (auto& b : store_->load(cidr_.family)) {
    uint64_t off = offset_of(b.vip);
    if (off == 0 || bound_.count(b.identity)) continue;  // another pool's, or a damaged row
    bound_[b.identity] = b.vip;
    live_[b.identity] = false;
    auto seen = last_seen.find(b.identity);
    last_seen_[b.identity] = seen != last_seen.end() ? seen->second : int64_t(time(nullptr));
    released_.push_back(b.identity);
    next_fresh_ = std::max(next_fresh_, off);
  }
}

uint64_t VipPool::offset_of(const Address& vip) const {
  unsigned bytes = cidr_.address_bits() / 8;
  // Offsets use at most the low 62 bits (see capacity_): everything above must be the base.
  unsigned fixed = bytes - 8;
  if (cidr_.family == AF_INET) fixed = 0;
  for (unsigned i = 0; i < fixed; ++i)
    if (vip[i] != cidr_.base[i]) return 0;
  for (unsigned i = bytes; i < 16; ++i)
    if (vip[i] != 0) return 0;
  uint64_t v = 0, base = 0;
  for (unsigned i = fixed; i < bytes; ++i) {
    v = v << 8 | vip[i];
    base = base << 8 | cidr_.base[i];
  }
  if (v <= base) return 0;
  uint64_t off = v - base;
  return off <= capacity_ ? off : 0;
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
  } else if (!free_.empty()) {
    a = free_.back();
    free_.pop_back();
  } else if (!released_.empty()) {
    crypto::Key old = released_.front();
    released_.pop_front();
    a = bound_[old];
    bound_.erase(old);
    live_.erase(old);
    last_seen_.erase(old);
  } else {
    return std::nullopt;
  }
  bound_[identity] = a;
  live_[identity] = true;
  last_seen_[identity] = int64_t(time(nullptr));
  if (store_) store_->put(cidr_.family, identity, a);
  return a;
}

void VipPool::seen(const crypto::Key& identity, int64_t unix_seconds) {
  auto it = last_seen_.find(identity);
  if (it != last_seen_.end()) it->second = unix_seconds;
}

std::vector<crypto::Key> VipPool::reclaim(int64_t cutoff) {
  std::vector<crypto::Key> gone;
  for (auto it = released_.begin(); it != released_.end();) {
    if (last_seen_[*it] >= cutoff) {
      ++it;
      continue;
    }
    free_.push_back(bound_[*it]);
    bound_.erase(*it);
    live_.erase(*it);
    last_seen_.erase(*it);
    if (store_) store_->erase(cidr_.family, *it);
    gone.push_back(*it);
    it = released_.erase(it);
  }
  return gone;
}

void VipPool::release(const crypto::Key& identity) {
  auto it = live_.find(identity);
  if (it == live_.end() || !it->second) return;
  it->second = false;
  released_.push_back(identity);
}

}  // namespace ntm::dc
