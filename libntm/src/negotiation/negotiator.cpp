// Negotiator core: construction, datagram dispatch, registration and keep-alive
// (paper 002 Fig. 5 steps 3 and 6; Fig. 3 step 20).
#include "negotiation/negotiator.h"

#include <arpa/inet.h>
#include "node/log.h"

#include <algorithm>
#include <cstring>

#include "negotiation/negotiation.h"

namespace ntm::negotiation {

Negotiator::Negotiator(asio::io_context& io, NegotiatorConfig cfg, const crypto::StaticKeyPair& key,
                       packet::UdpTransport& udp, packet::TunnelTable& tunnels,
                       packet::Stats& stats)
    : io_(io),
      cfg_(std::move(cfg)),
      key_(key),
      udp_(udp),
      tunnels_(tunnels),
      stats_(stats),
      dc_(io, udp, cfg_.dc_addresses, key.private_key, cfg_.dc_public_key),
      keepalive_timer_(io),
      tunnel_timer_(io),
      address_poll_timer_(io) {
  dc_.set_request_handler([this](const proto::ControlMessage& m) {
    switch (m.type) {
      case proto::MessageType::kRouteDirection:
        return on_route_direction(m);
      case proto::MessageType::kPathChallenge: {
        // The DC checks we receive where our packets now come from (docs/protocol.md §4.5).
        auto token = m.get_fixed<8>(proto::AttrType::kPathToken);
        if (!token) {
          dc_.respond(m, proto::make_error(m, proto::ErrorCode::kMalformed, "no path token"));
          return;
        }
        proto::ControlMessage r(proto::MessageType::kPathResponse, m.message_id);
        r.add(proto::AttrType::kPathToken, *token);
        return dc_.respond(m, std::move(r));
      }
      default:
        dc_.respond(m, proto::make_error(m, proto::ErrorCode::kMalformed, "unexpected request"));
    }
  });
}

Negotiator::~Negotiator() = default;

void Negotiator::start(std::function<void(bool, std::string)> done) {
  register_with_handshake(std::move(done),
                          "no handshake response from the DC (wrong address or public key?)");
  schedule_tunnel_timers();
  if (cfg_.watch_network && cfg_.poll_addresses) {
    ntm::log().info("checking the host's addresses every {} ms for a move", kAddressPollMs);
    poll_addresses();
  } else if (cfg_.watch_network) {
    start_link_monitor();
  }
}

void Negotiator::start_link_monitor() {
  link_monitor_ = std::make_unique<handover::LinkMonitor>(
      io_, [this](handover::LinkEvent last, uint32_t events) {
        on_network_change(std::string(handover::to_string(last)) +
                              (events > 1 ? " (" + std::to_string(events) + " changes)" : ""),
                          link_monitor_->period_start());
      });
  std::string error;
  if (!link_monitor_->start(error)) {
    ntm::log().warn(
        "not watching the network over rtnetlink ({}): checking the host's addresses every "
        "{} ms instead",
        error, kAddressPollMs);
    link_monitor_.reset();
    poll_addresses();
  }
}

void Negotiator::poll_addresses() {
  address_poll_timer_.expires_after(std::chrono::milliseconds(kAddressPollMs));
  address_poll_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    // registered_addresses_ is what the last registration request carried.
    auto now = udp_.real_addresses();
    auto sorted = [](std::vector<proto::Endpoint> v) {
      std::sort(v.begin(), v.end(), [](const proto::Endpoint& a, const proto::Endpoint& b) {
        return a.to_string() < b.to_string();
      });
      return v;
    };
    if (!registered_addresses_.empty() && sorted(now) != sorted(registered_addresses_))
      on_network_change("the host's addresses changed (periodic check)");
    poll_addresses();
  });
}

void Negotiator::register_with_handshake(std::function<void(bool, std::string)> done,
                                         std::string no_answer) {
  // The registration request rides in handshake message 1 (docs/protocol.md §3.2): start-up
  // to vIP costs one round trip to the DC. Without the password: early data is not forward
  // secret, so credentials go only under the session, when the DC asks for them (error 11).
  auto shared = std::make_shared<std::function<void(bool, std::string)>>(std::move(done));
  dc_.handshake(
      [shared, no_answer = std::move(no_answer)](bool ok) {
        if (!ok) (*shared)(false, no_answer);
      },
      8, registration_request(false),
      [this, shared](std::optional<proto::ControlMessage> resp) {
        on_registration_response(std::move(resp), *shared, false);
      });
}

