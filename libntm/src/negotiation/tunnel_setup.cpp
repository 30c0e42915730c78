// Tunnel request / tunnel response between the two nodes (paper 002 Fig. 3 steps 17-19,
// docs/protocol.md §7.5): a Noise KKpsk0 handshake (crypto/tunnel_handshake.h) authenticated
// by both static keys and, for the first handshake, the route direction's temporal key; each
// rekey (§7.8) repeats it with the previous handshake's rekey secret.
//
// 1. initiator: message 1 = tunnel request (TunnelId, HandshakeSeq), sent along every path
//    to the peer (candidates, relay; path_selection.cpp) and retransmitted unchanged until
//    message 2 arrives; its TunnelId stays reserved so that data the responder sends right
//    after message 2 waits for it instead of being dropped
// 2. responder: a duplicate message 1 (same bytes) gets the same message 2; a new one must
//    authenticate and carry the next HandshakeSeq; message 2 goes back along the path message
//    1 came on. The first handshake's keypair carries the responder's traffic at once (one
//    node-to-node trip after the route direction); a rekey's only receives until confirmed
// 3. initiator: message 2 authenticates → its keypair carries traffic at once; a keep-alive
//    confirms it to the responder
// 4. responder (rekey): the first packet on the new keypair promotes it (packet/receive.cpp →
//    on_confirmed); the replaced keypair still decrypts for kOldTunnelGrace
// 5. both: path probes towards better candidates (path_selection.cpp)
#include "node/log.h"

#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {
namespace {
constexpr proto::RetransmitPolicy kTunnelRequestPolicy{100, 1000, 8};
/// The responder re-sends its response at most this often without a new request: the
/// initiator's retransmissions cover the rest, and it bounds what a message 1 sent from a
/// spoofed address can make us send there.
constexpr uint32_t kMaxConfirmResends = 2;
constexpr size_t kMaxEarly = 64;
constexpr auto kEarlyLifetime = std::chrono::seconds(5);
constexpr auto kOldTunnelGrace = std::chrono::seconds(10);
constexpr auto kRekeyRetry = std::chrono::seconds(5);

crypto::Key e_of(proto::ByteView msg) {
  crypto::Key e;
  std::copy(msg.begin() + 8, msg.begin() + 40, e.begin());
  return e;
}

}  // namespace

bool Negotiator::start_handshake(Negotiation& n, uint32_t seq, const crypto::Key& psk) {
  crypto::TunnelHandshakeParams p;
  p.local_static_private = key_.private_key;
  p.peer_static_public = n.peer_static;
  p.psk = psk;
  p.direction_id = n.direction_id;
  p.role = proto::Role::kInitiator;
  // An earlier handshake that never completed leaves its reserved tunnel ID behind.
  if (n.hs && !n.hs->complete() && n.local_tunnel_id) release_tunnel_id(n.local_tunnel_id);
  n.hs = std::make_unique<crypto::TunnelHandshake>(p);
  n.seq = seq;
  n.local_tunnel_id = tunnels_.allocate_id();
  n.request_message_id = crypto::random_u32();
  proto::ControlMessage req(proto::MessageType::kTunnelRequest, n.request_message_id);
  req.add_u32(proto::AttrType::kTunnelId, n.local_tunnel_id);
  req.add_u32(proto::AttrType::kHandshakeSeq, seq);
  n.request = n.hs->create_request(req.encode());
  if (seq == 0) sodium_memzero(n.temporal_key.data(), n.temporal_key.size());
  if (n.request.empty()) return false;  // the peer's static key is a low-order point
  n.tries = 0;
  send_tunnel_request(n);
  return true;
}

void Negotiator::release_tunnel_id(uint32_t id) {
  // Packets the peer sent under a keypair this node never completed: unknown tunnel.
  stats_.drop_unknown_tunnel.fetch_add(tunnels_.release_id(id), std::memory_order_relaxed);
}

void Negotiator::send_tunnel_request(Negotiation& n) {
  // A rekey goes along the path the tunnel uses; the first handshake along every path.
  std::vector<packet::Path> targets = n.established && n.tunnel
                                          ? std::vector<packet::Path>{n.tunnel->endpoint()}
                                          : request_targets(n, n.request.size());
  for (auto& t : targets) udp_.send(t, n.request.data(), n.request.size());
  ++n.tries;
  n.timer.expires_after(std::chrono::milliseconds(kTunnelRequestPolicy.timeout_ms(n.tries)));
  n.timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it == negotiations_.end()) return;
    Negotiation& n = *it->second;
    if (n.hs->complete()) return;
    if (n.tries < kTunnelRequestPolicy.max_tries) return send_tunnel_request(n);
    release_tunnel_id(n.local_tunnel_id);
    if (!n.established) return fail_negotiation(id, "no tunnel response from the peer");
    // A failed rekey: the tunnel goes on with its keys and tries again later (or expires).
    ntm::log().info("rekey of tunnel {} to {} unanswered; retrying later", n.tunnel->local_id,
                    n.peer_fqdn);
    n.rekeying = false;
    n.next_rekey_attempt = std::chrono::steady_clock::now() + kRekeyRetry;
  });
}

