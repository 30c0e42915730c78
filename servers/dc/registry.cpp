#include "dc/registry.h"

#include <algorithm>

namespace ntm::dc {

bool NodeRecord::reachable() const {
  return std::find(real_addresses.begin(), real_addresses.end(), nat_address) !=
         real_addresses.end();
}

Registry::Registry(std::optional<server::Cidr> vip4_pool, std::optional<server::Cidr> vip6_pool,
                   std::string domain, BindingStore* store)
    : domain_(std::move(domain)) {
  std::map<crypto::Key, int64_t> last_seen;
  if (store)
    for (auto& row : store->load_identities()) last_seen[row.identity] = row.last_seen;
  if (vip4_pool) pool4_.emplace(*vip4_pool, store, last_seen);
  if (vip6_pool) pool6_.emplace(*vip6_pool, store, last_seen);
}

void Registry::seen(const crypto::Key& identity, int64_t unix_seconds) {
  if (pool4_) pool4_->seen(identity, unix_seconds);
  if (pool6_) pool6_->seen(identity, unix_seconds);
}

std::vector<crypto::Key> Registry::reclaim(int64_t cutoff) {
  std::vector<crypto::Key> gone;
  if (pool4_) gone = pool4_->reclaim(cutoff);
  if (pool6_)
    for (auto& k : pool6_->reclaim(cutoff))
      if (std::find(gone.begin(), gone.end(), k) == gone.end()) gone.push_back(k);
  return gone;
}

size_t Registry::bindings() const {
  return std::max(pool4_ ? pool4_->bindings() : 0, pool6_ ? pool6_->bindings() : 0);
}

bool Registry::valid_label(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Registry::Result Registry::register_node(const crypto::Key& identity, const std::string& name,
                                         Clock::time_point expires, NodeRecord** out) {
  if (!valid_label(name)) return Result::kInvalidName;
  std::string fqdn = name + "." + domain_;
  auto owner = by_fqdn_.find(fqdn);
  if (owner != by_fqdn_.end() && owner->second != identity) return Result::kNameTaken;

  auto it = nodes_.find(identity);
  if (it == nodes_.end()) {
    NodeRecord r;
    r.identity = identity;
    if (pool4_) {
      r.vip4 = pool4_->acquire(identity);
      if (!r.vip4) return Result::kPoolExhausted;
    }
    if (pool6_) {
      r.vip6 = pool6_->acquire(identity);
      if (!r.vip6) {
        if (pool4_) pool4_->release(identity);
        return Result::kPoolExhausted;
      }
    }
    if (r.vip4) by_vip4_[*r.vip4] = identity;
    if (r.vip6) by_vip6_[*r.vip6] = identity;
    it = nodes_.emplace(identity, std::move(r)).first;
  }
  NodeRecord& r = it->second;
  if (r.fqdn != fqdn) {
    if (!r.fqdn.empty()) by_fqdn_.erase(r.fqdn);  // the node renamed itself
    r.name = name;
    r.fqdn = fqdn;
    by_fqdn_[fqdn] = identity;
  }
  r.expires = expires;
  *out = &r;
  return Result::kOk;
}

NodeRecord* Registry::find(const crypto::Key& identity) {
  auto it = nodes_.find(identity);
  return it == nodes_.end() ? nullptr : &it->second;
}

NodeRecord* Registry::find_fqdn(const std::string& fqdn) {
  auto it = by_fqdn_.find(fqdn);
  return it == by_fqdn_.end() ? nullptr : find(it->second);
}

NodeRecord* Registry::find_vip(const Address& vip, bool v6) {
  Address key{};  // an IPv4 vIP is its first 4 bytes, the rest zero (as the pool makes them)
  std::copy(vip.begin(), vip.begin() + (v6 ? 16 : 4), key.begin());
  auto& index = v6 ? by_vip6_ : by_vip4_;
  auto it = index.find(key);
  return it == index.end() ? nullptr : find(it->second);
}

std::vector<NodeRecord> Registry::expire(Clock::time_point now) {
  std::vector<NodeRecord> gone;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.expires < now) {
      if (pool4_) pool4_->release(it->first);
      if (pool6_) pool6_->release(it->first);
      by_fqdn_.erase(it->second.fqdn);
      if (it->second.vip4) by_vip4_.erase(*it->second.vip4);
      if (it->second.vip6) by_vip6_.erase(*it->second.vip6);
      gone.push_back(std::move(it->second));
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace ntm::dc