proto::ControlMessage Negotiator::registration_request(bool with_password) const {
  proto::ControlMessage req(proto::MessageType::kRegistrationRequest, 0);
  req.add_string(proto::AttrType::kNodeName, cfg_.node_name);
  registered_addresses_ = udp_.real_addresses();
  for (auto& e : registered_addresses_) req.add_endpoint(proto::AttrType::kRealAddress, e);
  if (cfg_.notification) req.add(proto::AttrType::kNotification, {});
  if (!cfg_.account.empty()) {
    req.add_string(proto::AttrType::kAccount, cfg_.account);
    if (with_password) req.add_string(proto::AttrType::kPassword, cfg_.password);
  }
  return req;
}

void Negotiator::shutdown() {
  stopped_ = true;
  if (link_monitor_) link_monitor_->stop();
  address_poll_timer_.cancel();
  if (ns_link_) ns_link_->stop();
  keepalive_timer_.cancel();
  tunnel_timer_.cancel();
  for (auto& [id, n] : negotiations_) {
    n->timer.cancel();
    n->confirm_timer.cancel();
    forget_paths(*n);
  }
  negotiations_.clear();
  count_negotiations();
  dc_.shutdown();
  auto resolving = std::move(resolving_);
  for (auto& [key, waiters] : resolving)
    for (auto& w : waiters) w(Resolution{ENOTCONN, "node stopped", {}, {}, {}});
}

void Negotiator::on_datagram(proto::Bytes d, const packet::Path& from) {
  if (stopped_ || d.empty()) return;
  bool ok = false;
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeResp:
    case proto::PacketType::kControl:
    case proto::PacketType::kCookieReply:
      ok = !from.relayed() && dc_.on_datagram(d, from.address);
      break;
    case proto::PacketType::kTunnelHandshake:
      return on_tunnel_handshake(d, from);
    case proto::PacketType::kRelayBindAck:
      return on_relay_bind_ack(d, from);
    case proto::PacketType::kRelayNotice:
      return on_relay_notice(d, from);
    case proto::PacketType::kPunch:
      return on_punch(d, from);
    default:
      break;
  }
  if (!ok) stats_.drop_control.fetch_add(1, std::memory_order_relaxed);
}

Registration Negotiator::registration() const {
  std::lock_guard l(reg_mu_);
  return reg_;
}

void Negotiator::send_registration(std::function<void(bool, std::string)> done) {
  // Sealed under the session, so the password has forward secrecy (docs/protocol.md §4.4.1).
  dc_.request(registration_request(true),
              [this, done = std::move(done)](std::optional<proto::ControlMessage> resp) {
                on_registration_response(std::move(resp), done, true);
              });
}

void Negotiator::on_registration_response(std::optional<proto::ControlMessage> resp,
                                          const std::function<void(bool, std::string)>& done,
                                          bool sent_password) {
  if (!resp) {
    done(false, "no registration response from the DC");
    return;
  }
  if (resp->type == proto::MessageType::kError && !sent_password && !cfg_.account.empty() &&
      resp->get_u16(proto::AttrType::kErrorCode) == uint16_t(proto::ErrorCode::kAuthRequired)) {
    send_registration(done);  // the DC must ask the AS: now with the password
    return;
  }
  if (resp->type == proto::MessageType::kError) {
    switch (proto::ErrorCode(resp->get_u16(proto::AttrType::kErrorCode).value_or(0))) {
      case proto::ErrorCode::kAuthRequired:
      case proto::ErrorCode::kAuthFailed:
        refusal_errno_ = EACCES;
        break;
      case proto::ErrorCode::kNodeLimit:
        refusal_errno_ = EDQUOT;
        break;
      case proto::ErrorCode::kAuthUnavailable:
      case proto::ErrorCode::kRateLimited:
        refusal_errno_ = EAGAIN;
        break;
      default:
        refusal_errno_ = ECONNREFUSED;
    }
    done(false, "registration refused: " +
                    resp->get_string(proto::AttrType::kErrorText).value_or("unknown error"));
    return;
  }
  auto fqdn = resp->get_string(proto::AttrType::kFqdn);
  auto vip4 = resp->get_fixed<4>(proto::AttrType::kVip4);
  auto vip6 = resp->get_fixed<16>(proto::AttrType::kVip6);
  auto nat = resp->get_endpoint(proto::AttrType::kNatAddress);
  if (resp->type != proto::MessageType::kRegistrationResponse || !fqdn || (!vip4 && !vip6)) {
    done(false, "malformed registration response");
    return;
  }
  Registration r;
  r.fqdn = *fqdn;
  if (vip4) {
    uint32_t v;
    std::memcpy(&v, vip4->data(), 4);
    r.vip4 = v;
  }
  if (vip6) r.vip6 = *vip6;
  if (nat) r.nat_address = *nat;
  r.lifetime_s = resp->get_u32(proto::AttrType::kLifetime).value_or(0);
  // Against the addresses this request registered, as the DC compares them: no second
  // enumeration of the host's interfaces on the way to the vIP.
  const auto& real = registered_addresses_;
  r.behind_nat = std::find(real.begin(), real.end(), r.nat_address) == real.end();
  {
    std::lock_guard l(reg_mu_);
    if (!reg_.fqdn.empty() && (reg_.vip4 != r.vip4 || reg_.vip6 != r.vip6))
      ntm::log().warn("re-registration changed this node's vIP; open connections will break");
    reg_ = r;
  }
  ntm::log().info("registered as {} (NAT address {})", r.fqdn, r.nat_address.to_string());
  take_notification_offer(*resp);
  schedule_keepalive();
  done(true, "");
}

