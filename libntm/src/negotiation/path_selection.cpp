// Paths to the peer (docs/protocol.md §7.9, §12; paper 000's private-first hole punching,
// paper 001's ICE-style checks, paper 002 §2.4's relay server):
//
// 1. the route direction lists the peer's candidates best first — LAN endpoints, then public
//    or NAT-mapped ones — and may add a relay session (server, ticket, side key)
// 2. at once, both nodes bind to the relay (authenticated by the side key); the initiator
//    sends its tunnel request to every candidate and through the relay, the responder sends
//    authenticated punches to every candidate: each opens its own NAT towards the other, so
//    the first request that gets through wins (one handshake, no collision of two Noise
//    initiators)
// 3. a punch from an address the initiator did not know (a symmetric NAT's new port) adds
//    that address as a candidate, within 3x the punches' bytes until the peer answers there
// 4. once a keypair exists, both sides send path challenges (inside the tunnel, so only the
//    peer can answer) along every candidate better than the current path, and switch to one
//    whose response came back along it: relay first, direct when it works
// 5. a path that carried our packets but brought nothing back for a while gets a challenge of
//    its own; three unanswered → the best other validated path, the relay, or a new tunnel
#include <arpa/inet.h>

#include <ctime>

#include "crypto/relay_auth.h"
#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"
#include "node/log.h"
#include "ntm/ntm.h"

namespace ntm::negotiation {
namespace {

constexpr proto::RetransmitPolicy kStartPolicy{100, 1000, 8};  // binds and punches at first
constexpr size_t kMaxLearned = 4;
constexpr uint32_t kFastProbeRounds = 6;  // 0, 100, 200, 400, 800, 1600 ms
constexpr auto kLivenessAfter = std::chrono::seconds(2);
constexpr auto kLivenessRetry = std::chrono::seconds(1);
constexpr uint32_t kLivenessTries = 3;
constexpr uint64_t kBudgetFactor = packet::Tunnel::kAmplificationFactor;

}  // namespace

uint64_t fresh_token() {
  uint64_t t;
  do crypto::random_bytes(&t, sizeof t);
  while (t == 0);
  return t;
}

bool Negotiator::take_paths(Negotiation& n, const proto::ControlMessage& m) {
  for (auto& c : m.get_candidates()) {  // 1
    if (n.paths.size() >= 8) break;
    bool dup = false;
    for (auto& p : n.paths) dup = dup || p.path == packet::Path(c.endpoint);
    if (dup) continue;
    Negotiation::PathCandidate pc;
    pc.path = packet::Path(c.endpoint);
    pc.kind = c.kind;
    pc.rank = int(n.paths.size());
    n.paths.push_back(pc);
  }
  auto server = m.get_endpoint(proto::AttrType::kRelayEndpoint);
  auto ticket = m.find(proto::AttrType::kRelayTicket);
  auto key = m.get_key(proto::AttrType::kRelayKey);
  auto side = m.get_u8(proto::AttrType::kRelaySide);
  bool any = server || ticket || key || side;
  if (!any) return true;
  proto::RelayTicket t;
  if (!server || !ticket || !key || !side || (*side != 1 && *side != 2) ||
      !proto::RelayTicket::decode(ticket->value, t) || t.session_id == 0)
    return false;
  Negotiation::RelayClient r;
  r.server = *server;
  r.session = t.session_id;
  r.side = *side;
  r.ticket = ticket->value;
  r.key = *key;
  r.expiry = t.expiry;
  n.relay = std::move(r);
  Negotiation::PathCandidate pc;
  pc.path = packet::Path(*server, t.session_id);
  pc.rank = Negotiation::PathCandidate::kRelayRank;
  n.paths.push_back(pc);
  return true;
}

void Negotiator::start_paths(Negotiation& n) {
  n.punch_key = crypto::punch_key(n.temporal_key, n.direction_id);
  if (n.relay) {  // 2
    tunnels_.add_relay(n.relay->session, n.relay->server);
    send_relay_bind(n);
  }
  if (n.role == proto::Role::kResponder) send_punches(n);
}

std::vector<packet::Path> Negotiator::request_targets(Negotiation& n, size_t bytes) {
  std::vector<packet::Path> out;
  for (auto& c : n.paths) {
    if (c.learned) {  // 3
      if (c.bytes_out + bytes > kBudgetFactor * c.bytes_in) continue;
      c.bytes_out += bytes;
    }
    out.push_back(c.path);
  }
  return out;
}

// --- relay binds -------------------------------------------------------------------------

void Negotiator::send_relay_bind(Negotiation& n) {
  if (!n.relay || stopped_) return;
  auto& r = *n.relay;
  auto bind = crypto::make_relay_bind(r.side, ++r.counter, r.ticket, r.key);
  if (udp_.send(r.server, bind.data(), bind.size()))
    stats_.relay_binds.fetch_add(1, std::memory_order_relaxed);
  ++r.unanswered;
  // Until the first ack: quick retransmissions; then a refresh per keep-alive interval, which
  // keeps our NAT binding towards the relay open and moves our endpoint there if it changed.
  auto delay = r.bound || r.unanswered >= kStartPolicy.max_tries
                   ? std::chrono::milliseconds(cfg_.keepalive_interval_ms)
                   : std::chrono::milliseconds(kStartPolicy.timeout_ms(r.unanswered));
  n.relay_timer.expires_after(delay);
  n.relay_timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it == negotiations_.end() || !it->second->relay) return;
    Negotiation& n = *it->second;
    if (n.relay->bound && n.relay->unanswered >= kLivenessTries) {
      n.relay->bound = false;
      ntm::log().warn("relay {} stopped answering the binds of tunnel {:08x}",
                      n.relay->server.to_string(), id);
      if (n.tunnel && n.tunnel->endpoint().relayed())
        return fall_back(n, "the relay server stopped answering");
    }
    send_relay_bind(n);
  });
}

