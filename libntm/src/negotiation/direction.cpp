// Direction requests (paper 002 Fig. 3 steps 1-2) and route directions (steps 15-16).
//
// A route direction hands this node a temporal key and the peer's static key, and tells it to
// build a tunnel. The DC is a directory, not the keeper of tunnels (docs/protocol.md §7.3):
//   - a route direction never hands a live tunnel's vIP to another static key: it is accepted
//     for a vIP with no tunnel, or one whose tunnel has the same peer key (the peer lost its
//     tunnel, e.g. it restarted, and the new handshake proves the same key again); tunnels
//     whose peer went silent expire (tunnel_timers.cpp) and stop counting;
//   - never when the application pinned another key for the peer's name or vIP;
//   - once per direction ID (remembered for kDirectionMemory), so a late retransmission of a
//     finished negotiation's route direction starts nothing.
#include <arpa/inet.h>
#include "node/log.h"

#include <cstring>

#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {
namespace {

constexpr auto kResponderWait = std::chrono::seconds(10);
/// Longer than any DC retransmits a route direction (7 s) with margin for queues.
constexpr auto kDirectionMemory = std::chrono::seconds(120);
constexpr size_t kMaxDirections = 4096;

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string vip_text(int family, const void* addr) {
  char t[INET6_ADDRSTRLEN] = "";
  inet_ntop(family, addr, t, sizeof t);
  return t;
}

Resolution from_response(const proto::ControlMessage& m) {
  Resolution r;
  if (m.type == proto::MessageType::kError) {
    auto code = proto::ErrorCode(m.get_u16(proto::AttrType::kErrorCode).value_or(0));
    r.error = code == proto::ErrorCode::kUnknownFqdn       ? ENOENT
              : code == proto::ErrorCode::kPeerUnreachable ? EHOSTUNREACH
              : code == proto::ErrorCode::kNotRegistered   ? ENOTCONN
              : code == proto::ErrorCode::kRateLimited     ? EAGAIN
                                                           : EIO;
    r.error_text = m.get_string(proto::AttrType::kErrorText).value_or(proto::to_string(code));
    return r;
  }
  if (m.type != proto::MessageType::kDirectionResponse) {
    r.error = EIO;
    r.error_text = "unexpected answer to a direction request";
    return r;
  }
  if (auto v4 = m.get_fixed<4>(proto::AttrType::kPeerVip4)) {
    uint32_t v;
    std::memcpy(&v, v4->data(), 4);
    r.vip4 = v;
  }
  if (auto v6 = m.get_fixed<16>(proto::AttrType::kPeerVip6)) r.vip6 = *v6;
  r.peer_static = m.get_key(proto::AttrType::kPeerStaticKey);
  if (!r.vip4 && !r.vip6) {
    r.error = EIO;
    r.error_text = "direction response without a vIP";
  }
  return r;
}

}  // namespace

void Negotiator::resolve(const std::string& name_in, std::function<void(Resolution)> done) {
  std::string name = lower(name_in);
  proto::ControlMessage req(proto::MessageType::kDirectionRequest, 0);
  Resolution numeric;
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, name.c_str(), &a4) == 1) {
    numeric.vip4 = a4.s_addr;
    name = vip_text(AF_INET, &a4);
    req.add(proto::AttrType::kPeerVip4, proto::ByteView(reinterpret_cast<uint8_t*>(&a4), 4));
  } else if (inet_pton(AF_INET6, name.c_str(), &a6) == 1) {
    packet::Vip6 v;
    std::memcpy(v.data(), &a6, 16);
    numeric.vip6 = v;
    name = vip_text(AF_INET6, &a6);
    req.add(proto::AttrType::kPeerVip6, v);
  } else {
    if (name.empty() || name.size() > 253) {
      done(Resolution{EINVAL, "invalid name", {}, {}, {}});
      return;
    }
    // A known name with a live tunnel needs no DC round trip.
    auto it = names_.find(name);
    if (it != names_.end() && tunnel_exists(it->second.vip4, it->second.vip6)) {
      done(it->second);
      return;
    }
    req.add_string(proto::AttrType::kFqdn, name);
  }
  if ((numeric.vip4 || numeric.vip6) && tunnel_exists(numeric.vip4, numeric.vip6)) {
    done(numeric);
    return;
  }
  // A relay that stopped answering us on the way to this peer: the DC hears of it.
  for (auto key : {numeric.vip4 ? std::optional(packet::vip_key4(*numeric.vip4)) : std::nullopt,
                   numeric.vip6 ? std::optional(packet::vip_key6(*numeric.vip6)) : std::nullopt})
    if (key)
      if (auto f = failed_relays_.find(*key); f != failed_relays_.end()) {
        req.add_endpoint(proto::AttrType::kFailedRelay, f->second);
        failed_relays_.erase(f);
        break;
      }
  auto& waiters = resolving_[name];
  waiters.push_back(std::move(done));
  if (waiters.size() == 1) send_direction_request(name, std::move(req));
}

