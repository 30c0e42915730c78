#include "dc/ns_client.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "as/admin_message.h"
#include "crypto/cookie.h"
#include "proto/ns_wire.h"

namespace ntm::dc {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

NsClient::NsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key,
                   const crypto::Key& ns_public, const proto::Endpoint& ns,
                   std::chrono::milliseconds timeout)
    : io_(io),
      dc_private_(dc_key.private_key),
      ns_public_(ns_public),
      ns_(ns),
      timeout_(timeout),
      socket_(io),
      timer_(io),
      next_id_(crypto::random_u32()) {}

bool NsClient::open(std::string& error) {
  std::error_code ec;
  socket_.open(ns_.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    error = "NS socket: " + ec.message();
    return false;
  }
  receive();
  return true;
}

void NsClient::receive() {
  socket_.async_receive_from(asio::buffer(buf_), from_, [this](std::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {  // only the NS's own address is listened to; ICMP errors are waited out
      auto from = proto::Endpoint::from_sockaddr(from_.data(), socklen_t(from_.size()));
      if (from && *from == ns_ && n > 0)
        on_datagram(proto::ByteView(buf_.data(), n));
      else
        ++stats_.drop_ns;
    }
    receive();
  });
}

void NsClient::notify(const crypto::Key& node, Done done) {
  ++stats_.notify_requests;
  if (requests_.size() >= kMaxWaiting) {
    ++stats_.failed;
    if (done) asio::post(io_, [done = std::move(done)] { done(Result::kUnavailable); });
    return;
  }
  as::AdminMessage m;
  m.op = proto::ns::kDcOpNotify;
  uint32_t id = next_id_++;
  while (requests_.count(id)) id = next_id_++;
  m.id = id;
  m.fields = {crypto::key_to_base64(node)};
  Request r;
  r.plaintext = m.encode();
  r.done = std::move(done);
  r.created = Clock::now();
  r.deadline = r.created + timeout_;
  requests_.emplace(id, std::move(r));
  if (session_usable(Clock::now()))
    send_request(id);
  else if (!handshake_ || Clock::now() - handshake_sent_ >= kRetransmit)
    start_handshake();
  if (!timer_running_) tick();
}

void NsClient::start_handshake() {
  handshake_.emplace(dc_private_, ns_public_);
  do handshake_index_ = crypto::random_u32();
  while (handshake_index_ == 0 || handshake_index_ == local_index_);
  proto::Bytes init = handshake_->create_init(handshake_index_);
  crypto::CookieGenerator macs(ns_public_);
  macs.add_macs(init);
  handshake_sent_ = Clock::now();
  std::error_code ec;
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), ns_.sa(), ns_.sa_len());
  socket_.send_to(asio::buffer(init), to, 0, ec);
}

void NsClient::send_request(uint32_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || !session_) return;
  const proto::Bytes& plain = it->second.plaintext;
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (session_->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  std::error_code ec;
  asio::ip::udp::endpoint to;
  std::memcpy(to.data(), ns_.sa(), ns_.sa_len());
  socket_.send_to(asio::buffer(out), to, 0, ec);
}

bool NsClient::session_usable(Clock::time_point now) const {
  if (!session_ || now - session_created_ >= kSessionRenew) return false;
  for (auto& [id, r] : requests_)
    if (now - r.created >= kStaleAfter && last_heard_ < r.created) return false;
  return true;
}

void NsClient::tick() {
  auto now = Clock::now();
  std::vector<uint32_t> expired;
  for (auto& [id, r] : requests_)
    if (now >= r.deadline) expired.push_back(id);
  for (uint32_t id : expired) finish(id, Result::kUnavailable);
  if (requests_.empty()) {
    timer_running_ = false;
    return;
  }
  if (!session_usable(now)) {
    if (!handshake_ || now - handshake_sent_ >= kRetransmit) start_handshake();
  } else if (timer_running_) {
    stats_.retransmissions += requests_.size();
    for (auto& [id, r] : requests_) send_request(id);
  }
  timer_running_ = true;
  timer_.expires_after(kRetransmit);
  timer_.async_wait([this](std::error_code ec) {
    if (!ec) tick();
  });
}

void NsClient::on_datagram(proto::ByteView d) {
  if (d[0] == uint8_t(proto::PacketType::kHandshakeResp)) {
    if (!handshake_ || d.size() != proto::kHandshakeRespSize ||
        proto::get_u32(&d[8]) != handshake_index_) {
      ++stats_.drop_ns;
      return;
    }
    auto r = handshake_->consume_response(d);
    if (!r) {
      ++stats_.drop_ns;
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
    ++stats_.drop_ns;
    return;
  }
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  if (session_->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) {
    ++stats_.drop_ns;
    return;
  }
  last_heard_ = Clock::now();  // the NS knows the session, whatever the message says
  auto m = as::AdminMessage::decode(plain);
  if (!m || m->op != (proto::ns::kDcOpNotify | 0x80) || !requests_.count(m->id)) {
    ++stats_.drop_ns;  // malformed, or a late answer to a notification already finished
    return;
  }
  switch (m->status) {
    case as::AdminStatus::kOk:
      return finish(m->id, Result::kSent);
    case as::AdminStatus::kNotFound:
      return finish(m->id, Result::kNoConnection);
    case as::AdminStatus::kNotAuthorized:
      spdlog::error("the NS refuses this DC: its public key is not a dc-key of the NS");
      [[fallthrough]];
    default:
      return finish(m->id, Result::kRefused);
  }
}

void NsClient::finish(uint32_t id, Result r) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Done done = std::move(it->second.done);
  requests_.erase(it);
  switch (r) {
    case Result::kSent:
      ++stats_.sent;
      break;
    case Result::kNoConnection:
      ++stats_.no_connection;
      break;
    default:
      ++stats_.failed;
  }
  if (done) done(r);
}

}  // namespace ntm::dc
