// Node ⇄ DC handshake: Noise_IK_25519_ChaChaPoly_SHA256 (Noise rev. 34), prologue "NTM v1".
// The node (initiator) knows the DC's static public key in advance (pinned in its config);
// the DC (responder) learns the node's static public key — the node identity — from message 1.
//
//   message 1 (node → DC), 148 bytes:  -> e, es, s, ss   payload: 12-byte timestamp
//     0x01 | 0 0 0 | sender index (u32 BE) | e (32) | enc(s) (48) | enc(timestamp) (28)
//     | mac1 (16) | mac2 (16)          (the MACs are crypto/cookie.h's, outside the Noise
//     transcript)
//     || optional early data: enc(a control message) (8..1024 + 16 bytes), the second payload
//     of message 1, encrypted and hashed after the timestamp (docs/protocol.md §3.2): the
//     node's registration request, so that registration costs no round trip of its own
//   message 2 (DC → node), 60 bytes:   <- e, ee, se      payload: empty
//     0x02 | 0 0 0 | sender index (u32 BE) | receiver index (u32 BE) | e (32) | enc() (16)
//
// Timestamp = seconds since the Unix epoch (u64 BE) || nanoseconds (u32 BE); the DC rejects a
// message 1 whose timestamp is not newer than the last one accepted for that node (replay).
// Split() gives (k1, k2): the node sends with k1 and receives with k2.
//
// DC ⇄ DC variant (kDcDcHandshake): the same Noise_IK_25519_ChaChaPoly_SHA256 pattern, sizes
// and payloads, with prologue "NTM dc v1" and first bytes 0x10 / 0x11 (kDcHandshakeInit /
// kDcHandshakeResp): DC_MN distributes the DC⇄DC shared key to DC_CN's static key (paper 002
// Fig. 3 steps 3-4). The different prologue makes a message of one variant fail Noise at a
// responder of the other, even with the type byte rewritten.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "crypto/aead.h"
#include "proto/bytes.h"
#include "proto/messages.h"

namespace ntm::crypto {

/// What tells the handshake's uses apart on the wire: the Noise prologue (mixed into h before
/// anything else) and the packet types of message 1 and message 2. `prologue` must outlive the
/// HandshakeInitiator/HandshakeResponder given the variant (the constants below are static).
struct HandshakeVariant {
  std::string_view prologue;
  proto::PacketType init_type, resp_type;
};
/// Node ⇄ DC (and ntm-admin/DC ⇄ AS): docs/protocol.md §3, §14.
inline constexpr HandshakeVariant kNodeDcHandshake{"NTM v1", proto::PacketType::kHandshakeInit,
                                                   proto::PacketType::kHandshakeResp};
/// DC ⇄ DC key distribution (message 1) and its acknowledgement (message 2).
inline constexpr HandshakeVariant kDcDcHandshake{"NTM dc v1", proto::PacketType::kDcHandshakeInit,
                                                 proto::PacketType::kDcHandshakeResp};

using Timestamp = std::array<uint8_t, 12>;
/// Now, in the 12-byte handshake timestamp form.
Timestamp now_timestamp();

/// Transport keys and indices once a handshake completed.
struct HandshakeResult {
  Key send_key, recv_key;
  uint32_t local_index = 0, remote_index = 0;
  Key remote_static{};    ///< the peer's static public key (the node identity, at the DC)
  Timestamp timestamp{};  ///< message 1 timestamp (responder side)
  proto::Bytes early;     ///< message 1's early data, decrypted (responder side; may be empty)
};

/// Plaintext bytes of early data a message 1 may carry (docs/protocol.md §3.2).
inline constexpr size_t kEarlyDataMin = proto::kControlHeaderSize, kEarlyDataMax = 1024;
/// Largest message 1: 148 bytes, then early data and its tag.
inline constexpr size_t kHandshakeInitMaxSize =
    proto::kHandshakeInitSize + kEarlyDataMax + proto::kTagSize;

/// Noise symmetric state (ck, h, k, n).
class SymmetricState {
 public:
  /// The node ⇄ DC handshake's state: Noise_IK_25519_ChaChaPoly_SHA256, prologue "NTM v1".
  SymmetricState();
  /// Noise_IK_25519_ChaChaPoly_SHA256 with the variant's prologue.
  explicit SymmetricState(const HandshakeVariant& v);
  /// InitializeSymmetric(protocol_name) then MixHash(prologue) (Noise rev. 34 §5.2): a name of
  /// at most 32 bytes is zero-padded into h, a longer one is hashed.
  SymmetricState(std::string_view protocol_name, proto::ByteView prologue);
  ~SymmetricState();
  void mix_hash(proto::ByteView data);
  void mix_key(proto::ByteView ikm);
  /// MixKeyAndHash (Noise rev. 34 §5.2), for the psk token.
  void mix_key_and_hash(proto::ByteView ikm);
  /// HKDF(ck, label) first output: a secret bound to the whole transcript.
  Key derive(std::string_view label) const;
  /// Appends enc(plain) to out and mixes it into h.
  void encrypt_and_hash(proto::ByteView plain, proto::Bytes& out);
  /// Decrypts `sealed` into out (sealed.size() − 16) and mixes it; false on auth failure.
  bool decrypt_and_hash(proto::ByteView sealed, uint8_t* out);
  void split(Key& k1, Key& k2) const;

 private:
  Key ck_{}, h_{}, k_{};
  bool has_key_ = false;
  uint64_t n_ = 0;
};

/// Node side of the handshake.
class HandshakeInitiator {
 public:
  /// `v` selects the prologue and packet types (node ⇄ DC by default; kDcDcHandshake for DCs).
  HandshakeInitiator(const Key& static_private, const Key& responder_static_public,
                     const HandshakeVariant& v = kNodeDcHandshake);
  /// Builds message 1 (kHandshakeInitSize bytes, mac1 and mac2 zero: CookieGenerator fills
  /// them) with a fresh ephemeral key and `local_index`; with `early` (kEarlyDataMin ..
  /// kEarlyDataMax bytes; otherwise none is sent) its encryption follows the 148 bytes.
  proto::Bytes create_init(uint32_t local_index, proto::ByteView early = {});
  /// Consumes message 2; nullopt when malformed, for another index, or not authentic. On
  /// success the ephemeral private key is wiped (a handshake completes once).
  std::optional<HandshakeResult> consume_response(proto::ByteView msg);
  ~HandshakeInitiator();

 private:
  Key s_priv_, s_pub_, rs_pub_;
  Key e_priv_{};
  uint32_t local_index_ = 0;
  HandshakeVariant variant_;
  SymmetricState ss_;
};

/// DC side: stateless between messages; one call consumes message 1 and writes message 2.
class HandshakeResponder {
 public:
  /// `v` selects the prologue and packet types (node ⇄ DC by default; kDcDcHandshake for DCs):
  /// a message 1 of another variant is refused.
  explicit HandshakeResponder(const Key& static_private,
                              const HandshakeVariant& v = kNodeDcHandshake);
  /// Consumes message 1 (with or without early data: 148 bytes, or 148 + 24..1040) and, when
  /// authentic, writes message 2 to `response` using `local_index`. Early data that does not
  /// decrypt fails the whole message (it is part of the transcript). The caller checks
  /// result.timestamp against the node's last one.
  std::optional<HandshakeResult> consume_init(proto::ByteView msg, uint32_t local_index,
                                              proto::Bytes& response);
  const Key& public_key() const { return s_pub_; }

 private:
  Key s_priv_, s_pub_;
  HandshakeVariant variant_;
};

}  // namespace ntm::crypto
