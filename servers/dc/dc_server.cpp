// DC control endpoint: receive path, handshakes, registration, keep-alive and expiry.
//
// 1. a datagram arrives on one of the listening sockets
// 2. the type byte and exact sizes are checked before any crypto (drop early, counted)
// 3. handshake message 1 → Noise IK responder → new control session (replaces the node's old one)
// 4. control packet → session by receiver index → AEAD open + anti-replay → TLV decode
// 5. a duplicate request gets its cached response; a new one goes to its handler
#include "dc/dc_server.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>

#include <algorithm>
#include <cstring>

#include "crypto/static_key.h"

namespace ntm::dc {
namespace {

asio::ip::udp::endpoint to_asio(const proto::Endpoint& e) {
  asio::ip::udp::endpoint out;
  std::memcpy(out.data(), e.sa(), e.sa_len());
  return out;
}

proto::Endpoint from_asio(const asio::ip::udp::endpoint& e) {
  return proto::Endpoint::from_sockaddr(e.data(), socklen_t(e.size())).value_or(proto::Endpoint());
}

std::string short_key(const crypto::Key& k) {
  return crypto::key_to_base64(k).substr(0, 8);
}

}  // namespace

DcServer::DcServer(asio::io_context& io, const DcConfig& cfg, const crypto::StaticKeyPair& key,
                   BindingStore* store)
    : io_(io),
      cfg_(cfg),
      responder_(key.private_key),
      registry_(cfg.vip4_pool, cfg.vip6_pool, cfg.domain, store),
      next_message_id_(crypto::random_u32()),
      expiry_timer_(io) {}

bool DcServer::open() {
  for (auto& text : cfg_.listen) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep) {
      spdlog::error("listen address '{}' is not ip:port", text);
      return false;
    }
    Listener l;
    asio::ip::udp::endpoint aep = to_asio(*ep);
    l.socket = std::make_unique<asio::ip::udp::socket>(io_);
    std::error_code ec;
    l.socket->open(aep.protocol(), ec);
    if (!ec && ep->is_v6()) l.socket->set_option(asio::ip::v6_only(true), ec);
    // A DC serves many nodes: a large receive buffer absorbs bursts (capped by rmem_max).
    if (!ec) l.socket->set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
    if (!ec) l.socket->bind(aep, ec);
    if (ec) {
      spdlog::error("cannot listen on {}: {}", text, ec.message());
      return false;
    }
    listeners_.push_back(std::move(l));
  }
  for (auto& e : local_endpoints()) spdlog::info("listening on udp {}", e.to_string());
  for (size_t i = 0; i < listeners_.size(); ++i) receive(i);
  schedule_expiry();
  return true;
}

std::vector<proto::Endpoint> DcServer::local_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : listeners_) out.push_back(from_asio(l.socket->local_endpoint()));
  return out;
}

void DcServer::receive(size_t i) {
  Listener& l = listeners_[i];
  l.socket->async_receive_from(
      asio::buffer(l.buf), l.from, [this, i](std::error_code ec, size_t n) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          Listener& l = listeners_[i];
          on_datagram(i, proto::ByteView(l.buf.data(), n), from_asio(l.from));
        }
        receive(i);
      });
}

void DcServer::drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (drop_log_.allow()) spdlog::info("drop datagram from {}: {}", from.to_string(), reason);
}

void DcServer::on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.empty()) return drop(stats_.drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeInit:
      return on_handshake(socket, d, from);
    case proto::PacketType::kControl:
      return on_control(socket, d, from);
    default:
      return drop(stats_.drop_malformed, from, "unknown packet type");
  }
}

void DcServer::on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != proto::kHandshakeInitSize)
    return drop(stats_.drop_malformed, from, "handshake initiation of wrong size");
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || sessions_.count(index));
  proto::Bytes response;
  auto r = responder_.consume_init(d, index, response);
  if (!r) return drop(stats_.drop_handshake, from, "handshake initiation not authentic");
  auto last = last_init_.find(r->remote_static);
  if (last != last_init_.end() && !(last->second.timestamp < r->timestamp))
    return drop(stats_.drop_replay, from, "replayed handshake initiation");
  last_init_[r->remote_static] = {r->timestamp, Clock::now()};
  // One control session per node identity: the new one replaces the old.
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = it->second.identity == r->remote_static ? sessions_.erase(it) : std::next(it);
  ControlSession s;
  s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  s.identity = r->remote_static;
  s.endpoint = from;
  s.socket = socket;
  s.last_seen = Clock::now();
  sessions_.emplace(index, std::move(s));
  ++stats_.handshakes;
  spdlog::debug("handshake with node {} from {}", short_key(r->remote_static), from.to_string());
  listeners_[socket].socket->send_to(asio::buffer(response), to_asio(from), 0);
}

void DcServer::on_control(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(d, h))
    return drop(stats_.drop_malformed, from, "control packet too short or bad header");
  auto it = sessions_.find(h.receiver_index);
  if (it == sessions_.end())
    return drop(stats_.drop_unknown_session, from, "control packet for unknown session");
  ControlSession& s = it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  switch (s.session->open(h, d, plain.data())) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return drop(stats_.drop_auth, from, "control packet failed authentication");
    default:
      return drop(stats_.drop_replay, from, "replayed control packet");
  }
  // Authenticated: the node may have moved or its NAT rebound the port.
  s.endpoint = from;
  s.socket = socket;
  s.last_seen = Clock::now();
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(plain, err);
  if (!m) return drop(stats_.drop_malformed, from, proto::to_string(err));
  if (!proto::is_response(m->type)) {
    if (const proto::Bytes* cached = responses_.find(h.receiver_index, m->message_id)) {
      send_sealed(s, *cached);  // a retransmitted request: same answer, processed once
      return;
    }
  }
  dispatch(s, h.receiver_index, *m);
}

