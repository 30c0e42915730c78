// What the negotiation module does when the node moved (paper 002 Fig. 5, "switching of access
// network"; the sequence as implemented is docs/architecture.md §4.1):
//
//   0 ms   the handover module sees the change (rtnetlink, handover/link_monitor.h) and, after
//          its quiet period, calls on_network_change():
//          - every tunnel sends an authenticated keep-alive and a path challenge from the new
//            position: a peer that can be reached directly moves the tunnel to our new
//            endpoint on the first of them (roaming, docs/protocol.md §8.3; the fast path,
//            beyond the paper) and answers the challenge;
//          - registration with the DC from the new position (steps 3-6: a fresh handshake with
//            the registration request in message 1, one round trip).
//   then   registered again (on_registered_again()): every tunnel whose peer has not answered
//          the challenge yet is re-created through the DC (steps 9-28): a direction request by
//          the peer's vIP, route directions to both ends, a tunnel handshake on the path the
//          DC chose for the new position (direct, punched, or relayed), which replaces the
//          old tunnel — same vIPs, same peer key (direction.cpp accepts only that) — so the
//          application's sockets go on. Tunnels the fast path already moved are left alone.
//   then   as soon as a tunnel's path works again (the challenge's answer, or the re-created
//          tunnel), TCP connections to that peer that wait for a backed-off retransmission
//          timer retransmit at once (packet/tcp_nudge.h).
//
// The peer's side: when our first packet from the new position reaches it, it challenges the
// new address (roaming); the answer validates it, and its TCP is nudged the same way
// (on_peer_moved()).
#include <arpa/inet.h>

#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"
#include "node/log.h"
#include "packet/tcp_nudge.h"

namespace ntm::negotiation {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void Negotiator::on_network_change(const std::string& why,
                                   std::chrono::steady_clock::time_point since) {
  if (stopped_) return;
  // Still starting: the start's own handshake goes on (each try to a DC endpoint the host
  // has a route to now); a second one would replace it and leave ntm_start() unanswered.
  if (registration().fqdn.empty()) {
    ntm::log().info("network changed ({}) while starting: the registration under way goes on", why);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  change_at_ = since == std::chrono::steady_clock::time_point{} ? now : since;
  moved_ = true;
  size_t announced = 0;
  if (data_plane_)
    for (auto& [id, n] : negotiations_)
      if (n->established && n->tunnel) {
        // The challenge first, padded (RFC 9000 §8.2.1): the peer roams on it, and may send
        // 3× its size to our new address before validating it — room for its TCP to resend
        // at once (on_peer_roamed) instead of one more round trip later.
        n->move_token = fresh_token();
        n->moved_at = now;
        packet::Path current = n->tunnel->endpoint();
        data_plane_->send_path_challenge(*n->tunnel, n->move_token, &current,
                                         proto::kPaddedChallengeSize);
        data_plane_->send_keepalive(*n->tunnel);
        ++announced;
      }
  ntm::log().info(
      "network changed ({}, first seen {:.1f} ms ago): registering again, new path announced on "
      "{} tunnel(s)",
      why, ms_since(change_at_), announced);
  recover(true);
  // The NS connection left from the old address may be dead without a word: a new one now,
  // not at the next ping (docs/protocol.md §17.1).
  if (ns_link_) ns_link_->reconnect();
}

void Negotiator::on_registered_again() {
  if (!moved_) return;
  moved_ = false;
  registered_at_ = std::chrono::steady_clock::now();
  std::vector<Negotiation*> stale;
  for (auto& [id, n] : negotiations_)
    if (n->established && n->tunnel && n->move_token) stale.push_back(n.get());
  ntm::log().info("registered again {:.1f} ms after the network change; re-creating {} tunnel(s)",
                  ms_since(change_at_), stale.size());
  for (Negotiation* n : stale) recreate_tunnel(*n);
}

void Negotiator::recreate_tunnel(Negotiation& n) {
  // A negotiation to the same peer still under way (the peer re-creates the tunnel too: it
  // moved as well, or its own check found the path dead) will replace this tunnel anyway.
  for (auto& [id, other] : negotiations_)
    if (other.get() != &n && !other->established &&
        ((n.peer_vip4 && other->peer_vip4 == n.peer_vip4) ||
         (n.peer_vip6 && other->peer_vip6 == n.peer_vip6)))
      return;
  char text[INET6_ADDRSTRLEN] = "";
  proto::ControlMessage req(proto::MessageType::kDirectionRequest, 0);
  if (n.peer_vip4) {
    inet_ntop(AF_INET, &*n.peer_vip4, text, sizeof text);
    req.add(proto::AttrType::kPeerVip4,
            proto::ByteView(reinterpret_cast<const uint8_t*>(&*n.peer_vip4), 4));
  } else if (n.peer_vip6) {
    inet_ntop(AF_INET6, n.peer_vip6->data(), text, sizeof text);
    req.add(proto::AttrType::kPeerVip6, *n.peer_vip6);
  } else {
    return;
  }
  std::string key = text;
  // A peer of another zone: its own DC knows it by vIP, ours only by name (§16).
  if (auto f = foreign_names_.find(key); f != foreign_names_.end()) {
    key = f->second;
    req = proto::ControlMessage(proto::MessageType::kDirectionRequest, 0);
    req.add_string(proto::AttrType::kFqdn, key);
  }
  ntm::log().info(
      "tunnel {} to {}: no answer from the new position yet; asking the DC for a new "
      "tunnel",
      n.tunnel ? n.tunnel->local_id : 0, n.peer_fqdn);
  auto& waiters = resolving_[key];
  waiters.push_back([key](Resolution r) {
    if (r.error) ntm::log().warn("re-creating the tunnel to {}: {}", key, r.error_text);
  });
  if (waiters.size() == 1) send_direction_request(key, std::move(req));
}

void Negotiator::nudge_tcp(const std::optional<uint32_t>& vip4,
                           const std::optional<packet::Vip6>& vip6, const char* why) {
  if (!data_plane_) return;
  if (size_t n = packet::nudge_tcp(vip4, vip6))
    ntm::log().info("{}: {} TCP connection(s) retransmit now", why, n);
}

void Negotiator::on_peer_moved(uint32_t local_id, bool validated) {
  if (stopped_) return;
  if (auto t = tunnels_.find_by_id(local_id))
    nudge_tcp(t->has_vip4 ? std::optional(t->peer_vip4) : std::nullopt,
              t->has_vip6 ? std::optional(t->peer_vip6) : std::nullopt,
              validated ? "the peer's new address is validated" : "the peer moved");
}

}  // namespace ntm::negotiation
