// DC control endpoint: receive path, control sessions, path validation, maintenance.
//
// 1. a datagram arrives on one of the listening sockets
// 2. the source is checked (port 0, a family the socket cannot answer) and the type byte and
//    exact sizes before any crypto (drop early, counted)
// 3. handshake message 1 → handshake.cpp (MACs, cookies, rate limits, Noise IK) → a new,
//    unconfirmed control session
// 4. control packet → session by receiver index → AEAD open + anti-replay; the first one
//    confirms the session (it replaces the node's old one); a newer packet from a new address
//    starts path validation
// 5. TLV decode; a duplicate request gets its cached response; a new one, within the node's
//    request rate, goes to its handler
#include "dc/dc_server.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "crypto/static_key.h"

namespace ntm::dc {
namespace {

constexpr proto::RetransmitPolicy kDcRequestPolicy{200, 2000, 6};
/// An unconfirmed session (handshake answered, no authenticated packet yet) lives this long.
constexpr auto kUnconfirmedLifetime = std::chrono::seconds(15);
/// Anti-amplification factor towards an address not yet validated (QUIC's, RFC 9000 §8).
constexpr uint64_t kAmplificationFactor = 3;

asio::ip::udp::endpoint to_asio(const proto::Endpoint& e) {
  asio::ip::udp::endpoint out;
  std::memcpy(out.data(), e.sa(), e.sa_len());
  return out;
}

std::optional<proto::Endpoint> from_asio(const asio::ip::udp::endpoint& e) {
  return proto::Endpoint::from_sockaddr(e.data(), socklen_t(e.size()));
}

bool unspecified(const proto::Endpoint& e) {
  if (e.is_v4()) return reinterpret_cast<const sockaddr_in*>(e.sa())->sin_addr.s_addr == 0;
  const auto& a = reinterpret_cast<const sockaddr_in6*>(e.sa())->sin6_addr;
  return IN6_IS_ADDR_UNSPECIFIED(&a);
}

}  // namespace

DcServer::DcServer(asio::io_context& io, const DcConfig& cfg, const crypto::StaticKeyPair& key,
                   BindingStore* store)
    : io_(io),
      cfg_(cfg),
      responder_(key.private_key),
      cookies_(key.public_key),
      store_(store),
      registry_(cfg.vip4_pool, cfg.vip6_pool, cfg.domain, store),
      handshake_limiter_(cfg.handshake_rate, cfg.handshake_burst),
      next_message_id_(crypto::random_u32()),
      maintenance_timer_(io),
      relays_(cfg.relay_endpoints, cfg.relay_key,
              std::chrono::milliseconds(cfg.relay_check_interval_ms)),
      relay_timer_(io),
      key_(key) {
  if (peering_enabled()) {  // DC⇄DC signaling (peer_dc.cpp)
    peer_responder_ =
        std::make_unique<crypto::HandshakeResponder>(key.private_key, crypto::kDcDcHandshake);
    locator_ = std::make_unique<DcLocator>(io, cfg_.resolvers);
  }
  if (cfg_.as)
    as_ = std::make_unique<AsClient>(io, key, *cfg_.as_key, *cfg_.as,
                                     std::chrono::milliseconds(cfg_.as_timeout_ms));
  if (cfg_.ns)
    ns_ = std::make_unique<NsFanout>(io, key, *cfg_.ns_key, cfg_.ns_dc,
                                     std::chrono::milliseconds(cfg_.ns_timeout_ms));
  randombytes_buf(login_cache_key_.data(), login_cache_key_.size());
  // Handshake timestamps of earlier runs: an old message 1 must not replay after a restart.
  if (store_)
    for (auto& row : store_->load_identities())
      if (row.handshake) last_init_[row.identity] = {*row.handshake, Clock::now()};
}

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
    l.v6_only = ep->is_v6();
    std::error_code ec;
    l.socket->open(aep.protocol(), ec);
    if (!ec && ep->is_v6()) l.socket->set_option(asio::ip::v6_only(true), ec);
    // A DC serves many nodes: a large receive buffer absorbs bursts, and a flood while the DC
    // is descheduled. SO_RCVBUFFORCE passes rmem_max when we may (CAP_NET_ADMIN); otherwise
    // SO_RCVBUF, capped by rmem_max.
    int rcvbuf = 4 << 20;
    if (!ec && ::setsockopt(l.socket->native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                            sizeof rcvbuf) != 0)
      l.socket->set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
    if (!ec) l.socket->bind(aep, ec);
    if (ec) {
      spdlog::error("cannot listen on {}: {}", text, ec.message());
      return false;
    }
    listeners_.push_back(std::move(l));
  }
  for (auto& e : local_endpoints()) spdlog::info("listening on udp {}", e.to_string());
  if (as_) {
    std::string error;
    if (!as_->open(error)) {
      spdlog::error("{}", error);
      return false;
    }
    spdlog::info("registration needs an account at the Account Server {}", cfg_.as->to_string());
  }
  if (ns_) {
    std::string error;
    if (!ns_->open(error)) {
      spdlog::error("{}", error);
      return false;
    }
    std::string channels;
    for (auto& e : cfg_.ns_dc) channels += (channels.empty() ? "" : ", ") + e.to_string();
    spdlog::info("Notification Server {} for nodes (DC channel{} {})", cfg_.ns->to_string(),
                 cfg_.ns_dc.size() > 1 ? "s of its processes:" : "", channels);
  }
  if (locator_) {
    if (!locator_->ok()) {
      spdlog::error("DC discovery: {}", locator_->error());
      return false;
    }
    spdlog::info("other zones' DCs are found through DNS ({}); peer DCs at port {}",
                 cfg_.resolvers.empty() ? std::string("the system's resolvers")
                                        : fmt::format("{} resolvers", cfg_.resolvers.size()),
                 cfg_.peer_dc_port);
  }
  for (size_t i = 0; i < listeners_.size(); ++i) receive(i);
  schedule_maintenance();
  if (relays_.configured()) schedule_relay_checks();
  return true;
}

