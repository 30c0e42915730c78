// Timers of established tunnels, one tick for all (docs/protocol.md §7.8, §8.4):
//
// 1. keep-alives (paper 002 Fig. 3 step 20: "to keep the NAT table on the route"): a tunnel
//    that sent nothing for a keep-alive interval sends one empty data packet, so the NAT
//    bindings between the two nodes stay open while the application is idle. A busy tunnel
//    sends none: the check compares the keypair's packet counter with the last tick's, so the
//    packet path pays nothing for it.
// 2. expiry: a tunnel that received no authenticated packet for tunnel_timeout_ms (its peer
//    sends keep-alives, so it is gone) is removed, and stops sending keep-alives.
// 3. key age: keys are never used past 1.5 × rekey_after_ms (WireGuard's REJECT_AFTER_TIME):
//    a tunnel whose rekeying kept failing is removed, and the next packet negotiates anew.
// 4. rekey: the tunnel's initiator starts a new handshake when its keys are rekey_after_ms old
//    or either direction has sealed rekey_after_messages packets (it sees the peer's counters
//    in the packets it receives). Traffic stays on the old keypair until the new one is
//    confirmed, so a rekey does not interrupt it.
#include "node/log.h"

#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

void Negotiator::schedule_tunnel_timers() {
  uint32_t period = std::min(
      {1000u, cfg_.keepalive_interval_ms / 2, cfg_.rekey_after_ms / 8, cfg_.tunnel_timeout_ms / 8});
  period = std::max(period, 20u);
  tunnel_timer_.expires_after(std::chrono::milliseconds(period));
  tunnel_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    on_tunnel_tick();
    schedule_tunnel_timers();
  });
}

void Negotiator::on_tunnel_tick() {
  auto now = std::chrono::steady_clock::now();
  auto keepalive = std::chrono::milliseconds(cfg_.keepalive_interval_ms);
  auto timeout = std::chrono::milliseconds(cfg_.tunnel_timeout_ms);
  auto rekey_after = std::chrono::milliseconds(cfg_.rekey_after_ms);
  auto reject_after = rekey_after * 3 / 2;
  std::map<uint32_t, SendActivity> activity;
  std::vector<std::pair<uint32_t, const char*>> expired, dead;
  for (auto& [id, np] : negotiations_) {
    Negotiation& n = *np;
    // A responder that answered but never heard from the initiator on the new keypair.
    if (!n.established && n.pending && now - n.started >= timeout) {
      expired.push_back({id, "the initiator never confirmed the tunnel"});
      continue;
    }
    if (!n.established || !n.tunnel) continue;
    packet::Tunnel& t = *n.tunnel;
    // A peer address still unvalidated: its path challenge (or the answer) may have been lost.
    if (uint64_t token = t.probe_token(); token && data_plane_)
      data_plane_->send_path_challenge(t, token);
    // 1
    // Data and keep-alives only: path challenges and responses do not count (Tunnel::
    // tx_tunnel_messages), or two idle peers would answer each other's checks forever.
    auto sent_other = [&t] {
      uint64_t messages = t.tx_tunnel_messages.load(std::memory_order_relaxed);
      return t.session->packets_sent() - messages;
    };
    uint64_t sent = sent_other();
    auto last = send_activity_.find(t.local_id);
    SendActivity a{sent, now};
    if (last != send_activity_.end() && last->second.sent == sent) a.changed = last->second.changed;
    if (now - a.changed >= keepalive && data_plane_) {
      data_plane_->send_keepalive(t);
      a = {sent_other(), now};
    }
    activity[t.local_id] = a;
    send_activity_[t.local_id] = a;
    // A path that carries our packets but brings nothing back (path_selection.cpp).
    if (const char* why = check_path(n, now)) {
      dead.push_back({id, why});
      continue;
    }
    // 2: any keypair of this negotiation counts (the peer may still use the previous one).
    uint64_t rx = t.rx_packets.load(std::memory_order_relaxed) +
                  (n.pending ? n.pending->rx_packets.load(std::memory_order_relaxed) : 0);
    if (rx != n.rx_seen) {
      n.rx_seen = rx;
      n.rx_changed = now;
    } else if (now - n.rx_changed >= timeout) {
      expired.push_back({id, "no authenticated packet from the peer"});
      continue;
    }
    // 3
    if (now - t.born >= reject_after) {
      expired.push_back({id, "its keys are too old and rekeying failed"});
      continue;
    }
    // 4
    if (n.role != proto::Role::kInitiator || n.rekeying || now < n.next_rekey_attempt) continue;
    if (now - t.born >= rekey_after || sent >= cfg_.rekey_after_messages ||
        t.session->highest_received() >= cfg_.rekey_after_messages) {
      if (!start_rekey(n)) expired.push_back({id, "its rekey handshake could not be made"});
    }
  }
  send_activity_ = std::move(activity);  // forgets removed keypairs
  for (auto& [id, why] : dead)
    if (auto it = negotiations_.find(id); it != negotiations_.end()) fall_back(*it->second, why);
  for (auto& [id, why] : expired) {
    auto it = negotiations_.find(id);
    if (it == negotiations_.end()) continue;
    stats_.tunnels_expired.fetch_add(1, std::memory_order_relaxed);
    ntm::log().info("tunnel to {} removed: {}", it->second->peer_fqdn, why);
    erase_negotiation(id);
  }
}

bool Negotiator::start_rekey(Negotiation& n) {
  n.rekeying = true;
  return start_handshake(n, n.confirmed_seq + 1, n.rekey_secret);
}

void Negotiator::on_rekey_due(uint32_t local_id) {
  for (auto& [id, n] : negotiations_) {
    if (!n->tunnel || n->tunnel->local_id != local_id) continue;
    if (n->role == proto::Role::kInitiator && !n->rekeying && !stopped_) {
      if (!start_rekey(*n)) erase_negotiation(id);
    }
    return;
  }
}

}  // namespace ntm::negotiation
