// The NS's DC channel (docs/protocol.md §17.3): the AS channel of §14 with the NS in the AS's
// place. A DC (listed as dc-key) makes a Noise IK session to the NS's static key (message 1
// with mac1, mac2 zero, no cookies), then sends sealed admin messages (as/admin_message.h):
// op 0x20 notify, one field, the node identity.
//
// 1. a datagram arrives; its type byte and exact size are checked before any crypto
// 2. message 1: mac1, the source's rate limit, the session limit, Noise IK, the key's
//    timestamp newer than its last (replay) → a session (kDcSessionLifetime), message 2
// 3. sealed packet: session by receiver index, AEAD and anti-replay, request decode
// 4. a request id the session already asked: its stored answer again (the notification is
//    not sent twice)
// 5. handle_dc_request(): authorization, op, field, then the notification
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "ns/ns_server.h"

namespace ntm::ns {

void NsServer::dc_receive(size_t i) {
  DcListener& l = dc_listeners_[i];
  l.socket->async_receive_from(
      asio::buffer(l.buf), l.from, [this, i](std::error_code ec, size_t n) {
        if (ec == asio::error::operation_aborted) return;
        DcListener& l = dc_listeners_[i];
        if (!ec) {
          auto from = proto::Endpoint::from_sockaddr(l.from.data(), socklen_t(l.from.size()));
          try {
            if (!from || from->port() == 0)
              ++stats_.dc_drop_malformed;
            else if (n >= l.buf.size())
              dc_drop(stats_.dc_drop_malformed, *from, "datagram longer than any DC packet");
            else
              on_dc_datagram(i, proto::ByteView(l.buf.data(), n), *from);
          } catch (const std::exception& e) {
            ++stats_.dc_drop_malformed;
            spdlog::error("DC datagram handler failed: {}", e.what());
          }
        }
        dc_receive(i);
      });
}

void NsServer::dc_drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (log_.allow()) spdlog::info("drop DC datagram from {}: {}", from.to_string(), reason);
}

void NsServer::on_dc_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.empty()) return dc_drop(stats_.dc_drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeInit:
      return on_dc_handshake(socket, d, from);
    case proto::PacketType::kControl:
      return on_dc_sealed(socket, d, from);
    default:
      return dc_drop(stats_.dc_drop_malformed, from, "unknown packet type");
  }
}

void NsServer::on_dc_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != proto::kHandshakeInitSize)
    return dc_drop(stats_.dc_drop_malformed, from, "handshake initiation of wrong size");
  if (!cookies_.check_mac1(d)) return dc_drop(stats_.dc_drop_mac, from, "bad mac1");
  if (!dc_limiter_.allow(from))
    return dc_drop(stats_.dc_drop_ratelimit, from, "handshake rate of this source exceeded");
  auto now = Clock::now();
  for (auto it = dc_sessions_.begin(); it != dc_sessions_.end();)
    it = now - it->second.created > kDcSessionLifetime ? dc_sessions_.erase(it) : std::next(it);
  if (dc_sessions_.size() >= cfg_.max_dc_sessions)
    return dc_drop(stats_.dc_drop_session_limit, from, "DC session limit reached");
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || dc_sessions_.count(index));
  proto::Bytes response;
  auto r = responder_.consume_init(d, index, response);
  if (!r) return dc_drop(stats_.dc_drop_handshake, from, "handshake initiation not authentic");
  auto last = dc_last_init_.find(r->remote_static);
  if (last != dc_last_init_.end() && !(last->second < r->timestamp))
    return dc_drop(stats_.dc_drop_replay, from, "replayed handshake initiation");
  if (dc_last_init_.size() >= 4096 && last == dc_last_init_.end()) dc_last_init_.clear();
  dc_last_init_[r->remote_static] = r->timestamp;
  DcSession s;
  s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  s.peer = r->remote_static;
  s.created = now;
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  dc_sessions_.emplace(index, std::move(s));
  ++stats_.dc_handshakes;
  if (log_.allow())
    spdlog::info("DC session with {} from {}{}", crypto::key_to_base64(r->remote_static),
                 from.to_string(), dc_keys_.count(r->remote_static) ? "" : " (key not listed)");
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), from.sa(), from.sa_len());
  std::error_code ec;
  dc_listeners_[socket].socket->send_to(asio::buffer(response), to, 0, ec);
  if (ec) ++stats_.send_errors;
}

