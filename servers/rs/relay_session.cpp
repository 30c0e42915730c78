#include "rs/relay_session.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace ntm::rs {

bool Quota::take(double cost, Clock::time_point now) {
  if (last_ != Clock::time_point{}) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
  }
  last_ = now;
  if (tokens_ < cost) return false;
  tokens_ -= cost;
  return true;
}

const char* to_string(SessionTable::BindResult r) {
  switch (r) {
    case SessionTable::BindResult::kAccepted:
      return "accepted";
    case SessionTable::BindResult::kBadTicket:
      return "ticket not signed by a known relay key";
    case SessionTable::BindResult::kExpired:
      return "ticket expired";
    case SessionTable::BindResult::kBadMac:
      return "bind MAC wrong for its side";
    case SessionTable::BindResult::kStale:
      return "bind counter not newer (replay)";
    case SessionTable::BindResult::kConflict:
      return "session ID in use by another ticket";
    case SessionTable::BindResult::kFull:
      return "session table full";
  }
  return "?";
}

SessionTable::SessionTable(std::vector<crypto::Key> keys, size_t max_sessions, double node_pps,
                           double node_bytes)
    : max_sessions_(max_sessions), node_pps_(node_pps), node_bytes_(node_bytes) {
  for (auto& k : keys) {
    keys_.push_back(std::make_unique<crypto::RelayKeys>(k));
    sodium_memzero(k.data(), k.size());
  }
}

SessionTable::BindResult SessionTable::bind(const proto::RelayBind& b, proto::ByteView raw,
                                            const proto::Endpoint& from, size_t socket,
                                            uint32_t unix_now, Clock::time_point now,
                                            Session** out) {
  auto it = sessions_.find(b.ticket.session_id);
  bool known = it != sessions_.end() &&
               std::equal(b.ticket_bytes.begin(), b.ticket_bytes.end(), it->second.ticket.begin());
  // An existing session with the same ticket needs no ticket MAC again (cheapest first).
  size_t key_index = known ? it->second.key_index : keys_.size();
  if (!known) {
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i]->verify_ticket(b.ticket_bytes)) {
        key_index = i;
        break;
      }
    if (key_index == keys_.size()) return BindResult::kBadTicket;
  }
  if (b.ticket.expiry <= unix_now) return BindResult::kExpired;
  int s = b.side - 1;
  crypto::Key side_key = known && it->second.side[s].key != crypto::Key{}
                             ? it->second.side[s].key
                             : keys_[key_index]->side_key(b.side, b.ticket_bytes);
  if (!crypto::verify_relay_bind(raw, side_key)) return BindResult::kBadMac;
  if (it != sessions_.end() && !known) return BindResult::kConflict;
  if (it == sessions_.end()) {
    if (sessions_.size() >= max_sessions_) return BindResult::kFull;
    Session fresh(node_pps_, node_bytes_);
    fresh.id = b.ticket.session_id;
    fresh.key_index = key_index;
    std::copy(b.ticket_bytes.begin(), b.ticket_bytes.end(), fresh.ticket.begin());
    fresh.expiry = b.ticket.expiry;
    it = sessions_.emplace(fresh.id, std::move(fresh)).first;
  }
  Session& session = it->second;
  Side& side = session.side[s];
  if (side.bound && b.counter <= side.counter) return BindResult::kStale;
  side.key = side_key;
  side.bound = true;
  side.counter = b.counter;
  side.endpoint = from;
  side.socket = socket;
  session.last_active = now;
  *out = &session;
  return BindResult::kAccepted;
}

Session* SessionTable::find(uint32_t session_id) {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

int SessionTable::side_of(const Session& s, const proto::Endpoint& from) {
  for (int i = 0; i < 2; ++i)
    if (s.side[i].bound && s.side[i].endpoint == from) return i;
  return -1;
}

size_t SessionTable::expire(uint32_t unix_now, Clock::time_point now, Clock::duration idle) {
  size_t gone = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = it->second;
    std::erase_if(s.held, [&](const Session::Held& h) { return now - h.at > kHoldFor; });
    if (s.expiry <= unix_now || now - s.last_active > idle) {
      it = sessions_.erase(it);
      ++gone;
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace ntm::rs
