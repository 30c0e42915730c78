// Handshake initiations at the DC (docs/protocol.md §3.7-3.8), cheapest check first:
//
// 1. size: 148 bytes, or 148 + 24..1040 with early data (docs/protocol.md §3.2)
// 2. mac1: the sender knows the DC's public key (one BLAKE2b; junk stops here)
// 3. under load (more than handshake-load-threshold valid initiations in a second, then for
//    a second after): mac2 must prove the sender receives at its source address, else it gets
//    a 64-byte cookie reply and no DH is spent; with a valid mac2, each source address may
//    start handshake-rate handshakes per second
// 4. Noise IK (four X25519 operations) → the node identity and its timestamp
// 5. timestamp replay rule (persisted for registered identities, so it survives restarts)
// 6. session limit: when max-sessions are held, only registered identities may add one
// 7. a new *unconfirmed* session; it replaces the node's working session only once a packet
//    under its keys arrives (a replayed message 1 therefore cannot cut a node off)
// 8. message 2; then the early data, if any: a registration request, handled as if it came
//    sealed under the new session, which it confirms (§3.7: its timestamp passed step 5, so
//    it is no replay), and answered sealed right behind message 2
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "dc/dc_server.h"

namespace ntm::dc {

bool DcServer::under_load() {
  auto now = Clock::now();
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    window_initiations_ = 0;
  }
  if (++window_initiations_ > cfg_.handshake_load_threshold)
    under_load_until_ = now + std::chrono::seconds(1);
  return now < under_load_until_;
}

void DcServer::on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  size_t early = d.size() - proto::kHandshakeInitSize;
  if (d.size() < proto::kHandshakeInitSize ||
      (early && (early < crypto::kEarlyDataMin + proto::kTagSize ||
                 early > crypto::kEarlyDataMax + proto::kTagSize)))  // 1
    return drop(stats_.drop_malformed, from, "handshake initiation of wrong size");
  if (!cookies_.check_mac1(d))  // 2
    return drop(stats_.drop_mac, from, "handshake initiation with a bad mac1");
  if (under_load()) {  // 3
    if (!cookies_.check_mac2(d, from)) {
      ++stats_.cookie_replies;
      send_to(socket, cookies_.create_reply(d, from), from);
      return;
    }
    if (!handshake_limiter_.allow(from))
      return drop(stats_.drop_ratelimit, from, "handshake rate of this source exceeded");
  }
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || sessions_.count(index));
  proto::Bytes response;
  auto r = responder_.consume_init(d, index, response);  // 4
  if (!r) return drop(stats_.drop_handshake, from, "handshake initiation not authentic");
  auto last = last_init_.find(r->remote_static);  // 5
  if (last != last_init_.end() && !(last->second.timestamp < r->timestamp))
    return drop(stats_.drop_replay, from, "replayed handshake initiation");
  bool registered = registry_.find(r->remote_static) != nullptr;
  auto pending = pending_by_identity_.find(r->remote_static);
  if (pending != pending_by_identity_.end()) {
    erase_session(pending->second);  // one unconfirmed session per identity
  } else if (sessions_.size() >= cfg_.max_sessions && !registered) {  // 6
    return drop(stats_.drop_session_limit, from, "session limit reached");
  }
  last_init_[r->remote_static] = {r->timestamp, Clock::now()};

  ControlSession s(cfg_);  // 7
  s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  s.identity = r->remote_static;
  s.handshake_timestamp = r->timestamp;
  s.endpoint = from;
  s.socket = socket;
  s.created = s.last_seen = Clock::now();
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  pending_by_identity_[s.identity] = index;
  if (registered) persist_identity(s);
  sessions_.emplace(index, std::move(s));
  ++stats_.handshakes;
  spdlog::debug("handshake with node {} from {}",
                crypto::key_to_base64(r->remote_static).substr(0, 8), from.to_string());
  send_to(socket, response, from);
  if (!r->early.empty()) on_early_data(index, r->early, socket, from);  // 8
}

void DcServer::on_early_data(uint32_t index, const proto::Bytes& plain, size_t socket,
                             const proto::Endpoint& from) {
  auto it = sessions_.find(index);
  if (it == sessions_.end()) return;
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(plain, err);
  // Only a registration request may ride in message 1: it is what a node sends first.
  if (!m || m->type != proto::MessageType::kRegistrationRequest)
    return drop(stats_.drop_malformed, from, "early data that is not a registration request");
  ++stats_.early_registrations;
  on_authenticated(index, it->second, socket, plain.size(), from, true);
  dispatch(it->second, index, *m);
}

}  // namespace ntm::dc
