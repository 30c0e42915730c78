#include "common/channel_client.h"

#include <sodium.h>

#include <cstring>

#include "crypto/cookie.h"

namespace ntm::server {

ChannelClient::ChannelClient(asio::io_context& io, const crypto::StaticKeyPair& key,
                             const crypto::Key& server_public, const proto::Endpoint& server,
                             Timing timing, std::string what, ChannelClientStats& stats)
    : io_(io),
      private_(key.private_key),
      server_public_(server_public),
      server_(server),
      timing_(timing),
      what_(std::move(what)),
      socket_(io),
      timer_(io),
      next_id_(crypto::random_u32()),
      stats_(stats) {}

ChannelClient::~ChannelClient() {
  sodium_memzero(private_.data(), private_.size());
  for (auto& [id, r] : requests_) sodium_memzero(r.plaintext.data(), r.plaintext.size());
}

bool ChannelClient::open(std::string& error) {
  std::error_code ec;
  socket_.open(server_.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    error = what_ + " socket: " + ec.message();
    return false;
  }
  receive();
  return true;
}

void ChannelClient::receive() {
  socket_.async_receive_from(asio::buffer(buf_), from_, [this](std::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted) return;
    // Only the server's own address is listened to; an ICMP error (nothing listens there)
    // shows up as ec and is waited out like any lost datagram.
    if (!ec) {
      auto from = proto::Endpoint::from_sockaddr(from_.data(), socklen_t(from_.size()));
      if (from && *from == server_ && n > 0)
        on_datagram(proto::ByteView(buf_.data(), n));
      else
        ++stats_.drops;
    }
    receive();
  });
}

bool ChannelClient::request(as::AdminMessage& m, Answer&& answer) {
  uint32_t id = next_id_++;
  while (requests_.count(id)) id = next_id_++;
  m.id = id;
  Request r;
  r.plaintext = m.encode();
  if (r.plaintext.empty()) return false;
  r.op = m.op;
  r.answer = std::move(answer);
  r.created = Clock::now();
  r.deadline = r.created + timing_.timeout;
  requests_.emplace(id, std::move(r));
  auto now = Clock::now();
  if (session_usable(now))
    send_request(id);
  else if (!handshake_ || now - handshake_sent_ >= timing_.retransmit)
    start_handshake();
  if (!timer_running_) tick();
  return true;
}

void ChannelClient::send(proto::ByteView d) {
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), server_.sa(), server_.sa_len());
  std::error_code ec;  // a failed send is a lost datagram: retransmitted
  socket_.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
}

void ChannelClient::start_handshake() {
  handshake_.emplace(private_, server_public_);
  do handshake_index_ = crypto::random_u32();
  while (handshake_index_ == 0 || handshake_index_ == local_index_);
  proto::Bytes init = handshake_->create_init(handshake_index_);
  crypto::CookieGenerator macs(server_public_);
  macs.add_macs(init);
  handshake_sent_ = Clock::now();
  send(init);
}

void ChannelClient::send_request(uint32_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || !session_) return;
  const proto::Bytes& plain = it->second.plaintext;
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (session_->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send(out);
}

bool ChannelClient::session_usable(Clock::time_point now) const {
  if (!session_ || now - session_created_ >= timing_.renew) return false;
  if (timing_.stale_after.count() > 0)
    for (auto& [id, r] : requests_)
      if (now - r.created >= timing_.stale_after && last_heard_ < r.created) return false;
  return true;
}

void ChannelClient::tick() {
  // One timer for everything: retransmissions, the handshake's, and deadlines.
  auto now = Clock::now();
  std::vector<uint32_t> expired;
  for (auto& [id, r] : requests_)
    if (now >= r.deadline) expired.push_back(id);
  for (uint32_t id : expired) finish(id, std::nullopt);
  if (requests_.empty()) {
    timer_running_ = false;
    return;
  }
  if (!session_usable(now)) {
    if (!handshake_ || now - handshake_sent_ >= timing_.retransmit) start_handshake();
  } else if (timer_running_) {
    stats_.retransmissions += requests_.size();
    for (auto& [id, r] : requests_) send_request(id);
  }
  timer_running_ = true;
  timer_.expires_after(timing_.retransmit);
  timer_.async_wait([this](std::error_code ec) {
    if (!ec) tick();
  });
}

void ChannelClient::on_datagram(proto::ByteView d) {
  if (d[0] == uint8_t(proto::PacketType::kHandshakeResp)) {
    if (!handshake_ || d.size() != proto::kHandshakeRespSize ||
        proto::get_u32(&d[8]) != handshake_index_) {
      ++stats_.drops;
      return;
    }
    auto r = handshake_->consume_response(d);
    if (!r) {
      ++stats_.drops;
      return;
    }
    session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    sodium_memzero(r->send_key.data(), r->send_key.size());
    sodium_memzero(r->recv_key.data(), r->recv_key.size());
    handshake_.reset();
    local_index_ = handshake_index_;
    session_created_ = last_heard_ = Clock::now();
    ++stats_.handshakes;
    for (auto& [id, req] : requests_) send_request(id);
    return;
  }
  crypto::SealedHeader h;
  if (!session_ || !crypto::parse_sealed_header(d, h) || h.receiver_index != local_index_) {
    ++stats_.drops;
    return;
  }
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  if (session_->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) {
    ++stats_.drops;
    return;
  }
  last_heard_ = Clock::now();  // the server knows the session, whatever the message says
  auto m = as::AdminMessage::decode(plain);
  auto it = m ? requests_.find(m->id) : requests_.end();
  if (it == requests_.end() || m->op != (it->second.op | 0x80)) {
    ++stats_.drops;  // malformed, or a late answer to a request already finished
    return;
  }
  finish(m->id, std::move(m));
}

void ChannelClient::finish(uint32_t id, std::optional<as::AdminMessage> answer) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Answer done = std::move(it->second.answer);
  sodium_memzero(it->second.plaintext.data(), it->second.plaintext.size());
  requests_.erase(it);
  if (done) done(std::move(answer));
}

}  // namespace ntm::server