void Negotiator::on_missing_tunnel(const packet::VipKey& dst) {
  if (stopped_) return;
  // Packets are queued for a vIP nobody resolved (e.g. connect() to a numeric vIP): ask the
  // DC to direct a tunnel to it, unless a negotiation towards it is already running or its
  // route direction is on its way.
  auto d = directed_.find(dst);
  if (d != directed_.end() && std::chrono::steady_clock::now() - d->second < kResponderWait) return;
  for (auto& [id, n] : negotiations_) {
    if ((dst.size() == 4 && n->peer_vip4 && packet::vip_key4(*n->peer_vip4) == dst) ||
        (dst.size() == 16 && n->peer_vip6 && packet::vip_key6(*n->peer_vip6) == dst))
      return;
  }
  std::string text = vip_text(dst.size() == 4 ? AF_INET : AF_INET6, dst.data());
  if (auto f = foreign_names_.find(text); f != foreign_names_.end()) text = f->second;
  resolve(text, [this, dst](Resolution r) {
    if (r.error && data_plane_) {
      ntm::log().warn("no tunnel for queued packets: {}", r.error_text);
      data_plane_->drop_pending(dst);
    }
  });
}

void Negotiator::send_direction_request(const std::string& key, proto::ControlMessage req) {
  dc_.request(std::move(req), [this, key](std::optional<proto::ControlMessage> resp) {
    Resolution r = resp ? from_response(*resp)
                        : Resolution{ETIMEDOUT, "no direction response from the DC", {}, {}, {}};
    // The DC did not answer under the session: the path to it may be gone (the node moved
    // and nothing told it). Register again from wherever it is now.
    if (!resp && !stopped_) recover();
    std::string fqdn =
        resp && !r.error ? lower(resp->get_string(proto::AttrType::kFqdn).value_or("")) : "";
    // The DC names the peer's key: a pin on the name, or on either vIP, must match it.
    if (!r.error) {
      std::vector<std::string> names = {key};
      if (!fqdn.empty()) names.push_back(fqdn);
      if (r.vip4) names.push_back(vip_text(AF_INET, &*r.vip4));
      if (r.vip6) names.push_back(vip_text(AF_INET6, r.vip6->data()));
      std::optional<crypto::Key> pin;
      for (auto& n : names) {
        pin = pinned(n);
        if (pin && (!r.peer_static || *r.peer_static != *pin)) {
          r = Resolution{
              EKEYREJECTED, "the DC names another key than the one pinned for " + n, {}, {}, {}};
          break;
        }
        if (pin) break;
      }
      // A route direction may have come first (a DC may send it so), naming another key for
      // these vIPs: a negotiation or tunnel with a key other than the pinned one goes.
      if (!r.error && pin) {
        std::vector<uint32_t> wrong;
        for (auto& [id, n] : negotiations_)
          if (((r.vip4 && n->peer_vip4 == r.vip4) || (r.vip6 && n->peer_vip6 == r.vip6)) &&
              n->peer_static != *pin)
            wrong.push_back(id);
        for (uint32_t id : wrong) {
          stats_.tunnels_refused.fetch_add(1, std::memory_order_relaxed);
          ntm::log().warn("tunnel {:08x} to {} removed: its key is not the pinned one", id, key);
          erase_negotiation(id);
        }
      }
    }
    if (!r.error && !fqdn.empty()) {
      names_[fqdn] = r;
      remember_foreign_name(fqdn, r.vip4, r.vip6);
    }
    // Its route direction is on its way: queued packets for these vIPs wait for it rather
    // than ask again (on_missing_tunnel) - unless it already came (a DC may send it first).
    if (!r.error && !negotiating(r.vip4, r.vip6)) {
      auto now = std::chrono::steady_clock::now();
      std::erase_if(directed_, [&](auto& e) { return now - e.second > kResponderWait; });
      if (r.vip4) directed_[packet::vip_key4(*r.vip4)] = now;
      if (r.vip6) directed_[packet::vip_key6(*r.vip6)] = now;
    }
    auto waiters = std::move(resolving_[key]);
    resolving_.erase(key);
    for (auto& w : waiters) w(r);
  });
}

