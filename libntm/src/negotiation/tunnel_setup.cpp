// Tunnel request / tunnel response between the two nodes (paper 002 Fig. 3 steps 17-19,
// docs/protocol.md §7): sealed with keys from the route direction's temporal key, carrying
// ephemeral X25519 keys from which both ends derive the tunnel's data keys.
#include "node/log.h"

#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {
namespace {
constexpr proto::RetransmitPolicy kTunnelRequestPolicy{100, 1000, 8};
constexpr size_t kMaxEarly = 64;
constexpr auto kEarlyLifetime = std::chrono::seconds(5);
constexpr auto kOldTunnelGrace = std::chrono::seconds(10);
}  // namespace

void Negotiator::send_tunnel_control(Negotiation& n, const proto::ControlMessage& m) {
  proto::Bytes plain = m.encode();
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (n.control->seal(proto::PacketType::kTunnelControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  // The request goes to every endpoint the DC knows for the peer (NAT outside address
  // first); the response goes back to where the request came from.
  for (auto& e : n.peer_endpoints) udp_.send(e, out.data(), out.size());
}

void Negotiator::send_tunnel_request(Negotiation& n) {
  if (n.tries == 0) n.request_message_id = crypto::random_u32();
  proto::ControlMessage req(proto::MessageType::kTunnelRequest, n.request_message_id);
  if (n.tries > 0) req.flags = proto::kFlagRetransmission;
  req.add_u32(proto::AttrType::kDirectionId, n.direction_id);
  req.add(proto::AttrType::kEphemeralKey, n.ephemeral_public);
  req.add_u32(proto::AttrType::kTunnelId, n.local_tunnel_id);
  send_tunnel_control(n, req);
  ++n.tries;
  n.timer.expires_after(std::chrono::milliseconds(kTunnelRequestPolicy.timeout_ms(n.tries)));
  n.timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it == negotiations_.end() || it->second->established) return;
    if (it->second->tries >= kTunnelRequestPolicy.max_tries) {
      fail_negotiation(id, "no tunnel response from the peer");
      return;
    }
    send_tunnel_request(*it->second);
  });
}

