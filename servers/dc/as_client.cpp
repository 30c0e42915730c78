#include "dc/as_client.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "crypto/cookie.h"

namespace ntm::dc {
namespace {

using Clock = std::chrono::steady_clock;

/// The address of `e` as text, without its port ("192.0.2.1", "2001:db8::1").
std::string address_text(const proto::Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (e.is_v4())
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(e.sa())->sin_addr, buf, sizeof buf);
  else if (e.is_v6())
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(e.sa())->sin6_addr, buf, sizeof buf);
  return buf;
}

AsClient::Result result_of(as::AdminStatus s) {
  switch (s) {
    case as::AdminStatus::kOk:
      return AsClient::Result::kOk;
    case as::AdminStatus::kBadCredentials:
      return AsClient::Result::kBadCredentials;
    case as::AdminStatus::kRateLimited:
      return AsClient::Result::kRateLimited;
    case as::AdminStatus::kNodeLimit:
      return AsClient::Result::kNodeLimit;
    case as::AdminStatus::kInternal:
      return AsClient::Result::kAsFailed;
    default:
      return AsClient::Result::kRefused;
  }
}

}  // namespace

AsClient::AsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key,
                   const crypto::Key& as_public, const proto::Endpoint& as,
                   std::chrono::milliseconds timeout)
    : io_(io),
      dc_private_(dc_key.private_key),
      as_public_(as_public),
      as_(as),
      timeout_(timeout),
      socket_(io),
      timer_(io),
      next_id_(crypto::random_u32()) {}

bool AsClient::open(std::string& error) {
  std::error_code ec;
  socket_.open(as_.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    error = "AS socket: " + ec.message();
    return false;
  }
  receive();
  return true;
}

void AsClient::receive() {
  socket_.async_receive_from(asio::buffer(buf_), from_, [this](std::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted) return;
    // Only the AS's own address is listened to; an ICMP error (nothing listens there) shows
    // up as ec and is waited out like any lost datagram.
    if (!ec) {
      auto from = proto::Endpoint::from_sockaddr(from_.data(), socklen_t(from_.size()));
      if (from && *from == as_ && n > 0)
        on_datagram(proto::ByteView(buf_.data(), n));
      else
        ++stats_.drop_as;
    }
    receive();
  });
}

void AsClient::login(const std::string& account, const std::string& password,
                     const crypto::Key& node, const proto::Endpoint& source, Done done) {
  ++stats_.logins;
  if (requests_.size() >= kMaxWaiting) {
    ++stats_.logins_failed;
    asio::post(io_, [done = std::move(done)] { done(Result::kUnavailable); });
    return;
  }
  as::AdminMessage m;
  m.op = uint8_t(as::AdminOp::kNodeLogin);
  uint32_t id = next_id_++;
  while (requests_.count(id)) id = next_id_++;
  m.id = id;
  m.fields = {account, password, crypto::key_to_base64(node), address_text(source)};
  Request r;
  r.plaintext = m.encode();
  sodium_memzero(m.fields[1].data(), m.fields[1].size());
  if (r.plaintext.empty()) {  // cannot happen with validated account and password sizes
    ++stats_.logins_failed;
    asio::post(io_, [done = std::move(done)] { done(Result::kRefused); });
    return;
  }
  r.done = std::move(done);
  r.deadline = Clock::now() + timeout_;
  requests_.emplace(id, std::move(r));
  if (session_ && Clock::now() - session_created_ < kSessionRenew)
    send_request(id);
  else if (!handshake_ || Clock::now() - handshake_sent_ >= kRetransmit)
    start_handshake();
  if (!timer_running_) tick();
}

void AsClient::start_handshake() {
  handshake_.emplace(dc_private_, as_public_);
  do handshake_index_ = crypto::random_u32();
  while (handshake_index_ == 0 || handshake_index_ == local_index_);
  proto::Bytes init = handshake_->create_init(handshake_index_);
  crypto::CookieGenerator macs(as_public_);
  macs.add_macs(init);
  handshake_sent_ = Clock::now();
  std::error_code ec;
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), as_.sa(), as_.sa_len());
  socket_.send_to(asio::buffer(init), to, 0, ec);
}

void AsClient::send_request(uint32_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || !session_) return;
  const proto::Bytes& plain = it->second.plaintext;
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (session_->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  std::error_code ec;
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), as_.sa(), as_.sa_len());
  socket_.send_to(asio::buffer(out), to, 0, ec);
}

void AsClient::send_waiting() {
  for (auto& [id, r] : requests_) send_request(id);
}

void AsClient::tick() {
  // One timer for everything: retransmissions, the handshake's, and deadlines.
  auto now = Clock::now();
  std::vector<uint32_t> expired;
  for (auto& [id, r] : requests_)
    if (now >= r.deadline) expired.push_back(id);
  for (uint32_t id : expired) finish(id, Result::kUnavailable);
  if (requests_.empty()) {
    timer_running_ = false;
    return;
  }
  bool fresh = session_ && now - session_created_ < kSessionRenew;
  if (!fresh) {
    if (!handshake_ || now - handshake_sent_ >= kRetransmit) start_handshake();
  } else if (timer_running_) {
    stats_.retransmissions += requests_.size();
    send_waiting();
  }
  timer_running_ = true;
  timer_.expires_after(kRetransmit);
  timer_.async_wait([this](std::error_code ec) {
    if (!ec) tick();
  });
}

void AsClient::on_datagram(proto::ByteView d) {
  if (d[0] == uint8_t(proto::PacketType::kHandshakeResp)) {
    if (!handshake_ || d.size() != proto::kHandshakeRespSize ||
        proto::get_u32(&d[8]) != handshake_index_) {
      ++stats_.drop_as;
      return;
    }
    auto r = handshake_->consume_response(d);
    if (!r) {
      ++stats_.drop_as;
      return;
    }
    session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    sodium_memzero(r->send_key.data(), r->send_key.size());
    sodium_memzero(r->recv_key.data(), r->recv_key.size());
    handshake_.reset();
    local_index_ = handshake_index_;
    session_created_ = Clock::now();
    ++stats_.handshakes;
    send_waiting();
    return;
  }
  crypto::SealedHeader h;
  if (!session_ || !crypto::parse_sealed_header(d, h) || h.receiver_index != local_index_) {
    ++stats_.drop_as;
    return;
  }
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  if (session_->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) {
    ++stats_.drop_as;
    return;
  }
  auto m = as::AdminMessage::decode(plain);
  if (!m || m->op != (uint8_t(as::AdminOp::kNodeLogin) | 0x80) || !requests_.count(m->id)) {
    ++stats_.drop_as;  // malformed, or a late answer to a login already finished
    return;
  }
  if (m->status == as::AdminStatus::kNotAuthorized)
    spdlog::error("the AS refuses this DC: its public key is not a dc-key of the AS");
  finish(m->id, result_of(m->status));
}

void AsClient::finish(uint32_t id, Result r) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Done done = std::move(it->second.done);
  sodium_memzero(it->second.plaintext.data(), it->second.plaintext.size());
  requests_.erase(it);
  switch (r) {
    case Result::kOk:
      ++stats_.logins_ok;
      break;
    case Result::kUnavailable:
    case Result::kRefused:
    case Result::kAsFailed:
      ++stats_.logins_failed;
      break;
    default:
      ++stats_.logins_refused;
  }
  done(r);
}

}  // namespace ntm::dc
