#include "common/channel_server.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>
#include <cstring>

namespace ntm::server {

ChannelServer::ChannelServer(asio::io_context& io, const crypto::StaticKeyPair& key,
                             Options options, ChannelServerStats& stats, Handler handler,
                             Describe describe)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      describe_(std::move(describe)),
      responder_(key.private_key),
      cookies_(key.public_key),
      limiter_(options_.handshake_rate, options_.handshake_burst),
      log_(options_.log_per_second),
      stats_(stats) {}

bool ChannelServer::open(const std::vector<std::string>& listen) {
  for (auto& text : listen) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep) {
      spdlog::error("{} '{}' is not ip:port", options_.listen_name, text);
      return false;
    }
    Listener l;
    asio::ip::udp::endpoint aep;
    std::memcpy(aep.data(), ep->sa(), ep->sa_len());
    l.socket = std::make_unique<asio::ip::udp::socket>(io_);
    std::error_code ec;
    l.socket->open(aep.protocol(), ec);
    if (!ec && ep->is_v6()) l.socket->set_option(asio::ip::v6_only(true), ec);
    if (!ec) l.socket->bind(aep, ec);
    if (!ec) l.socket->non_blocking(true, ec);
    if (ec) {
      spdlog::error("cannot listen on udp {}: {}", text, ec.message());
      return false;
    }
    listeners_.push_back(std::move(l));
  }
  for (size_t i = 0; i < listeners_.size(); ++i) receive(i);
  return true;
}

std::vector<proto::Endpoint> ChannelServer::local_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : listeners_) {
    std::error_code ec;
    auto local = l.socket->local_endpoint(ec);
    if (ec) continue;
    if (auto e = proto::Endpoint::from_sockaddr(local.data(), socklen_t(local.size())))
      out.push_back(*e);
  }
  return out;
}

void ChannelServer::receive(size_t i) {
  Listener& l = listeners_[i];
  l.socket->async_receive_from(
      asio::buffer(l.buf), l.from, [this, i](std::error_code ec, size_t n) {
        if (ec == asio::error::operation_aborted) return;
        Listener& l = listeners_[i];
        if (!ec) {
          auto from = proto::Endpoint::from_sockaddr(l.from.data(), socklen_t(l.from.size()));
          // The parsers return errors rather than throw; this is the last line of defence.
          try {
            if (!from || from->port() == 0)
              ++stats_.drop_malformed;
            else if (n >= l.buf.size())
              drop(stats_.drop_malformed, *from, "datagram longer than any channel packet");
            else
              on_datagram(i, proto::ByteView(l.buf.data(), n), *from);
          } catch (const std::exception& e) {
            ++stats_.drop_malformed;
            spdlog::error("{} datagram handler failed: {}", options_.name, e.what());
          }
        }
        receive(i);
      });
}

void ChannelServer::drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (log_.allow())
    spdlog::info("drop {} datagram from {}: {}", options_.name, from.to_string(), reason);
}

void ChannelServer::send_to(size_t socket, proto::ByteView d, const proto::Endpoint& to) {
  asio::ip::udp::endpoint aep;
  std::memcpy(aep.data(), to.sa(), to.sa_len());
  std::error_code ec;
  listeners_[socket].socket->send_to(asio::buffer(d.data(), d.size()), aep, 0, ec);
  if (ec) ++stats_.send_errors;
}

void ChannelServer::on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.empty()) return drop(stats_.drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeInit:
      return on_handshake(socket, d, from);
    case proto::PacketType::kControl:
      return on_sealed(socket, d, from);
    default:
      return drop(stats_.drop_malformed, from, "unknown packet type");
  }
}

void ChannelServer::expire(Clock::time_point now) {
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = now - it->second.created > options_.lifetime ? sessions_.erase(it) : std::next(it);
  if (now - collected_ >= std::chrono::seconds(1)) {
    limiter_.collect(now);
    collected_ = now;
  }
}