void Negotiator::on_relay_bind_ack(proto::ByteView d, const packet::Path& from) {
  proto::RelayBindAck a;
  if (!proto::parse_relay_bind_ack(d, a) || from.relayed()) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  for (auto& [id, np] : negotiations_) {
    if (!np->relay || np->relay->session != a.session_id || np->relay->side != a.side ||
        !(np->relay->server == from.address))
      continue;
    auto& r = *np->relay;
    if (a.counter > r.counter || !crypto::verify_relay_bind_ack(d, r.key)) break;
    if (!r.bound)
      ntm::log().debug("bound to relay {} (session {:08x}, side {})", r.server.to_string(),
                       r.session, int(r.side));
    r.bound = true;
    r.unanswered = 0;
    r.last_ack = std::chrono::steady_clock::now();
    return;
  }
  stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
}

void Negotiator::on_relay_notice(proto::ByteView d, const packet::Path& from) {
  // Unauthenticated: it only makes us bind again (to the relay we know, at most once a second).
  uint32_t session;
  if (!proto::parse_relay_notice(d, session) || from.relayed()) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  for (auto& [id, np] : negotiations_) {
    if (!np->relay || np->relay->session != session || !(np->relay->server == from.address))
      continue;
    auto now = std::chrono::steady_clock::now();
    if (now - np->relay->last_ack < std::chrono::seconds(1)) return;
    np->relay->last_ack = now;  // doubles as the notice rate limit until an ack arrives
    ntm::log().info("relay {} does not know our address for session {:08x}: binding again",
                    np->relay->server.to_string(), session);
    send_relay_bind(*np);
    return;
  }
  stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
}

// --- punches -----------------------------------------------------------------------------

void Negotiator::send_punches(Negotiation& n) {
  if (n.established || stopped_) return;
  auto punch = crypto::make_punch(n.direction_id, ++n.punch_counter, n.punch_key);
  for (auto& c : n.paths)
    if (!c.path.relayed() && udp_.send(c.path.address, punch.data(), punch.size()))
      stats_.punches_sent.fetch_add(1, std::memory_order_relaxed);
  if (++n.punch_tries >= kStartPolicy.max_tries) return;
  n.punch_timer.expires_after(std::chrono::milliseconds(kStartPolicy.timeout_ms(n.punch_tries)));
  n.punch_timer.async_wait([this, id = n.direction_id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it != negotiations_.end()) send_punches(*it->second);
  });
}

