// DoS protection for the node ⇄ DC handshake, after WireGuard's cookie mechanism
// (docs/protocol.md §3.8; wireguard-go cookie.go). Every handshake initiation carries two MACs
// in its last 32 bytes:
//
//   mac1 = MAC(HASH("mac1----" ‖ S_dc), msg[0 .. 116))    proves the sender knows S_dc
//   mac2 = MAC(cookie, msg[0 .. 132)) or 16 zero bytes     proves the sender receives at its
//                                                           source address (return routability)
//
// MAC = keyed BLAKE2b with a 16-byte output, HASH = BLAKE2b with a 32-byte output (libsodium
// crypto_generichash). The DC drops an initiation with a bad mac1 before any X25519. Under
// load it also demands a valid mac2 and answers an initiation without one by a 64-byte cookie
// reply (packet type 0x06) instead of spending a DH:
//
//   0x06 | reserved (3) | receiver index = the initiation's sender index (u32 BE)
//        | nonce (24) | XChaCha20-Poly1305(HASH("cookie--" ‖ S_dc), nonce, cookie, ad = mac1)
//
//   cookie = MAC(R, source address (4 or 16 bytes, network order) ‖ source port (u16 BE))
//
// R is a random secret the DC replaces every kCookieSecretLifetime, so a cookie is valid for at
// most twice that; the node uses a cookie for kCookieLifetime after it arrived.
#pragma once

#include <chrono>
#include <optional>

#include "crypto/aead.h"
#include "proto/bytes.h"
#include "proto/endpoint.h"

namespace ntm::crypto {

using Mac = std::array<uint8_t, 16>;

inline constexpr size_t kMac1Offset = 116;  ///< mac1 starts here in handshake message 1
inline constexpr size_t kMac2Offset = 132;  ///< mac2 starts here
inline constexpr size_t kCookieReplySize = 64;
inline constexpr auto kCookieSecretLifetime = std::chrono::seconds(120);
inline constexpr auto kCookieLifetime = std::chrono::seconds(110);

/// DC side: checks the MACs of initiations and makes cookie replies. One per DC static key.
class CookieChecker {
 public:
  explicit CookieChecker(const Key& dc_public);

  /// True when msg (a whole message 1) carries a valid mac1. Constant time.
  bool check_mac1(proto::ByteView msg) const;
  /// True when msg carries a valid mac2 for a cookie made for `from`. Rotates the secret when
  /// it is due; a cookie of the previous secret is still accepted.
  bool check_mac2(proto::ByteView msg, const proto::Endpoint& from);
  /// Writes the cookie reply for initiation `msg` from `from` (kCookieReplySize bytes).
  proto::Bytes create_reply(proto::ByteView msg, const proto::Endpoint& from);

 private:
  Mac cookie_for(const Key& secret, const proto::Endpoint& from) const;
  void rotate_if_due();

  Key mac1_key_, cookie_key_;
  Key secret_{}, previous_secret_{};
  std::chrono::steady_clock::time_point secret_born_;
};

/// Node side: adds mac1/mac2 to its initiations and consumes cookie replies.
class CookieGenerator {
 public:
  explicit CookieGenerator(const Key& dc_public);

  /// Fills bytes [116, 148) of `msg` (a message 1 of kHandshakeInitSize bytes): mac1, and mac2
  /// when a cookie younger than kCookieLifetime is held (else zeros). Remembers mac1.
  void add_macs(proto::Bytes& msg);
  /// Consumes a cookie reply to the last initiation sent; false (nothing changes) when it is
  /// malformed or does not authenticate.
  bool consume_reply(proto::ByteView reply);
  bool has_cookie() const;

 private:
  Key mac1_key_, cookie_key_;
  Mac last_mac1_{};
  bool sent_ = false;
  std::optional<Mac> cookie_;
  std::chrono::steady_clock::time_point cookie_at_;
};

}  // namespace ntm::crypto