void ChannelServer::on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != proto::kHandshakeInitSize)
    return drop(stats_.drop_malformed, from, "handshake initiation of wrong size");
  if (!cookies_.check_mac1(d)) return drop(stats_.drop_mac, from, "handshake with a bad mac1");
  if (!limiter_.allow(from))
    return drop(stats_.drop_ratelimit, from, "handshake rate of this source exceeded");
  expire();
  if (sessions_.size() >= options_.max_sessions)
    return drop(stats_.drop_session_limit, from, "session limit reached");
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || sessions_.count(index));
  proto::Bytes response;
  auto r = responder_.consume_init(d, index, response);
  if (!r) return drop(stats_.drop_handshake, from, "handshake initiation not authentic");
  auto last = last_init_.find(r->remote_static);
  if (last != last_init_.end() && !(last->second < r->timestamp))
    return drop(stats_.drop_replay, from, "replayed handshake initiation");
  if (last_init_.size() >= 4096 && last == last_init_.end()) last_init_.clear();  // bounded
  last_init_[r->remote_static] = r->timestamp;
  Session s;
  s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  s.peer = r->remote_static;
  s.serial = next_serial_++;
  s.created = Clock::now();
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  sessions_.emplace(index, std::move(s));
  ++stats_.handshakes;
  if (log_.allow())
    spdlog::info("{} session with {} from {}{}", options_.name,
                 crypto::key_to_base64(r->remote_static), from.to_string(),
                 describe_ ? describe_(r->remote_static) : std::string());
  send_to(socket, response, from);
}

void ChannelServer::on_sealed(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (d.size() > proto::kSealedOverhead + as::AdminMessage::kMaxSize ||
      !crypto::parse_sealed_header(d, h))
    return drop(stats_.drop_malformed, from, "sealed packet of wrong size");
  auto it = sessions_.find(h.receiver_index);
  if (it == sessions_.end() || Clock::now() - it->second.created > options_.lifetime)
    return drop(stats_.drop_unknown_session, from, "sealed packet for unknown session");
  Session& s = it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  switch (s.session->open(h, d, plain.data())) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return drop(stats_.drop_auth, from, "sealed packet not authentic");
    default:
      return drop(stats_.drop_replay, from, "replayed sealed packet");
  }
  auto request = as::AdminMessage::decode(plain);
  if (!request || request->is_response())
    return drop(stats_.drop_malformed, from, "not an admin request");
  // 4. A repeated id (the client retransmits a request it got no answer to): never again.
  uint32_t id = request->id;
  if (auto a = s.answers.find(id); a != s.answers.end()) {
    ++stats_.answers_resent;
    return send_answer(s, socket, a->second, from);
  }
  if (s.in_progress.count(id)) {
    ++stats_.repeats_in_progress;
    return;
  }
  ++stats_.requests;
  s.in_progress.insert(id);
  uint32_t index = it->first;
  uint64_t serial = s.serial;
  handler_(s.peer, *request,
           [this, index, serial, id, socket, from](const as::AdminMessage& response) {
             // 5. The session may have expired (or its index been reused) meanwhile.
             auto it = sessions_.find(index);
             if (it == sessions_.end() || it->second.serial != serial) {
               ++stats_.answers_dropped_stale;
               return;
             }
             Session& s = it->second;
             s.in_progress.erase(id);
             proto::Bytes wire = response.encode();
             if (s.answer_order.size() >= options_.answers_kept) {
               s.answers.erase(s.answer_order.front());
               s.answer_order.pop_front();
             }
             s.answer_order.push_back(id);
             auto& kept = s.answers[id] = std::move(wire);
             send_answer(s, socket, kept, from);
           });
}

void ChannelServer::send_answer(Session& s, size_t socket, proto::ByteView plain,
                                const proto::Endpoint& to) {
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (s.session->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send_to(socket, out, to);
}

}  // namespace ntm::server