void Negotiator::on_tunnel_handshake(proto::ByteView d, const packet::Path& from) {
  uint32_t direction_id;
  if (!crypto::parse_tunnel_handshake(d, direction_id)) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = negotiations_.find(direction_id);
  if (it == negotiations_.end()) {
    // The peer's route direction may have been faster than ours: keep its request briefly.
    // The key is an unauthenticated header field, so entries expire and the map is bounded;
    // a direction already finished is not waited for.
    auto now = std::chrono::steady_clock::now();
    std::erase_if(early_, [&](auto& e) { return now - e.second.at > kEarlyLifetime; });
    if (early_.size() < kMaxEarly && !directions_seen_.count(direction_id)) {
      early_[direction_id] = {proto::Bytes(d.begin(), d.end()), from, now};
    } else {
      stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  Negotiation& n = *it->second;
  if (n.role == proto::Role::kResponder) {
    consume_tunnel_request(n, d, from);
  } else {
    consume_tunnel_response(n, d, from);
  }
}

void Negotiator::consume_tunnel_request(Negotiation& n, proto::ByteView d,
                                        const packet::Path& from) {
  // 2. A retransmission of the request we answered (the same bytes): the same answer, nothing
  // re-derived — as often as the initiator retransmits at most, so a recorded request sent
  // from forged addresses cannot make us a source of traffic.
  if (!n.response.empty() && d.size() == n.answered.size() &&
      std::equal(d.begin(), d.end(), n.answered.begin())) {
    if (n.duplicates++ < kTunnelRequestPolicy.max_tries)
      udp_.send(from, n.response.data(), n.response.size());
    return;
  }
  if (!n.response.empty() && n.seq == 0 && !n.established) {
    // The first handshake was answered; only its own retransmission is valid until it is
    // confirmed (a replay of another message 1 cannot replace that keypair).
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint32_t expected = n.established ? n.confirmed_seq + 1 : 0;
  crypto::TunnelHandshakeParams p;
  p.local_static_private = key_.private_key;
  p.peer_static_public = n.peer_static;
  p.psk = n.established ? n.rekey_secret : n.temporal_key;
  p.direction_id = n.direction_id;
  p.role = proto::Role::kResponder;
  auto hs = std::make_unique<crypto::TunnelHandshake>(p);
  auto payload = hs->consume_request(d);
  proto::DecodeError err;
  std::optional<proto::ControlMessage> m;
  if (payload) m = proto::ControlMessage::decode(*payload, err);
  auto peer_id = m ? m->get_u32(proto::AttrType::kTunnelId) : std::nullopt;
  auto seq = m ? m->get_u32(proto::AttrType::kHandshakeSeq) : std::nullopt;
  if (!m || m->type != proto::MessageType::kTunnelRequest || !peer_id || *peer_id == 0 ||
      seq != expected) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint32_t local_id = tunnels_.allocate_id();
  proto::ControlMessage resp(proto::MessageType::kTunnelResponse, m->message_id);
  resp.add_u32(proto::AttrType::kTunnelId, local_id);
  resp.add_u32(proto::AttrType::kHandshakeSeq, *seq);
  proto::Bytes response = hs->create_response(resp.encode());
  if (response.empty()) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  n.hs = std::move(hs);
  n.seq = *seq;
  n.local_tunnel_id = local_id;
  n.response = std::move(response);
  n.answered.assign(d.begin(), d.end());
  n.duplicates = 0;
  n.pending_rekey_secret = n.hs->rekey_secret();
  sodium_memzero(n.temporal_key.data(), n.temporal_key.size());
  n.timer.cancel();
  auto t = make_tunnel(n, *peer_id, from);
  if (!n.established) {
    // The first handshake: message 1 came fresh (its direction ID is used once, its psk is
    // this negotiation's T, and a copy is recognised above), so the keypair carries our
    // traffic at once — behind message 2 on the same path; the initiator holds data that
    // overtakes it (its reserved tunnel ID).
    udp_.send(from, n.response.data(), n.response.size());  // step 18
    t->confirmed = true;
    n.rekey_secret = n.pending_rekey_secret;
    n.confirmed_seq = n.seq;
    std::vector<std::shared_ptr<packet::Tunnel>> replaced;
    if (data_plane_) replaced = data_plane_->install_tunnel(t);
    on_established(n, t, std::move(replaced));
    return;
  }
  // A rekey: installed before the response leaves, as the initiator may send data right after
  // it; it carries our traffic once the initiator's first packet confirms it.
  if (n.pending) {
    auto old = n.pending;  // an earlier answer the initiator evidently did not get
    auto timer = std::make_shared<asio::steady_timer>(io_, kOldTunnelGrace);
    timer->async_wait([this, old, timer](std::error_code) { tunnels_.remove(old->local_id); });
  }
  n.pending = t;
  if (data_plane_) data_plane_->install_tunnel(t);
  udp_.send(from, n.response.data(), n.response.size());  // step 18
  n.confirm_tries = 0;
  schedule_confirm_check(n);
}

void Negotiator::consume_tunnel_response(Negotiation& n, proto::ByteView d,
                                         const packet::Path& from) {
  if (!n.hs || n.hs->complete()) {
    // The responder repeats its response until it hears from us: our keep-alive was lost.
    if (n.hs && e_of(d) == n.response_e && n.tunnel && data_plane_)
      data_plane_->send_keepalive(*n.tunnel);
    else
      stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto payload = n.hs->consume_response(d);  // 3
  proto::DecodeError err;
  std::optional<proto::ControlMessage> m;
  if (payload) m = proto::ControlMessage::decode(*payload, err);
  auto peer_id = m ? m->get_u32(proto::AttrType::kTunnelId) : std::nullopt;
  auto seq = m ? m->get_u32(proto::AttrType::kHandshakeSeq) : std::nullopt;
  if (!payload) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!m || m->type != proto::MessageType::kTunnelResponse ||
      m->message_id != n.request_message_id || !peer_id || *peer_id == 0 || seq != n.seq) {
    // Authentic but wrong: the peer is not speaking this protocol; give up on this handshake.
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    if (!n.established) fail_negotiation(n.direction_id, "malformed tunnel response");
    return;
  }
  n.timer.cancel();
  n.response_e = e_of(d);
  auto t = make_tunnel(n, *peer_id, from);
  t->confirmed = true;  // the responder installed it before answering
  // The response came along a path we sent the request on (validated), or from an address
  // the peer's NAT chose: then it is validated like any new address (path challenge).
  bool sent_there = n.established && n.tunnel ? from == n.tunnel->endpoint() : false;
  for (auto& c : n.paths) sent_there = sent_there || (!n.established && c.path == from);
  uint64_t token = sent_there ? 0 : t->start_probe(d.size());
  std::vector<std::shared_ptr<packet::Tunnel>> replaced;
  if (data_plane_) replaced = data_plane_->install_tunnel(t);
  if (token && data_plane_) data_plane_->send_path_challenge(*t, token);
  n.rekey_secret = n.hs->rekey_secret();
  n.confirmed_seq = n.seq;
  n.rekeying = false;
  if (data_plane_) data_plane_->send_keepalive(*t);
  on_established(n, t, std::move(replaced));
  // Data the responder sent before we had its response (held by the tunnel table), into the
  // stack before any later packet of this tunnel.
  if (data_plane_) data_plane_->deliver_held(t);
}

std::shared_ptr<packet::Tunnel> Negotiator::make_tunnel(Negotiation& n, uint32_t peer_tunnel_id,
                                                        const packet::Path& from) {
  auto t = std::make_shared<packet::Tunnel>();
  t->local_id = n.local_tunnel_id;
  t->direction_id = n.direction_id;
  if (n.peer_vip4) t->has_vip4 = true, t->peer_vip4 = *n.peer_vip4;
  if (n.peer_vip6) t->has_vip6 = true, t->peer_vip6 = *n.peer_vip6;
  t->peer_static = n.peer_static;
  t->rekey_driver = n.role == proto::Role::kInitiator;
  t->rekey_after_messages = cfg_.rekey_after_messages;
  const crypto::DirectionalKeys& keys = n.hs->keys();
  t->session = std::make_unique<crypto::Session>(keys.send, keys.recv, peer_tunnel_id);
  t->set_endpoint(from);
  return t;
}

void Negotiator::on_confirmed(const std::shared_ptr<packet::Tunnel>& t,
                              const std::vector<std::shared_ptr<packet::Tunnel>>& replaced) {
  auto it = negotiations_.find(t->direction_id);
  if (it == negotiations_.end() || it->second->pending != t) {
    retire(replaced, t->direction_id);
    return;
  }
  Negotiation& n = *it->second;
  n.pending = nullptr;
  n.confirm_timer.cancel();
  n.rekey_secret = n.pending_rekey_secret;
  n.confirmed_seq = n.seq;
  on_established(n, t, replaced);
}

void Negotiator::on_established(Negotiation& n, const std::shared_ptr<packet::Tunnel>& t,
                                std::vector<std::shared_ptr<packet::Tunnel>> replaced) {
  bool rekey = n.established;
  if (n.tunnel && n.tunnel != t &&
      std::find(replaced.begin(), replaced.end(), n.tunnel) == replaced.end())
    replaced.push_back(n.tunnel);
  n.tunnel = t;
  n.established = true;
  sync_known_paths(n);
  n.rx_seen = 0;
  n.rx_changed = std::chrono::steady_clock::now();
  if (rekey) {
    stats_.rekeys.fetch_add(1, std::memory_order_relaxed);
    ntm::log().debug("tunnel to {} rekeyed (handshake {}), keypair {}", n.peer_fqdn, n.seq,
                     t->local_id);
  } else {
    auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - n.started)
                  .count() /
              1000.0;
    ntm::log().info("tunnel {} to {} established via {} ({:.2f} ms after route direction)",
                    t->local_id, n.peer_fqdn, t->endpoint().to_string(), ms);
    n.punch_timer.cancel();
    start_path_probes(n);
    // A tunnel that replaces another one to the same peer (re-created after a move, or after
    // its path died): the peer's TCP connections may wait for a backed-off timer.
    if (!replaced.empty()) {
      if (change_at_ != std::chrono::steady_clock::time_point{} &&
          std::chrono::steady_clock::now() - change_at_ < std::chrono::seconds(30))
        ntm::log().info(
            "tunnel {} to {} replaces the old one {:.1f} ms after the network change", t->local_id,
            n.peer_fqdn,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - change_at_)
                .count());
      retire(std::move(replaced), n.direction_id);
      nudge_tcp(n.peer_vip4, n.peer_vip6, "tunnel re-created");
      { std::lock_guard l(wait_mu_); }
      wait_cv_.notify_all();
      return;
    }
  }
  retire(std::move(replaced), n.direction_id);
  { std::lock_guard l(wait_mu_); }
  wait_cv_.notify_all();
}

void Negotiator::retire(std::vector<std::shared_ptr<packet::Tunnel>> replaced,
                        uint32_t keep_direction) {
  // Packets already in flight under a replaced keypair still decrypt for a grace period. A
  // keypair of another negotiation means that negotiation's tunnel was replaced by a newer
  // direction to the same peer (same key, checked when the route direction came): it ends.
  for (auto& old : replaced) {
    uint32_t id = old->local_id;
    auto timer = std::make_shared<asio::steady_timer>(io_, kOldTunnelGrace);
    timer->async_wait([this, id, timer](std::error_code) { tunnels_.remove(id); });
    if (old->direction_id == keep_direction) continue;
    auto other = negotiations_.find(old->direction_id);
    if (other != negotiations_.end() && other->second->tunnel == old) {
      other->second->tunnel = nullptr;  // its keypair stays until the grace timer above
      if (other->second->pending) tunnels_.remove(other->second->pending->local_id);
      negotiations_.erase(other);
      count_negotiations();
    }
  }
}

void Negotiator::schedule_confirm_check(Negotiation& n) {
  n.confirm_timer.expires_after(
      std::chrono::milliseconds(kTunnelRequestPolicy.timeout_ms(++n.confirm_tries)));
  n.confirm_timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it == negotiations_.end()) return;
    Negotiation& n = *it->second;
    if (!n.pending || n.pending->confirmed) return;
    if (n.confirm_tries > kMaxConfirmResends) return;
    udp_.send(n.pending->endpoint(), n.response.data(), n.response.size());
    schedule_confirm_check(n);
  });
}

