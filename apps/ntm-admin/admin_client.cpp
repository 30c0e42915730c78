#include "admin_client.h"

#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/cookie.h"
#include "crypto/handshake.h"

namespace ntm::admin {

using Clock = std::chrono::steady_clock;

AdminClient::AdminClient(const crypto::StaticKeyPair& own, const crypto::Key& as_public,
                         const proto::Endpoint& as, std::chrono::milliseconds timeout)
    : own_(own), as_public_(as_public), as_(as), timeout_(timeout) {}

AdminClient::~AdminClient() {
  if (fd_ >= 0) ::close(fd_);
  sodium_memzero(own_.private_key.data(), own_.private_key.size());
}

std::optional<proto::Bytes> AdminClient::receive(Clock::time_point deadline) {
  proto::Bytes buf(2048);
  for (int i = 0; i < 1000; ++i) {  // bounded: junk datagrams cannot keep us here forever
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      // ECONNREFUSED: nothing listens there (ICMP port unreachable); wait out the timeout
      // like any lost packet, so the outcome does not depend on ICMP.
      continue;
    }
    buf.resize(size_t(n));
    return buf;
  }
  return std::nullopt;
}

bool AdminClient::connect(std::string& error) {
  fd_ = ::socket(as_.is_v6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, as_.sa(), as_.sa_len()) != 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    crypto::HandshakeInitiator hs(own_.private_key, as_public_);
    do local_index_ = crypto::random_u32();
    while (local_index_ == 0);
    proto::Bytes init = hs.create_init(local_index_);
    crypto::CookieGenerator macs(as_public_);
    macs.add_macs(init);
    if (::send(fd_, init.data(), init.size(), 0) < 0 && errno != ECONNREFUSED) {
      error = std::string("send: ") + std::strerror(errno);
      return false;
    }
    auto deadline = Clock::now() + timeout_;
    while (auto d = receive(deadline)) {
      if (d->empty() || (*d)[0] != uint8_t(proto::PacketType::kHandshakeResp)) continue;
      if (auto r = hs.consume_response(*d)) {
        session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
        sodium_memzero(r->send_key.data(), r->send_key.size());
        sodium_memzero(r->recv_key.data(), r->recv_key.size());
        return true;
      }
    }
  }
  error = "no answer from the AS at " + as_.to_string() +
          " (not running, unreachable, or "
          "its public key is not the one given)";
  return false;
}

bool AdminClient::send(const as::AdminMessage& request, std::string& error) {
  if (!session_) {
    error = "not connected";
    return false;
  }
  proto::Bytes plain = request.encode();
  if (plain.empty()) {
    error = "request too large";
    return false;
  }
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  session_->seal(proto::PacketType::kControl, plain, out.data());
  if (::send(fd_, out.data(), out.size(), 0) < 0) {
    error = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

std::optional<as::AdminMessage> AdminClient::next_response(std::chrono::milliseconds timeout) {
  if (!session_) return std::nullopt;
  auto deadline = Clock::now() + timeout;
  while (auto d = receive(deadline)) {
    crypto::SealedHeader h;
    if (!crypto::parse_sealed_header(*d, h) || h.receiver_index != local_index_) continue;
    proto::Bytes reply(d->size() - proto::kSealedOverhead);
    if (session_->open(h, *d, reply.data()) != crypto::Session::OpenStatus::kOk) continue;
    auto m = as::AdminMessage::decode(reply);
    if (m && m->is_response()) return m;
  }
  return std::nullopt;
}

std::optional<as::AdminMessage> AdminClient::call(as::AdminMessage request, std::string& error) {
  request.id = next_id_++;
  if (!send(request, error)) return std::nullopt;
  // Hashing a password (Argon2id) takes the AS tens of milliseconds: allow for it.
  auto deadline = Clock::now() + timeout_ + std::chrono::seconds(2);
  for (int i = 0; i < 1000; ++i) {  // bounded: stale answers cannot keep us here forever
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    auto m = next_response(left);
    if (!m) break;
    if (m->id == request.id) return m;
  }
  error = "no answer from the AS at " + as_.to_string() + " to the request";
  return std::nullopt;
}

}  // namespace ntm::admin