void NsServer::on_dc_sealed(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (d.size() > proto::kSealedOverhead + as::AdminMessage::kMaxSize ||
      !crypto::parse_sealed_header(d, h))
    return dc_drop(stats_.dc_drop_malformed, from, "sealed packet of wrong size");
  auto it = dc_sessions_.find(h.receiver_index);
  if (it == dc_sessions_.end() || Clock::now() - it->second.created > kDcSessionLifetime)
    return dc_drop(stats_.dc_drop_unknown_session, from, "sealed packet for unknown session");
  DcSession& s = it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  switch (s.session->open(h, d, plain.data())) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return dc_drop(stats_.dc_drop_auth, from, "sealed packet not authentic");
    default:
      return dc_drop(stats_.dc_drop_replay, from, "replayed sealed packet");
  }
  auto request = as::AdminMessage::decode(plain);
  if (!request || request->is_response())
    return dc_drop(stats_.dc_drop_malformed, from, "not an admin request");
  if (auto a = s.answers.find(request->id); a != s.answers.end()) {
    ++stats_.dc_answers_resent;
    return dc_send(socket, s, a->second, from);
  }
  ++stats_.dc_requests;
  proto::Bytes wire = handle_dc_request(s.peer, *request).encode();
  if (s.order.size() >= kAnswersKept) {
    s.answers.erase(s.order.front());
    s.order.pop_front();
  }
  s.order.push_back(request->id);
  auto& kept = s.answers[request->id] = std::move(wire);
  dc_send(socket, s, kept, from);
}

void NsServer::dc_send(size_t socket, DcSession& s, proto::ByteView plain,
                       const proto::Endpoint& to) {
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (s.session->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  asio::ip::udp::endpoint aep;
  std::memcpy(aep.data(), to.sa(), to.sa_len());
  std::error_code ec;
  dc_listeners_[socket].socket->send_to(asio::buffer(out), aep, 0, ec);
  if (ec) ++stats_.send_errors;
}

as::AdminMessage NsServer::handle_dc_request(const crypto::Key& peer, const as::AdminMessage& req) {
  as::AdminMessage res;
  res.op = uint8_t(req.op | 0x80);
  res.id = req.id;
  if (!dc_keys_.count(peer)) {
    ++stats_.dc_not_authorized;
    if (log_.allow())
      spdlog::warn("DC request {:#04x} refused: key {} is not a dc-key", req.op,
                   crypto::key_to_base64(peer).substr(0, 8));
    res.status = as::AdminStatus::kNotAuthorized;
    return res;
  }
  std::optional<std::string> node;
  if (req.op == proto::ns::kDcOpNotify && req.fields.size() == 1)
    node = as::canonical_node_identity(req.fields[0]);
  if (!node) {
    res.status = as::AdminStatus::kBadRequest;
    return res;
  }
  ++stats_.notify_requests;
  auto key = crypto::key_from_base64(*node);
  auto it = key ? by_key_.find(*key) : by_key_.end();
  if (it == by_key_.end()) {
    ++stats_.notify_no_connection;
    if (log_.allow()) spdlog::info("notify {}: no connection", node->substr(0, 8));
    res.status = as::AdminStatus::kNotFound;
    return res;
  }
  ++stats_.notifications;
  if (log_.allow()) spdlog::info("notify {}: sent", node->substr(0, 8));
  send_message(*it->second, proto::ns::Message::kNotify);
  res.status = as::AdminStatus::kOk;
  return res;
}

}  // namespace ntm::ns