std::vector<proto::Endpoint> DcServer::local_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : listeners_) {
    std::error_code ec;
    auto local = l.socket->local_endpoint(ec);
    if (auto e = from_asio(local); !ec && e) out.push_back(*e);
  }
  return out;
}

const DcStats& DcServer::stats() const {
  if (store_) stats_.store_dropped = store_->dropped();
  return stats_;
}

std::string DcServer::stats_line() const {
  const DcStats& s = stats();
  return fmt::format(
             "handshakes={} registrations={} directions={} expired={} reclaimed={} "
             "cookie_replies={} "
             "path_challenges={} paths_validated={} sends_suppressed={} send_errors={} "
             "sessions={} relayed_directions={} relay_status={} drops: malformed={} bad_source={} "
             "mac={} ratelimit={} handshake={} unknown_session={} auth={} replay={} "
             "session_limit={} "
             "bad_relay_status={} store_dropped={} early_registrations={} logins_asked={} "
             "logins_cached={} logins_refused={} foreign_directions={} foreign_failed={} "
             "peer_hellos={} peer_sessions={} peer_info_requests={} drop_peer={} "
             "drop_peer_cert={}{}",
             s.handshakes, s.registrations, s.directions, s.expired, s.reclaimed, s.cookie_replies,
             s.path_challenges, s.paths_validated, s.sends_suppressed, s.send_errors,
             sessions_.size(), s.relayed_directions, s.relay_status, s.drop_malformed,
             s.drop_bad_source, s.drop_mac, s.drop_ratelimit, s.drop_handshake,
             s.drop_unknown_session, s.drop_auth, s.drop_replay, s.drop_session_limit,
             s.drop_relay_status, s.store_dropped, s.early_registrations, s.logins_asked,
             s.logins_cached, s.logins_refused, s.foreign_directions, s.foreign_failed,
             s.peer_hellos, s.peer_sessions, s.peer_info_requests, s.drop_peer, s.drop_peer_cert,
             as_ ? fmt::format(" as: handshakes={} retransmissions={} unanswered={} drop={}",
                               as_->stats().handshakes, as_->stats().retransmissions,
                               as_->stats().logins_failed, as_->stats().drops)
                 : "") +
         (ns_ ? ns_stats_line() : "");
}

void DcServer::receive(size_t i) {
  listeners_[i].socket->async_wait(asio::socket_base::wait_read, [this, i](std::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    drain(i);
    receive(i);
  });
}

