// Direction requests (paper 002 Fig. 3 steps 1-2) and route directions (steps 15-16).
#include <arpa/inet.h>
#include "node/log.h"

#include <cstring>

#include "crypto/tunnel_keys.h"
#include "negotiation/negotiation.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {
namespace {

constexpr auto kResponderWait = std::chrono::seconds(10);

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Resolution from_response(const proto::ControlMessage& m) {
  Resolution r;
  if (m.type == proto::MessageType::kError) {
    auto code = proto::ErrorCode(m.get_u16(proto::AttrType::kErrorCode).value_or(0));
    r.error = code == proto::ErrorCode::kUnknownFqdn       ? ENOENT
              : code == proto::ErrorCode::kPeerUnreachable ? EHOSTUNREACH
              : code == proto::ErrorCode::kNotRegistered   ? ENOTCONN
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
    req.add(proto::AttrType::kPeerVip4, proto::ByteView(reinterpret_cast<uint8_t*>(&a4), 4));
  } else if (inet_pton(AF_INET6, name.c_str(), &a6) == 1) {
    packet::Vip6 v;
    std::memcpy(v.data(), &a6, 16);
    numeric.vip6 = v;
    req.add(proto::AttrType::kPeerVip6, v);
  } else {
    if (name.empty() || name.size() > 253) {
      done(Resolution{EINVAL, "invalid name", {}, {}});
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
  char text[INET6_ADDRSTRLEN];
  inet_ntop(dst.size() == 4 ? AF_INET : AF_INET6, dst.data(), text, sizeof text);
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
                        : Resolution{ETIMEDOUT, "no direction response from the DC", {}, {}};
    if (!r.error && resp->find(proto::AttrType::kFqdn))
      names_[lower(*resp->get_string(proto::AttrType::kFqdn))] = r;
    if (!r.error) {
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

void Negotiator::on_route_direction(const proto::ControlMessage& m) {
  auto id = m.get_u32(proto::AttrType::kDirectionId);
  auto key = m.get_key(proto::AttrType::kTemporalKey);
  auto role = m.get_u8(proto::AttrType::kRole);
  auto endpoints = m.get_endpoints(proto::AttrType::kPeerEndpoint);
  auto vip4 = m.get_fixed<4>(proto::AttrType::kPeerVip4);
  auto vip6 = m.get_fixed<16>(proto::AttrType::kPeerVip6);
  if (!id || !key || !role || (*role != 1 && *role != 2) || (!vip4 && !vip6) ||
      (*role == 1 && endpoints.empty())) {
    stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
    dc_.respond(m, proto::make_error(m, proto::ErrorCode::kMalformed, "bad route direction"));
    return;
  }
  proto::ControlMessage ack(proto::MessageType::kRouteDirectionAck, m.message_id);
  ack.add_u32(proto::AttrType::kDirectionId, *id);
  dc_.respond(m, std::move(ack));  // step 16
  if (negotiations_.count(*id)) return;

  auto n = std::make_unique<Negotiation>(io_);
  n->direction_id = *id;
  n->role = proto::Role(*role);
  n->temporal_key = *key;
  if (vip4) {
    uint32_t v;
    std::memcpy(&v, vip4->data(), 4);
    n->peer_vip4 = v;
  }
  if (vip6) n->peer_vip6 = *vip6;
  n->peer_fqdn = m.get_string(proto::AttrType::kPeerFqdn).value_or("");
  n->peer_endpoints = std::move(endpoints);
  auto ctl = crypto::tunnel_control_keys(n->temporal_key, n->role);
  n->control = std::make_unique<crypto::Session>(ctl.send, ctl.recv, n->direction_id);
  n->ephemeral_private = crypto::random_private_key();
  n->ephemeral_public = crypto::public_key(n->ephemeral_private);
  n->local_tunnel_id = tunnels_.allocate_id();
  ntm::log().debug("route direction {} to {} as {}", n->direction_id, n->peer_fqdn,
                   n->role == proto::Role::kInitiator ? "initiator" : "responder");
  Negotiation& ref = *n;
  negotiations_[*id] = std::move(n);

  if (ref.role == proto::Role::kInitiator) {
    send_tunnel_request(ref);  // step 17
    return;
  }
  ref.timer.expires_after(kResponderWait);
  ref.timer.async_wait([this, id = *id](std::error_code ec) {
    if (!ec) fail_negotiation(id, "no tunnel request from the peer");
  });
  auto early = early_.find(*id);
  if (early != early_.end()) {
    Early e = std::move(early->second);
    early_.erase(early);
    on_tunnel_control(e.packet, e.from);
  }
}

}  // namespace ntm::negotiation