bool Negotiator::negotiating(const std::optional<uint32_t>& vip4,
                             const std::optional<packet::Vip6>& vip6) const {
  for (auto& [id, n] : negotiations_)
    if ((vip4 && n->peer_vip4 == vip4) || (vip6 && n->peer_vip6 == vip6)) return true;
  return false;
}

bool Negotiator::remember_direction(uint32_t direction_id) {
  auto now = std::chrono::steady_clock::now();
  if (directions_seen_.size() >= kMaxDirections)
    std::erase_if(directions_seen_, [&](auto& e) { return now - e.second > kDirectionMemory; });
  if (directions_seen_.size() >= kMaxDirections) return false;
  directions_seen_[direction_id] = now;
  return true;
}

void Negotiator::remember_foreign_name(const std::string& fqdn_in,
                                       const std::optional<uint32_t>& vip4,
                                       const std::optional<packet::Vip6>& vip6) {
  std::string fqdn = lower(fqdn_in);
  std::string own = registration().fqdn;
  auto zone = [](const std::string& n) {
    auto dot = n.find('.');
    return dot == std::string::npos ? std::string() : lower(n.substr(dot + 1));
  };
  if (fqdn.empty() || zone(fqdn) == zone(own)) return;
  if (foreign_names_.size() >= kMaxDirections) foreign_names_.clear();
  if (vip4) foreign_names_[vip_text(AF_INET, &*vip4)] = fqdn;
  if (vip6) foreign_names_[vip_text(AF_INET6, vip6->data())] = fqdn;
}

const char* Negotiator::refuse_route_direction(const std::string& peer_fqdn,
                                               const std::optional<uint32_t>& vip4,
                                               const std::optional<packet::Vip6>& vip6,
                                               const crypto::Key& peer_static) const {
  // The pins that apply: on the name the route direction states, on the vIPs, and on every
  // name this node resolved to one of these vIPs (a DC cannot dodge a name's pin by naming
  // the peer differently in the route direction than in the direction response).
  std::vector<std::string> names;
  if (!peer_fqdn.empty()) names.push_back(lower(peer_fqdn));
  if (vip4) names.push_back(vip_text(AF_INET, &*vip4));
  if (vip6) names.push_back(vip_text(AF_INET6, vip6->data()));
  for (auto& [name, r] : names_)
    if ((vip4 && r.vip4 == vip4) || (vip6 && r.vip6 == vip6)) names.push_back(name);
  for (auto& n : names)
    if (auto pin = pinned(n); pin && *pin != peer_static)
      return "the peer's key is not the one pinned for it";
  // A live tunnel keeps its peer: only a tunnel that proves the same static key may replace
  // it (a dead tunnel expires and stops counting, tunnel_timers.cpp).
  std::shared_ptr<packet::Tunnel> live[2] = {vip4 ? tunnels_.find_by_vip4(*vip4) : nullptr,
                                             vip6 ? tunnels_.find_by_vip6(*vip6) : nullptr};
  for (auto& t : live)
    if (t && t->peer_static != peer_static)
      return "a live tunnel to that vIP belongs to another peer key";
  return nullptr;
}