void DcServer::drain(size_t i) {
  // Batched reads: under a flood the DC must read faster than junk arrives, or its socket
  // queue (and with it every legitimate node's latency) grows. Up to 16 batches per wake-up,
  // so timers and the other socket get their turn.
  Listener& l = listeners_[i];
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  for (int round = 0; round < 16; ++round) {
    for (size_t k = 0; k < kBatch; ++k) {
      iov[k] = {l.bufs.data() + k * kMaxDatagram, kMaxDatagram};
      msgs[k].msg_hdr = {&from[k], sizeof from[k], &iov[k], 1, nullptr, 0, 0};
      msgs[k].msg_len = 0;
    }
    int n = recvmmsg(l.socket->native_handle(), msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int k = 0; k < n; ++k) {
      auto src = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from[k]),
                                                msgs[k].msg_hdr.msg_namelen);
      // The parsers return errors rather than throw; this is the last line of defence so that
      // nothing a packet triggers can stop the DC.
      try {
        if (!src) {
          ++stats_.drop_bad_source;
        } else if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
          drop(stats_.drop_malformed, *src, "datagram longer than any control message");
        } else {
          on_datagram(i, proto::ByteView(l.bufs.data() + size_t(k) * kMaxDatagram, msgs[k].msg_len),
                      *src);
        }
      } catch (const std::exception& e) {
        ++stats_.drop_malformed;
        spdlog::error("datagram handler failed: {}", e.what());
      }
    }
    if (size_t(n) < kBatch) return;
  }
}

void DcServer::drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (drop_log_.allow()) spdlog::info("drop datagram from {}: {}", from.to_string(), reason);
}

bool DcServer::send_to(size_t socket, proto::ByteView d, const proto::Endpoint& to) {
  std::error_code ec;
  listeners_[socket].socket->send_to(asio::buffer(d.data(), d.size()), to_asio(to), 0, ec);
  if (!ec) return true;
  ++stats_.send_errors;
  if (drop_log_.allow()) spdlog::warn("cannot send to {}: {}", to.to_string(), ec.message());
  return false;
}

void DcServer::on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  // A reply must be sendable from this socket: no port 0, no wildcard address, and the
  // socket's own family (an IPv6-only socket cannot answer an IPv4-mapped source).
  if (from.port() == 0 || unspecified(from) || from.is_v6() != listeners_[socket].v6_only)
    return drop(stats_.drop_bad_source, from, "source address cannot be answered");
  if (d.empty()) return drop(stats_.drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeInit:
      return on_handshake(socket, d, from);
    case proto::PacketType::kControl:
      return on_control(socket, d, from);
    case proto::PacketType::kRelayStatus:
      if (relays_.on_status(d, from, Clock::now())) {
        ++stats_.relay_status;
        return;
      }
      return drop(stats_.drop_relay_status, from, "relay status not authenticated or stale");
    case proto::PacketType::kDcHello:  // DC⇄DC (peer_dc.cpp)
      return on_dc_hello(socket, d, from);
    case proto::PacketType::kDcCertificate:
      return on_dc_certificate(d, from);
    case proto::PacketType::kDcHandshakeInit:
      return on_dc_handshake_init(socket, d, from);
    case proto::PacketType::kDcHandshakeResp:
      return on_dc_handshake_resp(d, from);
    case proto::PacketType::kDcControl:
      return on_dc_control(d, from);
    default:
      return drop(stats_.drop_malformed, from, "unknown packet type");
  }
}

void DcServer::on_control(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(d, h))
    return drop(stats_.drop_malformed, from, "control packet too short or bad header");
  auto it = sessions_.find(h.receiver_index);
  if (it == sessions_.end())
    return drop(stats_.drop_unknown_session, from, "control packet for unknown session");
  uint32_t index = h.receiver_index;
  ControlSession& s = it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  bool newest = false;
  switch (s.session->open(h, d, plain.data(), &newest)) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return drop(stats_.drop_auth, from, "control packet failed authentication");
    default:
      return drop(stats_.drop_replay, from, "replayed control packet");
  }
  on_authenticated(index, s, socket, d.size(), from, newest);
  if (!sessions_.count(index)) return;
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(plain, err);
  if (!m) return drop(stats_.drop_malformed, from, proto::to_string(err));
  if (!proto::is_response(m->type)) {
    if (const proto::Bytes* cached = responses_.find(index, m->message_id)) {
      send_sealed(s, *cached);  // a retransmitted request: same answer, processed once
      return;
    }
    if (!s.requests.allow())
      return drop(stats_.drop_ratelimit, from, "node over its control request rate");
  }
  dispatch(s, index, *m);
}