void Negotiator::on_tunnel_control(proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(d, h)) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = negotiations_.find(h.receiver_index);
  if (it == negotiations_.end()) {
    // The peer's route direction may have been faster than ours: keep its request briefly.
    // The key is an unauthenticated header field, so entries expire and the map is bounded.
    auto now = std::chrono::steady_clock::now();
    std::erase_if(early_, [&](auto& e) { return now - e.second.at > kEarlyLifetime; });
    if (early_.size() < kMaxEarly) {
      early_[h.receiver_index] = {proto::Bytes(d.begin(), d.end()), from, now};
    } else {
      stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  Negotiation& n = *it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  if (n.control->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(plain, err);
  if (!m || m->get_u32(proto::AttrType::kDirectionId) != n.direction_id) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (m->type == proto::MessageType::kTunnelRequest && n.role == proto::Role::kResponder) {
    consume_tunnel_request(n, *m, from);
  } else if (m->type == proto::MessageType::kTunnelResponse && n.role == proto::Role::kInitiator) {
    consume_tunnel_response(n, *m, from);
  } else {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
  }
}

void Negotiator::consume_tunnel_request(Negotiation& n, const proto::ControlMessage& m,
                                        const proto::Endpoint& from) {
  auto peer_eph = m.get_key(proto::AttrType::kEphemeralKey);
  auto peer_id = m.get_u32(proto::AttrType::kTunnelId);
  if (!peer_eph || !peer_id) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  n.peer_endpoints = {from};
  if (n.established) {
    // A retransmitted request (same ephemeral key): our response was lost, so the same
    // answer again, nothing re-derived. A different key under this direction is refused.
    proto::DecodeError err;
    auto cached = proto::ControlMessage::decode(n.cached_response, err);
    if (*peer_eph == n.peer_ephemeral && cached) {
      send_tunnel_control(n, *cached);
    } else {
      stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  crypto::DirectionalKeys keys;
  if (!crypto::tunnel_data_keys(n.temporal_key, n.role, n.ephemeral_private, n.ephemeral_public,
                                *peer_eph, keys)) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  proto::ControlMessage resp(proto::MessageType::kTunnelResponse, m.message_id);
  resp.add_u32(proto::AttrType::kDirectionId, n.direction_id);
  resp.add(proto::AttrType::kEphemeralKey, n.ephemeral_public);
  resp.add_u32(proto::AttrType::kTunnelId, n.local_tunnel_id);
  n.peer_ephemeral = *peer_eph;
  n.cached_response = resp.encode();
  // Installed before the response leaves, as the initiator may send data right after it; our
  // own queued packets wait until the initiator's first data packet confirms the tunnel.
  install(n, keys, *peer_id, from);
  send_tunnel_control(n, resp);  // step 18
}

void Negotiator::consume_tunnel_response(Negotiation& n, const proto::ControlMessage& m,
                                         const proto::Endpoint& from) {
  if (m.message_id != n.request_message_id) return;
  if (n.established) {
    // The responder repeats its response until it hears from us: our keep-alive was lost.
    if (n.tunnel && data_plane_) data_plane_->send_keepalive(*n.tunnel);
    return;
  }
  auto peer_eph = m.get_key(proto::AttrType::kEphemeralKey);
  auto peer_id = m.get_u32(proto::AttrType::kTunnelId);
  crypto::DirectionalKeys keys;
  if (!peer_eph || !peer_id ||
      !crypto::tunnel_data_keys(n.temporal_key, n.role, n.ephemeral_private, n.ephemeral_public,
                                *peer_eph, keys)) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  n.timer.cancel();
  install(n, keys, *peer_id, from);
}

void Negotiator::install(Negotiation& n, const crypto::DirectionalKeys& keys,
                         uint32_t peer_tunnel_id, const proto::Endpoint& from) {
  // A new direction towards a peer we already have a tunnel with replaces that tunnel.
  std::vector<uint32_t> replaced;
  if (n.peer_vip4)
    if (auto old = tunnels_.find_by_vip4(*n.peer_vip4)) replaced.push_back(old->local_id);
  if (n.peer_vip6)
    if (auto old = tunnels_.find_by_vip6(*n.peer_vip6)) replaced.push_back(old->local_id);
  auto t = std::make_shared<packet::Tunnel>();
  t->local_id = n.local_tunnel_id;
  t->direction_id = n.direction_id;
  if (n.peer_vip4) t->has_vip4 = true, t->peer_vip4 = *n.peer_vip4;
  if (n.peer_vip6) t->has_vip6 = true, t->peer_vip6 = *n.peer_vip6;
  t->session = std::make_unique<crypto::Session>(keys.send, keys.recv, peer_tunnel_id);
  t->set_endpoint(from);
  // The initiator holds the tunnel response, so the responder has the tunnel: confirmed.
  t->confirmed = n.role == proto::Role::kInitiator;
  n.established = true;
  n.tunnel = t;
  if (data_plane_) {
    data_plane_->install_tunnel(t);
    if (n.role == proto::Role::kInitiator) data_plane_->send_keepalive(*t);
  }
  if (n.role == proto::Role::kResponder) schedule_confirm_check(n);
  auto ms = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  n.started)
                .count() /
            1000.0;
  ntm::log().info("tunnel {} to {} established via {} ({:.2f} ms after route direction)",
                  t->local_id, n.peer_fqdn, from.to_string(), ms);
  { std::lock_guard l(wait_mu_); }
  wait_cv_.notify_all();
  // Packets already in flight under a replaced tunnel still decrypt for a grace period.
  for (uint32_t old : replaced) {
    if (old == t->local_id) continue;
    auto timer = std::make_shared<asio::steady_timer>(io_, kOldTunnelGrace);
    timer->async_wait([this, old, timer](std::error_code) { tunnels_.remove(old); });
  }
  // The responder keeps its negotiation to answer duplicate requests; both drop it later.
  n.timer.expires_after(std::chrono::seconds(30));
  n.timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (!ec) negotiations_.erase(id);
  });
}

void Negotiator::schedule_confirm_check(Negotiation& n) {
  n.confirm_timer.expires_after(
      std::chrono::milliseconds(kTunnelRequestPolicy.timeout_ms(++n.confirm_tries)));
  n.confirm_timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it == negotiations_.end()) return;
    Negotiation& n = *it->second;
    if (!n.tunnel || n.tunnel->confirmed || n.confirm_tries >= kTunnelRequestPolicy.max_tries)
      return;
    proto::DecodeError err;
    if (auto cached = proto::ControlMessage::decode(n.cached_response, err))
      send_tunnel_control(n, *cached);
    schedule_confirm_check(n);
  });
}

void Negotiator::fail_negotiation(uint32_t direction_id, const char* why) {
  auto it = negotiations_.find(direction_id);
  if (it == negotiations_.end()) return;
  Negotiation& n = *it->second;
  ntm::log().warn("tunnel negotiation {} to {} failed: {}", direction_id, n.peer_fqdn, why);
  if (data_plane_ && !tunnel_exists(n.peer_vip4, n.peer_vip6)) {
    if (n.peer_vip4) data_plane_->drop_pending(packet::vip_key4(*n.peer_vip4));
    if (n.peer_vip6) data_plane_->drop_pending(packet::vip_key6(*n.peer_vip6));
  }
  negotiations_.erase(it);
}

}  // namespace ntm::negotiation