void Negotiator::fail_negotiation(uint32_t direction_id, const char* why) {
  auto it = negotiations_.find(direction_id);
  if (it == negotiations_.end()) return;
  ntm::log().warn("tunnel negotiation {:08x} to {} failed: {}", direction_id, it->second->peer_fqdn,
                  why);
  erase_negotiation(direction_id);
}

void Negotiator::erase_negotiation(uint32_t direction_id) {
  auto it = negotiations_.find(direction_id);
  if (it == negotiations_.end()) return;
  Negotiation& n = *it->second;
  n.timer.cancel();
  n.confirm_timer.cancel();
  forget_paths(n);
  if (n.hs && !n.hs->complete()) release_tunnel_id(n.local_tunnel_id);
  if (n.tunnel) tunnels_.remove(n.tunnel->local_id);
  if (n.pending) tunnels_.remove(n.pending->local_id);
  if (data_plane_ && !tunnel_exists(n.peer_vip4, n.peer_vip6)) {
    if (n.peer_vip4) data_plane_->drop_pending(packet::vip_key4(*n.peer_vip4));
    if (n.peer_vip6) data_plane_->drop_pending(packet::vip_key6(*n.peer_vip6));
  }
  negotiations_.erase(it);
  count_negotiations();
}

}  // namespace ntm::negotiation