void DcServer::on_authenticated(uint32_t index, ControlSession& s, size_t socket, size_t bytes,
                                const proto::Endpoint& from, bool newest) {
  s.last_seen = Clock::now();
  if (!s.confirmed) {
    // The node holds this session's keys, so it got message 2: the session (and the address
    // message 2 went to) is the node's now, and replaces its previous one.
    s.confirmed = true;
    auto old = confirmed_by_identity_.find(s.identity);
    if (old != confirmed_by_identity_.end() && old->second != index) erase_session(old->second);
    confirmed_by_identity_[s.identity] = index;
    auto pending = pending_by_identity_.find(s.identity);
    if (pending != pending_by_identity_.end() && pending->second == index)
      pending_by_identity_.erase(pending);
  }
  if (from == s.endpoint) {
    if (newest) s.probe.reset();  // back on the validated path
    return;
  }
  if (!newest) return;  // a held-back packet from elsewhere moves nothing
  if (s.probe && s.probe->endpoint == from) {
    s.probe->bytes_in += bytes;
    return;
  }
  // Roam on proof, but answer the new address only within 3× what came from it until the
  // node shows it receives there (a path challenge it answers).
  s.probe = PathProbe{from, socket, 0, bytes, 0};
  crypto::random_bytes(&s.probe->token, sizeof s.probe->token);
  proto::ControlMessage challenge(proto::MessageType::kPathChallenge, next_message_id_++);
  uint8_t token[8];
  proto::put_u64(token, s.probe->token);
  challenge.add(proto::AttrType::kPathToken, proto::ByteView(token, 8));
  ++stats_.path_challenges;
  send_request(index, challenge.encode());
}

