#include "packet/tunnel_table.h"

#include "crypto/aead.h"

#include <algorithm>

namespace ntm::packet {
std::shared_ptr<Tunnel> TunnelTable::find_by_id(uint32_t local_id) const {
  std::shared_lock l(mu_);
  auto it = by_id_.find(local_id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::shared_ptr<Tunnel> TunnelTable::find_by_vip4(uint32_t vip4) const {
  std::shared_lock l(mu_);
  auto it = by_vip4_.find(vip4);
  return it == by_vip4_.end() ? nullptr : it->second;
}

std::shared_ptr<Tunnel> TunnelTable::find_by_vip6(const Vip6& vip6) const {
  std::shared_lock l(mu_);
  auto it = by_vip6_.find(vip_key6(vip6));
  return it == by_vip6_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Tunnel>> TunnelTable::insert(std::shared_ptr<Tunnel> t) {
  {
    std::unique_lock l(mu_);
    take_held(*t);
    by_id_[t->local_id] = t;
  }
  return promote(t);
}

void TunnelTable::insert_inbound(std::shared_ptr<Tunnel> t) {
  std::unique_lock l(mu_);
  take_held(*t);
  by_id_[t->local_id] = std::move(t);
}

void TunnelTable::take_held(Tunnel& t) {
  auto it = reserved_.find(t.local_id);
  if (it == reserved_.end()) return;
  if (!it->second.empty()) {
    std::lock_guard h(t.held_mu);
    t.held = std::move(it->second);
    t.has_held.store(true, std::memory_order_release);
  }
  reserved_.erase(it);
}

TunnelTable::Hold TunnelTable::hold(uint32_t id, proto::ByteView pkt, const Path& from,
                                    std::shared_ptr<Tunnel>& installed) {
  std::unique_lock l(mu_);
  if (auto t = by_id_.find(id); t != by_id_.end()) {
    installed = t->second;
    return Hold::kInstalled;
  }
  auto r = reserved_.find(id);
  if (r == reserved_.end()) return Hold::kNotReserved;
  if (r->second.size() >= kMaxHeld) return Hold::kFull;
  r->second.push_back({proto::Bytes(pkt.begin(), pkt.end()), from});
  return Hold::kHeld;
}

std::vector<std::shared_ptr<Tunnel>> TunnelTable::promote(const std::shared_ptr<Tunnel>& t) {
  std::unique_lock l(mu_);
  std::vector<std::shared_ptr<Tunnel>> replaced;
  auto put = [&](auto& map, const auto& key) {
    auto& slot = map[key];
    if (slot && slot != t && std::find(replaced.begin(), replaced.end(), slot) == replaced.end())
      replaced.push_back(slot);
    slot = t;
  };
  if (t->has_vip4) put(by_vip4_, t->peer_vip4);
  if (t->has_vip6) put(by_vip6_, vip_key6(t->peer_vip6));
  return replaced;
}

void TunnelTable::remove(uint32_t local_id) {
  std::unique_lock l(mu_);
  auto it = by_id_.find(local_id);
  if (it == by_id_.end()) return;
  auto t = it->second;
  by_id_.erase(it);
  if (t->has_vip4) {
    auto v = by_vip4_.find(t->peer_vip4);
    if (v != by_vip4_.end() && v->second == t) by_vip4_.erase(v);
  }
  if (t->has_vip6) {
    auto v = by_vip6_.find(vip_key6(t->peer_vip6));
    if (v != by_vip6_.end() && v->second == t) by_vip6_.erase(v);
  }
}

uint32_t TunnelTable::allocate_id() {
  std::unique_lock l(mu_);
  for (;;) {
    uint32_t id = crypto::random_u32();
    if (id != 0 && !by_id_.count(id) && !reserved_.count(id)) {
      reserved_[id];
      return id;
    }
  }
}

size_t TunnelTable::release_id(uint32_t id) {
  std::unique_lock l(mu_);
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return 0;
  size_t dropped = it->second.size();
  reserved_.erase(it);
  return dropped;
}

bool TunnelTable::reserved(uint32_t id) const {
  std::shared_lock l(mu_);
  return reserved_.count(id) > 0;
}

void TunnelTable::add_relay(uint32_t session, const proto::Endpoint& server) {
  std::unique_lock l(mu_);
  relays_[session] = server;
}

void TunnelTable::remove_relay(uint32_t session) {
  std::unique_lock l(mu_);
  relays_.erase(session);
}

bool TunnelTable::relay_server(uint32_t session, proto::Endpoint& out) const {
  std::shared_lock l(mu_);
  auto it = relays_.find(session);
  if (it == relays_.end()) return false;
  out = it->second;
  return true;
}

size_t TunnelTable::size() const {
  std::shared_lock l(mu_);
  return by_id_.size();
}

size_t TunnelTable::relay_sessions() const {
  std::shared_lock l(mu_);
  return relays_.size();
}

std::vector<std::shared_ptr<Tunnel>> TunnelTable::all() const {
  std::shared_lock l(mu_);
  std::vector<std::shared_ptr<Tunnel>> out;
  for (auto& [id, t] : by_id_) out.push_back(t);
  return out;
}

void TunnelTable::clear() {
  std::unique_lock l(mu_);
  reserved_.clear();
  relays_.clear();
  by_id_.clear();
  by_vip4_.clear();
  by_vip6_.clear();
}

}  // namespace ntm::packet
