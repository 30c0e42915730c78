#include "notify/ns_link.h"

#include <sodium.h>

#include <asio/write.hpp>
#include <cstring>

#include "crypto/cookie.h"
#include "node/log.h"

namespace ntm::notify {

using Clock = std::chrono::steady_clock;

NsLink::NsLink(asio::io_context& io, const crypto::StaticKeyPair& key,
               std::chrono::milliseconds ping, Callbacks cb)
    : io_(io), key_(key), ping_(ping), cb_(std::move(cb)), timer_(io) {}

NsLink::~NsLink() {
  ++*generation_;  // handlers still queued on the io_context return without touching *this
  sodium_memzero(key_.private_key.data(), key_.private_key.size());
}

void NsLink::start(const proto::Endpoint& ns, const crypto::Key& ns_public) {
  if (ns_ && *ns_ == ns && ns_public_ == ns_public && state_ != State::kIdle) return;
  ns_ = ns;
  ns_public_ = ns_public;
  backoff_ = kBackoffMin;
  connect();
}

void NsLink::stop() {
  bool was_up = up();
  ++*generation_;
  state_ = State::kIdle;
  timer_.cancel();
  if (socket_) {
    std::error_code ec;
    socket_->close(ec);
  }
  session_.reset();
  if (was_up && cb_.on_state) cb_.on_state(false);
}

void NsLink::reconnect() {
  if (state_ == State::kIdle || !ns_) return;
  bool was_up = up();
  backoff_ = kBackoffMin;
  connect();
  if (was_up && cb_.on_state) cb_.on_state(false);
}

void NsLink::connect() {
  ++*generation_;
  if (socket_) {
    std::error_code ec;
    socket_->close(ec);
  }
  session_.reset();
  reader_ = proto::ns::FrameReader();
  out_pending_.clear();
  writing_ = false;
  pong_due_ = false;
  state_ = State::kConnecting;
  ++stats_.connects;
  socket_ = std::make_unique<asio::ip::tcp::socket>(io_);
  asio::ip::tcp::endpoint to;
  std::memcpy(to.data(), ns_->sa(), ns_->sa_len());
  arm_timer(kSetupTimeout);
  auto gen = generation_;
  uint64_t mine = *gen;
  socket_->async_connect(to, [this, gen, mine](std::error_code ec) {
    if (*gen != mine) return;
    if (ec) return fail("connect: " + ec.message());
    std::error_code e;
    socket_->set_option(asio::ip::tcp::no_delay(true), e);
    state_ = State::kHandshake;
    initiator_.emplace(key_.private_key, ns_public_);
    do local_index_ = crypto::random_u32();
    while (local_index_ == 0);
    proto::Bytes init = initiator_->create_init(local_index_);
    crypto::CookieGenerator(ns_public_).add_macs(init);
    write(proto::ns::encode_frame(init));
    read();
  });
}

void NsLink::read() {
  auto gen = generation_;
  uint64_t mine = *gen;
  socket_->async_read_some(asio::buffer(buf_), [this, gen, mine](std::error_code ec, size_t n) {
    if (*gen != mine) return;
    if (ec) return fail(ec == asio::error::eof ? "closed by the NS" : ec.message());
    proto::ByteView data(buf_.data(), n);
    while (!data.empty()) {
      size_t used = 0;
      auto st = reader_.next(data, used);
      data = data.subspan(used);
      if (st == proto::ns::FrameReader::Status::kError) return fail("bad frame length");
      if (st == proto::ns::FrameReader::Status::kFrame) {
        on_frame(reader_.frame());
        if (*gen != mine) return;  // the frame failed the connection
      }
    }
    read();
  });
}

void NsLink::on_frame(proto::ByteView f) {
  if (state_ == State::kHandshake) {
    if (f.size() != proto::kHandshakeRespSize) return fail("handshake response of wrong size");
    auto r = initiator_->consume_response(f);
    initiator_.reset();
    if (!r) return fail("handshake response not authentic");
    session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    sodium_memzero(r->send_key.data(), r->send_key.size());
    sodium_memzero(r->recv_key.data(), r->recv_key.size());
    state_ = State::kConfirming;
    send_ping();  // the first authentic frame makes this connection the node's at the NS
    return;
  }
  crypto::SealedHeader h;
  uint8_t plain[proto::ns::kMessageSize];
  if (f.size() != proto::ns::kSealedMessageSize || !crypto::parse_sealed_header(f, h) ||
      h.type != proto::PacketType::kControl || h.receiver_index != local_index_ ||
      session_->open(h, f, plain) != crypto::Session::OpenStatus::kOk)
    return fail("frame not authentic");
  auto m = proto::ns::decode_message(proto::ByteView(plain, sizeof plain));
  if (!m || *m == proto::ns::Message::kPing) return fail("unexpected message");
  if (*m == proto::ns::Message::kNotify) {
    ++stats_.notifies;
    ntm::log().info("notification server: the DC has a request waiting");
    if (cb_.on_notify) cb_.on_notify();
    return;
  }
  ++stats_.pongs;
  pong_due_ = false;
  if (state_ == State::kConfirming) {
    state_ = State::kUp;
    ++stats_.ups;
    backoff_ = kBackoffMin;
    ntm::log().info("notification server {} connected", ns_->to_string());
    if (cb_.on_state) cb_.on_state(true);
  }
  arm_timer(ping_);
}

void NsLink::send_ping() {
  uint8_t plain = uint8_t(proto::ns::Message::kPing), out[proto::ns::kSealedMessageSize];
  if (session_->seal(proto::PacketType::kControl, proto::ByteView(&plain, 1), out) ==
      crypto::Session::SealStatus::kExhausted)
    return fail("session exhausted");
  ++stats_.pings;
  pong_due_ = true;
  if (state_ == State::kUp) arm_timer(kPongTimeout);
  write(proto::ns::encode_frame(proto::ByteView(out, sizeof out)));
}

void NsLink::write(proto::Bytes frame) {
  out_pending_.insert(out_pending_.end(), frame.begin(), frame.end());
  if (writing_) return;
  writing_ = true;
  out_writing_.swap(out_pending_);
  out_pending_.clear();
  auto gen = generation_;
  uint64_t mine = *gen;
  asio::async_write(*socket_, asio::buffer(out_writing_),
                    [this, gen, mine](std::error_code ec, size_t) {
                      if (*gen != mine) return;
                      writing_ = false;
                      out_writing_.clear();
                      if (ec) return fail("send: " + ec.message());
                      if (!out_pending_.empty()) {
                        proto::Bytes next;
                        next.swap(out_pending_);
                        write(std::move(next));
                      }
                    });
}

void NsLink::fail(const std::string& why) {
  bool was_up = up();
  ++stats_.failures;
  ++*generation_;
  if (socket_) {
    std::error_code ec;
    socket_->close(ec);
  }
  session_.reset();
  initiator_.reset();
  state_ = State::kWaiting;
  ntm::log().info("notification server {}: {}; connecting again in {} ms", ns_->to_string(), why,
                  std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count());
  arm_timer(backoff_);
  backoff_ = std::min<Clock::duration>(backoff_ * 2, kBackoffMax);
  if (was_up && cb_.on_state) cb_.on_state(false);
}

void NsLink::arm_timer(Clock::duration d) {
  timer_.expires_after(d);
  auto gen = generation_;
  uint64_t mine = *gen;
  timer_.async_wait([this, gen, mine](std::error_code ec) {
    if (ec || *gen != mine) return;
    on_timer();
  });
}

void NsLink::on_timer() {
  switch (state_) {
    case State::kWaiting:
      return connect();
    case State::kConnecting:
    case State::kHandshake:
    case State::kConfirming:
      return fail("no answer within 10 s");
    case State::kUp:
      if (pong_due_) return fail("no pong within 10 s");
      return send_ping();
    case State::kIdle:
      return;
  }
}

}  // namespace ntm::notify