void DcServer::dispatch(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  switch (m.type) {
    case proto::MessageType::kRegistrationRequest:
      return on_registration(s, index, m);
    case proto::MessageType::kKeepAlive:
      return on_keepalive(s, index, m);
    case proto::MessageType::kDirectionRequest:
      return on_direction_request(s, index, m);
    case proto::MessageType::kPathResponse:
      on_path_response(s, index, m);
      [[fallthrough]];
    case proto::MessageType::kRouteDirectionAck:
    case proto::MessageType::kError: {
      auto it = outstanding_.find(m.message_id);
      if (it != outstanding_.end() && it->second.session_index == index) {
        if (m.type == proto::MessageType::kError && event_log_.allow())
          spdlog::warn(
              "node refused a request: {}",
              server::printable(m.get_string(proto::AttrType::kErrorText).value_or("?"), 200));
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

void DcServer::on_path_response(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  auto token = m.get_fixed<8>(proto::AttrType::kPathToken);
  if (!s.probe || !token || proto::get_u64(token->data()) != s.probe->token) return;
  // The node received the challenge, which went only to the probed address: it is there.
  s.endpoint = s.probe->endpoint;
  s.socket = s.probe->socket;
  s.probe.reset();
  ++stats_.paths_validated;
  NodeRecord* r = registry_.find(s.identity);
  if (r && r->session_index == index && !(r->nat_address == s.endpoint)) {
    spdlog::info("{} NAT address changed {} -> {}", r->fqdn, r->nat_address.to_string(),
                 s.endpoint.to_string());
    r->nat_address = s.endpoint;
    r->socket = s.socket;
  }
  resend_outstanding(s.identity);  // what the new address's budget held back (§17.4)
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
  if (!s.probe) {
    send_to(s.socket, out, s.endpoint);
    return;
  }
  PathProbe& p = *s.probe;
  if (p.bytes_out + out.size() > kAmplificationFactor * p.bytes_in) {
    ++stats_.sends_suppressed;
    return;
  }
  p.bytes_out += out.size();
  send_to(p.socket, out, p.endpoint);
}

void DcServer::send_request(uint32_t index, proto::Bytes plaintext) {
  uint32_t id = proto::get_u32(&plaintext[4]);
  // A path challenge answers a packet the node just sent from a new address: it is awake.
  bool wake = plaintext[1] != uint8_t(proto::MessageType::kPathChallenge);
  Outstanding o;
  o.session_index = index;
  if (auto s = sessions_.find(index); s != sessions_.end()) o.identity = s->second.identity;
  o.plaintext = std::move(plaintext);
  o.timer = std::make_unique<asio::steady_timer>(io_);
  outstanding_.emplace(id, std::move(o));
  transmit_outstanding(id);
  if (wake) notify_node(index);  // in parallel: a NAT may have dropped the node's UDP binding
}

void DcServer::transmit_outstanding(uint32_t message_id) {
  auto it = outstanding_.find(message_id);
  if (it == outstanding_.end()) return;
  Outstanding& o = it->second;
  // A node that made a new handshake meanwhile reads only its new session: once that one is
  // confirmed, the request goes on under it (sealed anew; the old session may be gone).
  if (auto c = confirmed_by_identity_.find(o.identity);
      c != confirmed_by_identity_.end() && c->second != o.session_index &&
      o.plaintext[1] != uint8_t(proto::MessageType::kPathChallenge))
    o.session_index = c->second;
  auto s = sessions_.find(o.session_index);
  if (s == sessions_.end() || o.tries >= kDcRequestPolicy.max_tries) {
    if (event_log_.allow())
      spdlog::info("{} {:08x} unanswered; giving up",
                   proto::to_string(proto::MessageType(o.plaintext[1])), message_id);
    // An unanswered path challenge: the new address was not the node's; keep the old one.
    if (s != sessions_.end() && o.plaintext[1] == uint8_t(proto::MessageType::kPathChallenge))
      s->second.probe.reset();
    outstanding_.erase(it);
    return;
  }
  if (o.tries > 0) proto::put_u16(&o.plaintext[2], proto::kFlagRetransmission);
  ++o.tries;
  send_sealed(s->second, o.plaintext);
  o.timer->expires_after(std::chrono::milliseconds(kDcRequestPolicy.timeout_ms(o.tries)));
  o.timer->async_wait([this, message_id](std::error_code ec) {
    if (!ec) transmit_outstanding(message_id);
  });
}

void DcServer::erase_session(uint32_t index) {
  auto it = sessions_.find(index);
  if (it == sessions_.end()) return;
  const crypto::Key& id = it->second.identity;
  auto c = confirmed_by_identity_.find(id);
  if (c != confirmed_by_identity_.end() && c->second == index) confirmed_by_identity_.erase(c);
  auto p = pending_by_identity_.find(id);
  if (p != pending_by_identity_.end() && p->second == index) pending_by_identity_.erase(p);
  sessions_.erase(it);
}

void DcServer::schedule_relay_checks() {
  // Liveness and load of every relay endpoint (relay_directory.h), from a socket of its family.
  for (auto& [to, req] : relays_.status_requests())
    for (size_t i = 0; i < listeners_.size(); ++i)
      if (listeners_[i].v6_only == to.is_v6()) {
        send_to(i, req, to);
        break;
      }
  relay_timer_.expires_after(std::chrono::milliseconds(cfg_.relay_check_interval_ms));
  relay_timer_.async_wait([this](std::error_code ec) {
    if (!ec) schedule_relay_checks();
  });
}

void DcServer::schedule_maintenance() {
  maintenance_timer_.expires_after(std::chrono::seconds(1));
  maintenance_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    auto now = Clock::now();
    for (auto& r : registry_.expire(now)) {
      ++stats_.expired;
      if (event_log_.allow()) spdlog::info("registration {} expired (no keep-alive)", r.fqdn);
    }
    // Unconfirmed sessions are a handshake nobody followed up (a replay, a lost node);
    // confirmed ones idle for three lifetimes are gone for good (their node re-handshakes).
    auto idle = std::chrono::seconds(3 * std::max(lifetime_for(false), lifetime_for(true)));
    std::vector<uint32_t> gone;
    for (auto& [index, s] : sessions_)
      if ((!s.confirmed && now - s.created > kUnconfirmedLifetime) || now - s.last_seen > idle)
        gone.push_back(index);
    for (uint32_t index : gone) erase_session(index);
    // Anyone can make identities, so the replay table must not grow without bound: an
    // identity with no registration forgets its last timestamp after three lifetimes (a
    // replay after that creates an unconfirmed session nobody can use, which expires).
    for (auto it = last_init_.begin(); it != last_init_.end();)
      it = now - it->second.seen > idle && !registry_.find(it->first) ? last_init_.erase(it)
                                                                      : std::next(it);
    handshake_limiter_.collect(now);
    expire_peers(now);
    for (auto it = login_cache_.begin(); it != login_cache_.end();)
      it = now >= it->second.expires ? login_cache_.erase(it) : std::next(it);
    // vIP bindings of identities unseen for the reclaim time (docs/protocol.md §4.4.1).
    int64_t cutoff = int64_t(time(nullptr)) - int64_t(cfg_.vip_reclaim_after_s);
    for (auto& identity : registry_.reclaim(cutoff)) {
      ++stats_.reclaimed;
      if (store_) store_->forget(identity);
    }
    if (uint64_t n = drop_log_.take_suppressed() + event_log_.take_suppressed())
      spdlog::info("{} more log lines suppressed (rate limit)", n);
    schedule_maintenance();
  });
}

}  // namespace ntm::dc