void Negotiator::on_punch(proto::ByteView d, const packet::Path& from) {
  proto::Punch p;
  if (!proto::parse_punch(d, p) || from.relayed()) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = negotiations_.find(p.direction_id);
  if (it == negotiations_.end() || it->second->role != proto::Role::kInitiator) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Negotiation& n = *it->second;
  if (n.established) return;  // late punches of a finished handshake: nothing to learn
  if (p.counter <= n.punch_counter || !crypto::verify_punch(d, n.punch_key)) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  n.punch_counter = p.counter;
  stats_.punches_received.fetch_add(1, std::memory_order_relaxed);
  size_t learned = 0;
  for (auto& c : n.paths) {
    if (c.path == from) {
      if (c.learned) c.bytes_in += d.size();
      return;
    }
    learned += c.learned;
  }
  if (learned >= kMaxLearned) return;
  // 3. The peer's NAT gave it another address towards us than towards the DC.
  Negotiation::PathCandidate pc;
  pc.path = from;
  pc.kind = proto::CandidateKind::kMapped;
  pc.rank = Negotiation::PathCandidate::kLearnedRank;
  pc.learned = true;
  pc.bytes_in = d.size();
  ntm::log().debug("tunnel {:08x}: the peer punches from {}", n.direction_id, from.to_string());
  if (n.hs && !n.hs->complete() && !n.request.empty() &&
      pc.bytes_out + n.request.size() <= kBudgetFactor * pc.bytes_in) {
    pc.bytes_out += n.request.size();
    udp_.send(from, n.request.data(), n.request.size());
  }
  auto pos = std::find_if(n.paths.begin(), n.paths.end(), [](auto& c) {
    return c.rank > Negotiation::PathCandidate::kLearnedRank;
  });
  n.paths.insert(pos, pc);
  sync_known_paths(n);
}

// --- probing and switching ---------------------------------------------------------------

int Negotiator::rank_of(const Negotiation& n, const packet::Path& p) const {
  for (auto& c : n.paths)
    if (c.path == p) return c.rank;
  return p.relayed() ? Negotiation::PathCandidate::kRelayRank
                     : Negotiation::PathCandidate::kLearnedRank;
}

void Negotiator::sync_known_paths(Negotiation& n) {
  std::vector<packet::Tunnel::KnownPath> known;
  for (auto& c : n.paths) known.push_back({c.path, c.rank});
  for (auto* t : {n.tunnel.get(), n.pending.get()})
    if (t) t->set_known_paths(known);
}

void Negotiator::start_path_probes(Negotiation& n) {
  sync_known_paths(n);
  n.probe_round = 0;
  n.probe_timer.cancel();
  probe_paths(n.direction_id);
}

void Negotiator::probe_paths(uint32_t direction_id) {
  auto it = negotiations_.find(direction_id);
  if (it == negotiations_.end() || stopped_) return;
  Negotiation& n = *it->second;
  if (!n.established || !n.tunnel || !data_plane_) return;
  int current = rank_of(n, n.tunnel->endpoint());
  bool any = false;
  for (auto& c : n.paths) {  // 4
    if (c.rank >= current || c.path.relayed()) continue;
    if (c.learned) {
      size_t bytes = proto::kTunnelMessageSize + proto::kSealedOverhead;
      if (c.bytes_out + bytes > kBudgetFactor * c.bytes_in) continue;
      c.bytes_out += bytes;
    }
    c.token = fresh_token();
    data_plane_->send_path_challenge(*n.tunnel, c.token, &c.path);
    any = true;
  }
  if (!any) return;  // on the best path already
  ++n.probe_round;
  // Quick rounds while the handshake's punches may still be opening NATs, then one per
  // keep-alive interval: a relayed tunnel upgrades when a direct path opens later.
  auto delay = n.probe_round < kFastProbeRounds
                   ? std::chrono::milliseconds(kStartPolicy.timeout_ms(n.probe_round))
                   : std::chrono::milliseconds(cfg_.keepalive_interval_ms);
  n.probe_timer.expires_after(delay);
  n.probe_timer.async_wait([this, direction_id](std::error_code ec) {
    if (!ec) probe_paths(direction_id);
  });
}