void Negotiator::on_route_direction(const proto::ControlMessage& m) {
  auto id = m.get_u32(proto::AttrType::kDirectionId);
  auto key = m.get_key(proto::AttrType::kTemporalKey);
  auto role = m.get_u8(proto::AttrType::kRole);
  auto peer_static = m.get_key(proto::AttrType::kPeerStaticKey);
  auto vip4 = m.get_fixed<4>(proto::AttrType::kPeerVip4);
  auto vip6 = m.get_fixed<16>(proto::AttrType::kPeerVip6);
  auto n = std::make_unique<Negotiation>(io_);
  bool paths_ok = take_paths(*n, m);
  if (!id || !key || !role || (*role != 1 && *role != 2) || !peer_static || (!vip4 && !vip6) ||
      !paths_ok || (*role == 1 && n->paths.empty())) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    dc_.respond(m, proto::make_error(m, proto::ErrorCode::kMalformed, "bad route direction"));
    return;
  }
  auto ack = [&] {
    proto::ControlMessage a(proto::MessageType::kRouteDirectionAck, m.message_id);
    a.add_u32(proto::AttrType::kDirectionId, *id);
    dc_.respond(m, std::move(a));  // step 16
  };
  // Once per direction ID: a late copy is acknowledged and changes nothing.
  if (negotiations_.count(*id) || directions_seen_.count(*id)) return ack();

  std::optional<uint32_t> peer_vip4;
  std::optional<packet::Vip6> peer_vip6;
  if (vip4) {
    uint32_t v;
    std::memcpy(&v, vip4->data(), 4);
    peer_vip4 = v;
  }
  if (vip6) peer_vip6 = *vip6;
  std::string peer_fqdn = m.get_string(proto::AttrType::kPeerFqdn).value_or("");
  const char* why = refuse_route_direction(peer_fqdn, peer_vip4, peer_vip6, *peer_static);
  if (!why && !remember_direction(*id)) why = "too many route directions at once";
  if (why) {
    stats_.tunnels_refused.fetch_add(1, std::memory_order_relaxed);
    ntm::log().warn("route direction {:08x} to {} refused: {}", *id, peer_fqdn.substr(0, 253), why);
    dc_.respond(m, proto::make_error(m, proto::ErrorCode::kTunnelRefused, why));
    return;
  }
  ack();

  n->direction_id = *id;
  n->role = proto::Role(*role);
  n->temporal_key = *key;
  n->peer_static = *peer_static;
  n->peer_vip4 = peer_vip4;
  n->peer_vip6 = peer_vip6;
  n->peer_fqdn = peer_fqdn.substr(0, 253);
  remember_foreign_name(n->peer_fqdn, peer_vip4, peer_vip6);
  // The route direction the direction response announced is here: once this negotiation
  // ends (its tunnel expires, say, within seconds), packets for these vIPs must ask again.
  if (peer_vip4) directed_.erase(packet::vip_key4(*peer_vip4));
  if (peer_vip6) directed_.erase(packet::vip_key6(*peer_vip6));
  ntm::log().debug("route direction {:08x} to {} as {}: {} paths{}", n->direction_id, n->peer_fqdn,
                   n->role == proto::Role::kInitiator ? "initiator" : "responder", n->paths.size(),
                   n->relay ? " (one relayed)" : "");
  Negotiation& ref = *n;
  negotiations_[*id] = std::move(n);
  count_negotiations();
  start_paths(ref);  // relay binds, punches

  if (ref.role == proto::Role::kInitiator) {
    if (!start_handshake(ref, 0, ref.temporal_key))  // step 17
      fail_negotiation(*id, "the peer's static key is not usable");
    return;
  }
  ref.timer.expires_after(kResponderWait);
  ref.timer.async_wait([this, id = *id](std::error_code ec) {
    if (ec) return;
    auto it = negotiations_.find(id);
    if (it != negotiations_.end() && it->second->response.empty())
      fail_negotiation(id, "no tunnel request from the peer");
  });
  auto early = early_.find(*id);
  if (early != early_.end()) {
    Early e = std::move(early->second);
    early_.erase(early);
    on_tunnel_handshake(e.packet, e.from);
  }
}

}  // namespace ntm::negotiation
