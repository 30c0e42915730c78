// Registration and keep-alive at the DC (paper 002 Fig. 5 steps 3 and 6; Fig. 3 step 20;
// docs/protocol.md §4.4.1 and §4.4.9).
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "dc/dc_server.h"

namespace ntm::dc {
namespace {

/// How often a keep-alive refreshes the identity's last-seen time in the store: often enough
/// for reclaiming (days), rarely enough to cost nothing (one row per node per hour).
constexpr int64_t kLastSeenRefreshS = 3600;

std::string short_key(const crypto::Key& k) {
  return crypto::key_to_base64(k).substr(0, 8);
}

}  // namespace

void DcServer::persist_identity(const ControlSession& s) {
  int64_t now = int64_t(time(nullptr));
  registry_.seen(s.identity, now);
  if (store_) store_->touch(s.identity, s.handshake_timestamp, now);
}

void DcServer::on_registration(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  auto name = m.get_string(proto::AttrType::kNodeName);
  if (!name)
    return respond(s, index, m, proto::make_error(m, proto::ErrorCode::kMalformed, "no node name"));
  NodeRecord* r = nullptr;
  auto expires = Clock::now() + std::chrono::seconds(cfg_.registration_lifetime_s);
  switch (registry_.register_node(s.identity, *name, expires, &r)) {
    case Registry::Result::kOk:
      break;
    case Registry::Result::kInvalidName:
      if (event_log_.allow())
        spdlog::info("registration refused: invalid name '{}'", server::printable(*name));
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kInvalidName,
                                       "node name must be one DNS label of [a-z0-9-]"));
    case Registry::Result::kNameTaken:
      if (event_log_.allow())
        spdlog::info("registration refused: {}.{} belongs to another node", *name, cfg_.domain);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kNameTaken,
                                       "name registered by another node identity"));
    case Registry::Result::kPoolExhausted:
      if (event_log_.allow())
        spdlog::warn("registration refused for {}: vIP pool exhausted", *name);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kPoolExhausted, "vIP pool exhausted"));
  }
  // Only a validated address becomes the NAT address other nodes are sent to; a registration
  // from an address being validated takes it over once the path response arrives.
  r->real_addresses = m.get_endpoints(proto::AttrType::kRealAddress);
  if (r->real_addresses.size() > 16) r->real_addresses.resize(16);
  r->nat_address = s.endpoint;
  r->session_index = index;
  r->socket = s.socket;
  ++stats_.registrations;
  persist_identity(s);
  r->persisted_at = int64_t(time(nullptr));

  proto::Endpoint seen = s.probe ? s.probe->endpoint : s.endpoint;
  proto::ControlMessage resp(proto::MessageType::kRegistrationResponse, m.message_id);
  resp.add_string(proto::AttrType::kFqdn, r->fqdn);
  if (r->vip4) resp.add(proto::AttrType::kVip4, proto::ByteView(r->vip4->data(), 4));
  if (r->vip6) resp.add(proto::AttrType::kVip6, proto::ByteView(r->vip6->data(), 16));
  resp.add_endpoint(proto::AttrType::kNatAddress, seen);
  resp.add_u32(proto::AttrType::kLifetime, cfg_.registration_lifetime_s);
  if (event_log_.allow()) {
    char v4[INET_ADDRSTRLEN] = "-", v6[INET6_ADDRSTRLEN] = "-";
    if (r->vip4) inet_ntop(AF_INET, r->vip4->data(), v4, sizeof v4);
    if (r->vip6) inet_ntop(AF_INET6, r->vip6->data(), v6, sizeof v6);
    spdlog::info("registration {} vip4={} vip6={} node={} real={} nat={}{}", r->fqdn, v4, v6,
                 short_key(r->identity),
                 r->real_addresses.empty() ? "-" : r->real_addresses.front().to_string(),
                 seen.to_string(), r->reachable() ? "" : " (behind NAT)");
  }
  respond(s, index, m, std::move(resp));
}

void DcServer::on_keepalive(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  NodeRecord* r = registry_.find(s.identity);
  if (!r || r->session_index != index)
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kNotRegistered, "not registered"));
  r->expires = Clock::now() + std::chrono::seconds(cfg_.registration_lifetime_s);
  if (!(r->nat_address == s.endpoint)) {
    spdlog::info("{} NAT address changed {} -> {}", r->fqdn, r->nat_address.to_string(),
                 s.endpoint.to_string());
    r->nat_address = s.endpoint;
  }
  r->socket = s.socket;
  int64_t now = int64_t(time(nullptr));
  registry_.seen(s.identity, now);
  if (store_ && now - r->persisted_at >= kLastSeenRefreshS) {
    store_->touch(s.identity, s.handshake_timestamp, now);
    r->persisted_at = now;
  }
  proto::ControlMessage ack(proto::MessageType::kKeepAliveAck, m.message_id);
  ack.add_endpoint(proto::AttrType::kNatAddress, s.probe ? s.probe->endpoint : s.endpoint);
  respond(s, index, m, std::move(ack));
}

}  // namespace ntm::dc