void Negotiator::on_path_response(uint32_t local_id, uint64_t token, const packet::Path& from) {
  for (auto& [id, np] : negotiations_) {
    Negotiation& n = *np;
    if (!n.tunnel || n.tunnel->local_id != local_id) continue;
    if (token == n.move_token) {  // the peer answered us at our new position
      n.move_token = 0;
      ntm::log().info(
          "tunnel {} to {}: the peer answers at our new position ({:.1f} ms after the "
          "challenge)",
          local_id, n.peer_fqdn,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - n.moved_at)
              .count());
      nudge_tcp(n.peer_vip4, n.peer_vip6, "path after the move works");
      return;
    }
    if (token == n.liveness_token && from == n.tunnel->endpoint()) {
      n.liveness_token = 0;  // 5: the current path works
      n.liveness_tries = 0;
      return;
    }
    for (auto& c : n.paths) {
      if (c.token != token || !(c.path == from)) continue;
      c.token = 0;
      if (c.learned) c.bytes_in = ~0ull / (2 * kBudgetFactor);  // the peer answers there
      packet::Path current = n.tunnel->endpoint();
      if (c.rank < rank_of(n, current) && n.tunnel->set_endpoint(c.path)) {
        stats_.path_switches.fetch_add(1, std::memory_order_relaxed);
        ntm::log().info("tunnel {} to {}: path {} -> {} ({})", n.tunnel->local_id, n.peer_fqdn,
                        current.to_string(), c.path.to_string(),
                        path_kind(n, c.path) == NTM_PATH_LAN       ? "lan"
                        : path_kind(n, c.path) == NTM_PATH_PUNCHED ? "punched"
                                                                   : "direct");
        n.liveness_token = 0;
        n.liveness_tries = 0;
      }
      return;
    }
    return;
  }
}

const char* Negotiator::check_path(Negotiation& n, std::chrono::steady_clock::time_point now) {
  if (!n.tunnel || !data_plane_) return nullptr;
  packet::Tunnel& t = *n.tunnel;
  if (n.liveness_token) {
    if (now - n.liveness_sent < kLivenessRetry) return nullptr;
    if (++n.liveness_tries >= kLivenessTries) return "the path stopped answering";
    n.liveness_token = fresh_token();
    n.liveness_sent = now;
    packet::Path cur = t.endpoint();
    data_plane_->send_path_challenge(t, n.liveness_token, &cur);
    return nullptr;
  }
  // 5. We sent since the peer was last heard, and that was a while ago.
  auto last_rx = std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(t.last_rx_ns.load(std::memory_order_relaxed)));
  if (last_rx == std::chrono::steady_clock::time_point{}) last_rx = t.born;
  auto sent = send_activity_.find(t.local_id);
  bool sent_since = sent != send_activity_.end() && sent->second.changed > last_rx;
  if (!sent_since || now - last_rx < kLivenessAfter) return nullptr;
  n.liveness_token = fresh_token();
  n.liveness_tries = 0;
  n.liveness_sent = now;
  packet::Path cur = t.endpoint();
  data_plane_->send_path_challenge(t, n.liveness_token, &cur);
  return nullptr;
}