void Negotiator::schedule_keepalive(std::optional<uint32_t> delay_ms) {
  // Keep-alives hold the NAT binding towards the DC and prove liveness (paper 002 step 20);
  // they are due well inside the registration lifetime.
  uint32_t interval = delay_ms ? *delay_ms : dc_keepalive_interval();
  keepalive_timer_.expires_after(std::chrono::milliseconds(interval));
  keepalive_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    proto::ControlMessage ka(proto::MessageType::kKeepAlive, 0);
    dc_.request(
        std::move(ka),
        [this](std::optional<proto::ControlMessage> resp) {
          if (stopped_) return;
          if (!resp || resp->type != proto::MessageType::kKeepAliveAck) {
            ntm::log().info("keep-alive {}: registering again", resp ? "refused" : "unanswered");
            recover();
            return;
          }
          if (auto nat = resp->get_endpoint(proto::AttrType::kNatAddress)) {
            std::lock_guard l(reg_mu_);
            reg_.nat_address = *nat;
          }
          schedule_keepalive();
        },
        proto::RetransmitPolicy{500, 2000, 4});
  });
}

void Negotiator::recover(bool restart) {
  if ((recovering_ && !restart) || stopped_) return;
  recovering_ = true;
  auto retry = [this](bool ok, std::string why) {
    recovering_ = false;
    if (ok && !stopped_) on_registered_again();
    if (ok || stopped_) return;
    ntm::log().warn("re-registration failed ({}); retrying", why);
    keepalive_timer_.expires_after(std::chrono::seconds(2));
    keepalive_timer_.async_wait([this](std::error_code ec) {
      if (!ec) recover();
    });
  };
  register_with_handshake(retry, "no handshake response");
}

bool Negotiator::tunnel_exists(const std::optional<uint32_t>& vip4,
                               const std::optional<packet::Vip6>& vip6) const {
  return (vip4 && tunnels_.find_by_vip4(*vip4)) || (vip6 && tunnels_.find_by_vip6(*vip6));
}

void Negotiator::pin(const std::string& name, std::optional<crypto::Key> key) {
  std::lock_guard l(pins_mu_);
  if (key) {
    pins_[name] = *key;
  } else {
    pins_.erase(name);
  }
}

std::optional<crypto::Key> Negotiator::pinned(const std::string& name) const {
  std::lock_guard l(pins_mu_);
  auto it = pins_.find(name);
  if (it == pins_.end()) return std::nullopt;
  return it->second;
}

bool Negotiator::wait_tunnel(const packet::VipKey& dst, int timeout_ms) {
  auto present = [&] {
    if (dst.size() == 4) {
      uint32_t v;
      std::memcpy(&v, dst.data(), 4);
      return tunnels_.find_by_vip4(v) != nullptr;
    }
    packet::Vip6 v;
    std::memcpy(v.data(), dst.data(), 16);
    return tunnels_.find_by_vip6(v) != nullptr;
  };
  std::unique_lock l(wait_mu_);
  return wait_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), present);
}

}  // namespace ntm::negotiation