void DcServer::dispatch(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  switch (m.type) {
    case proto::MessageType::kRegistrationRequest:
      return on_registration(s, index, m);
    case proto::MessageType::kKeepAlive:
      return on_keepalive(s, index, m);
    case proto::MessageType::kDirectionRequest:
      return on_direction_request(s, index, m);
    case proto::MessageType::kRouteDirectionAck:
    case proto::MessageType::kError: {
      auto it = outstanding_.find(m.message_id);
      if (it != outstanding_.end() && it->second.session_index == index) {
        if (m.type == proto::MessageType::kError)
          spdlog::warn("node refused route direction: {}",
                       m.get_string(proto::AttrType::kErrorText).value_or("?"));
        it->second.timer->cancel();
        outstanding_.erase(it);
      }
      return;
    }
    default:
      respond(s, index, m,
              proto::make_error(m, proto::ErrorCode::kMalformed,
                                std::string("unexpected ") + proto::to_string(m.type)));
  }
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
      spdlog::info("registration refused: invalid name '{}'", name->substr(0, 63));
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kInvalidName,
                                       "node name must be one DNS label of [a-z0-9-]"));
    case Registry::Result::kNameTaken:
      spdlog::info("registration refused: {}.{} belongs to another node", *name, cfg_.domain);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kNameTaken,
                                       "name registered by another node identity"));
    case Registry::Result::kPoolExhausted:
      spdlog::warn("registration refused for {}: vIP pool exhausted", *name);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kPoolExhausted, "vIP pool exhausted"));
  }
  r->real_addresses = m.get_endpoints(proto::AttrType::kRealAddress);
  r->nat_address = s.endpoint;
  r->session_index = index;
  r->socket = s.socket;
  ++stats_.registrations;

  proto::ControlMessage resp(proto::MessageType::kRegistrationResponse, m.message_id);
  resp.add_string(proto::AttrType::kFqdn, r->fqdn);
  if (r->vip4) resp.add(proto::AttrType::kVip4, proto::ByteView(r->vip4->data(), 4));
  if (r->vip6) resp.add(proto::AttrType::kVip6, proto::ByteView(r->vip6->data(), 16));
  resp.add_endpoint(proto::AttrType::kNatAddress, s.endpoint);
  resp.add_u32(proto::AttrType::kLifetime, cfg_.registration_lifetime_s);
  char v4[INET_ADDRSTRLEN] = "-", v6[INET6_ADDRSTRLEN] = "-";
  if (r->vip4) inet_ntop(AF_INET, r->vip4->data(), v4, sizeof v4);
  if (r->vip6) inet_ntop(AF_INET6, r->vip6->data(), v6, sizeof v6);
  spdlog::info("registration {} vip4={} vip6={} node={} real={} nat={}{}", r->fqdn, v4, v6,
               short_key(r->identity),
               r->real_addresses.empty() ? "-" : r->real_addresses.front().to_string(),
               s.endpoint.to_string(), r->reachable() ? "" : " (behind NAT)");
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
  proto::ControlMessage ack(proto::MessageType::kKeepAliveAck, m.message_id);
  ack.add_endpoint(proto::AttrType::kNatAddress, s.endpoint);
  respond(s, index, m, std::move(ack));
}

void DcServer::respond(ControlSession& s, uint32_t index, const proto::ControlMessage& request,
                       proto::ControlMessage response) {
  response.message_id = request.message_id;
  proto::Bytes plain = response.encode();
  send_sealed(s, plain);
  responses_.insert(index, request.message_id, std::move(plain));
}

void DcServer::send_sealed(ControlSession& s, const proto::Bytes& plaintext) {
  proto::Bytes out(plaintext.size() + proto::kSealedOverhead);
  if (s.session->seal(proto::PacketType::kControl, plaintext, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  std::error_code ec;
  listeners_[s.socket].socket->send_to(asio::buffer(out), to_asio(s.endpoint), 0, ec);
}

void DcServer::schedule_expiry() {
  expiry_timer_.expires_after(std::chrono::seconds(1));
  expiry_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    auto now = Clock::now();
    for (auto& r : registry_.expire(now)) {
      ++stats_.expired;
      spdlog::info("registration {} expired (no keep-alive)", r.fqdn);
    }
    // Sessions idle for three lifetimes are gone for good (their node re-handshakes).
    auto idle = std::chrono::seconds(3 * cfg_.registration_lifetime_s);
    for (auto it = sessions_.begin(); it != sessions_.end();)
      it = now - it->second.last_seen > idle ? sessions_.erase(it) : std::next(it);
    // Anyone can make identities, so the replay table must not grow without bound: an
    // identity with no registration forgets its last timestamp after three lifetimes (a
    // replay after that creates a control session nobody can use).
    for (auto it = last_init_.begin(); it != last_init_.end();)
      it = now - it->second.seen > idle && !registry_.find(it->first) ? last_init_.erase(it)
                                                                      : std::next(it);
    if (uint64_t n = drop_log_.take_suppressed())
      spdlog::info("{} more drops not logged (rate limit)", n);
    schedule_expiry();
  });
}

}  // namespace ntm::dc