void Negotiator::fall_back(Negotiation& n, const char* why) {
  n.liveness_token = 0;
  n.liveness_tries = 0;
  packet::Path dead = n.tunnel ? n.tunnel->endpoint() : packet::Path();
  if (dead.relayed() && n.relay) n.relay->bound = false;
  // The best other path: a direct candidate (the tunnel will check it like any), else the
  // relay if it still answers our binds.
  const Negotiation::PathCandidate* alt = nullptr;
  for (auto& c : n.paths) {
    if (c.path == dead || c.learned) continue;
    if (c.path.relayed() && !(n.relay && n.relay->bound)) continue;
    if (!c.path.relayed() && dead.relayed()) continue;  // direct never worked if we relayed
    alt = &c;
    break;
  }
  if (alt && n.tunnel) {
    ntm::log().warn("tunnel {} to {}: {} on {}; trying {}", n.tunnel->local_id, n.peer_fqdn, why,
                    dead.to_string(), alt->path.to_string());
    n.tunnel->set_endpoint(alt->path);
    stats_.path_switches.fetch_add(1, std::memory_order_relaxed);
    start_path_probes(n);
    return;
  }
  // Nothing left: a new negotiation through the DC (which hears which relay failed). The
  // application's packets wait in the queue meanwhile; TCP retransmits what was lost.
  ntm::log().warn("tunnel to {}: {} on {}; asking the DC for a new tunnel", n.peer_fqdn, why,
                  dead.to_string());
  std::optional<uint32_t> vip4 = n.peer_vip4;
  std::optional<packet::Vip6> vip6 = n.peer_vip6;
  if (dead.relayed()) {
    if (vip4) failed_relays_[packet::vip_key4(*vip4)] = dead.address;
    if (vip6) failed_relays_[packet::vip_key6(*vip6)] = dead.address;
  }
  stats_.tunnels_expired.fetch_add(1, std::memory_order_relaxed);
  erase_negotiation(n.direction_id);  // n is gone from here on
  char text[INET6_ADDRSTRLEN] = "";
  if (vip4) {
    inet_ntop(AF_INET, &*vip4, text, sizeof text);
    directed_.erase(packet::vip_key4(*vip4));
  } else if (vip6) {
    inet_ntop(AF_INET6, vip6->data(), text, sizeof text);
    directed_.erase(packet::vip_key6(*vip6));
  }
  if (*text)
    resolve(text, [](Resolution r) {
      if (r.error) ntm::log().warn("new tunnel: {}", r.error_text);
    });
}

int Negotiator::path_kind(const Negotiation& n, const packet::Path& p) const {
  if (p.relayed()) return NTM_PATH_RELAYED;
  proto::CandidateKind kind = proto::CandidateKind::kMapped;
  for (auto& c : n.paths)
    if (c.path == p) kind = c.kind;
  if (kind == proto::CandidateKind::kLan) return NTM_PATH_LAN;
  if (kind == proto::CandidateKind::kPublic) return NTM_PATH_DIRECT;
  std::lock_guard l(reg_mu_);
  return reg_.behind_nat ? NTM_PATH_PUNCHED : NTM_PATH_DIRECT;
}

void Negotiator::forget_paths(Negotiation& n) {
  n.punch_timer.cancel();
  n.probe_timer.cancel();
  n.relay_timer.cancel();
  if (n.relay) tunnels_.remove_relay(n.relay->session);
}

std::optional<PathInfo> Negotiator::path_info(const packet::VipKey& dst) const {
  for (auto& [id, np] : negotiations_) {
    const Negotiation& n = *np;
    if (!n.tunnel) continue;
    bool match = (dst.size() == 4 && n.peer_vip4 && packet::vip_key4(*n.peer_vip4) == dst) ||
                 (dst.size() == 16 && n.peer_vip6 && packet::vip_key6(*n.peer_vip6) == dst);
    if (!match) continue;
    // The keypair that carries traffic to dst now may belong to this negotiation only.
    auto live =
        dst.size() == 4 ? tunnels_.find_by_vip4(*n.peer_vip4) : tunnels_.find_by_vip6(*n.peer_vip6);
    if (live != n.tunnel) continue;
    packet::Path p = n.tunnel->endpoint();
    return PathInfo{path_kind(n, p), p.address};
  }
  return std::nullopt;
}

}  // namespace ntm::negotiation
