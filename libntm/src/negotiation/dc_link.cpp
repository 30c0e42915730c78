#include "negotiation/dc_link.h"

#include <sys/socket.h>
#include <unistd.h>

#include <asio/post.hpp>
#include "node/log.h"

namespace ntm::negotiation {

namespace {

/// Whether the host has a route to `a` now: connect(2) on a UDP socket consults the routing
/// table and sends nothing.
bool routable(const proto::Endpoint& a) {
  int fd = ::socket(a.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, a.sa(), a.sa_len()) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

DcLink::DcLink(asio::io_context& io, packet::UdpTransport& udp, std::vector<proto::Endpoint> dcs,
               const crypto::Key& node_private, const crypto::Key& dc_public)
    : io_(io),
      udp_(udp),
      dcs_(std::move(dcs)),
      dc_(dcs_.at(0)),
      initiator_(node_private, dc_public),
      cookies_(dc_public),
      handshake_timer_(io),
      next_message_id_(crypto::random_u32()) {}

void DcLink::handshake(std::function<void(bool)> done, uint32_t max_tries,
                       std::optional<proto::ControlMessage> early,
                       ResponseHandler on_early_response) {
  handshake_done_ = std::move(done);
  early_.clear();
  early_handler_ = nullptr;
  if (early && on_early_response) {
    early_id_ = next_message_id_++;
    early->message_id = early_id_;
    early_ = early->encode();
    if (early_.size() > crypto::kEarlyDataMax) {
      // Too long to ride along (many addresses, a long password): sent once the session is
      // up, as a request.
      early_.clear();
      early_handler_ = [this, m = std::move(*early), h = std::move(on_early_response)](
                           std::optional<proto::ControlMessage>) mutable {
        request(std::move(m), std::move(h));
      };
    } else {
      early_handler_ = std::move(on_early_response);
    }
  }
  handshake_tries_ = 0;
  handshake_max_ = max_tries;
  next_dc_ = 0;
  send_init();
}

proto::Endpoint DcLink::pick_endpoint() {
  if (dcs_.size() == 1) return dcs_[0];
  for (size_t i = 0; i < dcs_.size(); ++i) {
    const proto::Endpoint& e = dcs_[(next_dc_ + i) % dcs_.size()];
    if (routable(e)) {
      next_dc_ = (next_dc_ + i + 1) % dcs_.size();
      return e;
    }
  }
  next_dc_ = 0;
  return dcs_[0];
}

bool DcLink::is_dc(const proto::Endpoint& a) const {
  for (auto& e : dcs_)
    if (e == a) return true;
  return false;
}

void DcLink::send_init() {
  // Each try is a fresh message 1 (new ephemeral key and timestamp), as in WireGuard.
  do local_index_ = crypto::random_u32();
  while (local_index_ == 0);
  // A DC older than early data drops a message 1 longer than 148 bytes: after kEarlyTries
  // unanswered tries with it, the rest go without, and the request follows under the session.
  early_in_flight_ = !early_.empty() && handshake_tries_ < kEarlyTries;
  proto::Bytes init =
      initiator_.create_init(local_index_, early_in_flight_ ? early_ : proto::Bytes{});
  cookies_.add_macs(init);
  dc_ = pick_endpoint();
  udp_.send(dc_, init.data(), init.size());
  ntm::log().debug("handshake initiation {} to DC {} ({} bytes)", handshake_tries_ + 1,
                   dc_.to_string(), init.size());
  resent_with_cookie_ = false;
  ++handshake_tries_;
  proto::RetransmitPolicy policy{250, 2000, handshake_max_};
  handshake_timer_.expires_after(std::chrono::milliseconds(policy.timeout_ms(handshake_tries_)));
  handshake_timer_.async_wait([this](std::error_code ec) {
    // A timer that had already expired still runs after cancel(): the handshake may be done.
    if (ec || !handshake_done_) return;
    if (handshake_tries_ >= handshake_max_) {
      ntm::log().warn("handshake with DC {} unanswered after {} tries", dc_.to_string(),
                      handshake_tries_);
      early_handler_ = nullptr;
      if (auto done = std::move(handshake_done_)) done(false);
      return;
    }
    send_init();
  });
}

void DcLink::request(proto::ControlMessage msg, ResponseHandler on_response,
                     proto::RetransmitPolicy policy) {
  if (!session_) {
    asio::post(io_, [h = std::move(on_response)] { h(std::nullopt); });
    return;
  }
  uint32_t id = next_message_id_++;
  msg.message_id = id;
  Pending p;
  p.plaintext = msg.encode();
  p.handler = std::move(on_response);
  p.policy = policy;
  p.timer = std::make_unique<asio::steady_timer>(io_);
  pending_.emplace(id, std::move(p));
  transmit(id);
}

void DcLink::transmit(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  if (p.tries > 0) proto::put_u16(&p.plaintext[2], proto::kFlagRetransmission);
  ++p.tries;
  send_sealed(p.plaintext);
  arm(id);
}

void DcLink::arm(uint32_t id) {
  Pending& p = pending_.at(id);
  p.timer->expires_after(std::chrono::milliseconds(p.policy.timeout_ms(p.tries)));
  p.timer->async_wait([this, id](std::error_code ec) {
    if (ec) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    if (it->second.tries >= it->second.policy.max_tries) {
      auto h = std::move(it->second.handler);
      pending_.erase(it);
      h(std::nullopt);
      return;
    }
    transmit(id);
  });
}

void DcLink::send_sealed(const proto::Bytes& plaintext) {
  if (!session_) return;
  proto::Bytes out(plaintext.size() + proto::kSealedOverhead);
  if (session_->seal(proto::PacketType::kControl, plaintext, out.data()) !=
      crypto::Session::SealStatus::kExhausted)
    udp_.send(dc_, out.data(), out.size());
}

void DcLink::respond(const proto::ControlMessage& request, proto::ControlMessage response) {
  response.message_id = request.message_id;
  proto::Bytes plain = response.encode();
  send_sealed(plain);
  responses_.insert(0, request.message_id, std::move(plain));
}

bool DcLink::on_datagram(proto::ByteView d, const proto::Endpoint& from) {
  // During a handshake the answer to an earlier try may come from another of the DC's
  // endpoints; the session then uses that one. Otherwise only the session's endpoint counts.
  if (!(from == dc_) && !(handshake_done_ && is_dc(from))) return false;
  if (d[0] == uint8_t(proto::PacketType::kCookieReply)) {
    // The DC is under load and wants proof that we receive at our address: the same try
    // again, now with mac2, at once (once per try, so a stream of replies cannot make us
    // send more than one extra message 1 each).
    if (!handshake_done_ || d.size() != crypto::kCookieReplySize ||
        proto::get_u32(&d[4]) != local_index_ || !cookies_.consume_reply(d))
      return false;
    if (!resent_with_cookie_) {
      proto::Bytes init =
          initiator_.create_init(local_index_, early_in_flight_ ? early_ : proto::Bytes{});
      cookies_.add_macs(init);
      udp_.send(dc_, init.data(), init.size());
      resent_with_cookie_ = true;
    }
    return true;
  }
  if (d[0] == uint8_t(proto::PacketType::kHandshakeResp)) {
    if (!handshake_done_) return false;
    auto r = initiator_.consume_response(d);
    if (!r) return false;
    session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    dc_ = from;
    ntm::log().debug("handshake response from DC {}", dc_.to_string());
    handshake_timer_.cancel();
    responses_ = proto::ResponseCache(256);
    auto done = std::move(handshake_done_);
    if (auto h = std::move(early_handler_)) {
      early_handler_ = nullptr;
      if (early_.empty()) {
        h(std::nullopt);  // the request that was too long for message 1: send it now
      } else {
        // Sent with message 1: wait for its answer as for a request sent once, and retransmit
        // it under the session if none comes. Not sent (the fallback): send it now.
        Pending p;
        p.plaintext = std::move(early_);
        p.handler = std::move(h);
        p.tries = early_in_flight_ ? 1 : 0;
        p.timer = std::make_unique<asio::steady_timer>(io_);
        auto [it, fresh] = pending_.emplace(early_id_, std::move(p));
        if (fresh && early_in_flight_) arm(early_id_);
        if (fresh && !early_in_flight_) transmit(early_id_);
      }
      early_.clear();
    }
    done(true);
    return true;
  }
  crypto::SealedHeader h;
  if (!session_ || !crypto::parse_sealed_header(d, h) || h.receiver_index != local_index_)
    return false;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  if (session_->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) return false;
  proto::DecodeError err;
  auto msg = proto::ControlMessage::decode(plain, err);
  if (!msg) {
    ntm::log().warn("drop control message from DC: {}", proto::to_string(err));
    return false;
  }
  if (proto::is_response(msg->type)) {
    auto it = pending_.find(msg->message_id);
    if (it == pending_.end()) return true;  // a late duplicate response
    auto handler = std::move(it->second.handler);
    it->second.timer->cancel();
    pending_.erase(it);
    handler(std::move(*msg));
    return true;
  }
  if (const proto::Bytes* cached = responses_.find(0, msg->message_id)) {  // requests only here
    send_sealed(*cached);  // duplicate request: same answer, no second processing
    return true;
  }
  if (on_request_) on_request_(*msg);
  return true;
}

void DcLink::shutdown() {
  handshake_timer_.cancel();
  handshake_done_ = nullptr;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    p.timer->cancel();
    p.handler(std::nullopt);
  }
}

}  // namespace ntm::negotiation
