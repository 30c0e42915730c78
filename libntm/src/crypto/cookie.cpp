#include "crypto/cookie.h"

#include <sodium.h>

#include <cstring>

#include "proto/messages.h"

namespace ntm::crypto {
namespace {

Key label_hash(const char label[9], const Key& dc_public) {
  Key out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(label), 8);
  crypto_generichash_update(&st, dc_public.data(), dc_public.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Mac mac(const uint8_t* key, size_t key_len, proto::ByteView data) {
  Mac out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key, key_len);
  return out;
}

}  // namespace

CookieChecker::CookieChecker(const Key& dc_public)
    : mac1_key_(label_hash("mac1----", dc_public)), cookie_key_(label_hash("cookie--", dc_public)) {
  init();
  random_bytes(secret_.data(), secret_.size());
  random_bytes(previous_secret_.data(), previous_secret_.size());
  secret_born_ = std::chrono::steady_clock::now();
}

bool CookieChecker::check_mac1(proto::ByteView msg) const {
  if (msg.size() < proto::kHandshakeInitSize) return false;  // early data is not MAC'd here
  Mac want = mac(mac1_key_.data(), mac1_key_.size(), msg.first(kMac1Offset));
  return sodium_memcmp(want.data(), &msg[kMac1Offset], want.size()) == 0;
}

Mac CookieChecker::cookie_for(const Key& secret, const proto::Endpoint& from) const {
  uint8_t buf[18];
  size_t n;
  if (from.is_v4()) {
    std::memcpy(buf, &reinterpret_cast<const sockaddr_in*>(from.sa())->sin_addr, 4);
    n = 4;
  } else {
    std::memcpy(buf, &reinterpret_cast<const sockaddr_in6*>(from.sa())->sin6_addr, 16);
    n = 16;
  }
  proto::put_u16(buf + n, from.port());
  return mac(secret.data(), secret.size(), proto::ByteView(buf, n + 2));
}

void CookieChecker::rotate_if_due() {
  auto now = std::chrono::steady_clock::now();
  if (now - secret_born_ < kCookieSecretLifetime) return;
  previous_secret_ = secret_;
  random_bytes(secret_.data(), secret_.size());
  secret_born_ = now;
}

bool CookieChecker::check_mac2(proto::ByteView msg, const proto::Endpoint& from) {
  if (msg.size() < proto::kHandshakeInitSize) return false;
  rotate_if_due();
  for (const Key* secret : {&secret_, &previous_secret_}) {
    Mac cookie = cookie_for(*secret, from);
    Mac want = mac(cookie.data(), cookie.size(), msg.first(kMac2Offset));
    if (sodium_memcmp(want.data(), &msg[kMac2Offset], want.size()) == 0) return true;
  }
  return false;
}

proto::Bytes CookieChecker::create_reply(proto::ByteView msg, const proto::Endpoint& from) {
  rotate_if_due();
  Mac cookie = cookie_for(secret_, from);
  proto::Bytes out(kCookieReplySize);
  out[0] = uint8_t(proto::PacketType::kCookieReply);
  std::memcpy(&out[4], &msg[4], 4);  // the initiation's sender index, echoed
  random_bytes(&out[8], 24);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(&out[32], &clen, cookie.data(), cookie.size(),
                                             &msg[kMac1Offset], 16, nullptr, &out[8],
                                             cookie_key_.data());
  return out;
}

CookieGenerator::CookieGenerator(const Key& dc_public)
    : mac1_key_(label_hash("mac1----", dc_public)),
      cookie_key_(label_hash("cookie--", dc_public)) {}

bool CookieGenerator::has_cookie() const {
  return cookie_ && std::chrono::steady_clock::now() - cookie_at_ < kCookieLifetime;
}

void CookieGenerator::add_macs(proto::Bytes& msg) {
  if (msg.size() < proto::kHandshakeInitSize) return;
  last_mac1_ = mac(mac1_key_.data(), mac1_key_.size(), proto::ByteView(msg).first(kMac1Offset));
  std::memcpy(&msg[kMac1Offset], last_mac1_.data(), 16);
  sent_ = true;
  if (has_cookie()) {
    Mac m2 = mac(cookie_->data(), cookie_->size(), proto::ByteView(msg).first(kMac2Offset));
    std::memcpy(&msg[kMac2Offset], m2.data(), 16);
  } else {
    std::memset(&msg[kMac2Offset], 0, 16);
  }
}

bool CookieGenerator::consume_reply(proto::ByteView reply) {
  if (!sent_ || reply.size() != kCookieReplySize ||
      reply[0] != uint8_t(proto::PacketType::kCookieReply) || (reply[1] | reply[2] | reply[3]))
    return false;
  Mac cookie;
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie.data(), &plen, nullptr, &reply[32], 32,
                                                 last_mac1_.data(), 16, &reply[8],
                                                 cookie_key_.data()) != 0)
    return false;
  cookie_ = cookie;
  cookie_at_ = std::chrono::steady_clock::now();
  return true;
}

}  // namespace ntm::crypto
