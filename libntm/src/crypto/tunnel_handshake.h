// Node ⇄ node tunnel handshake: Noise_KKpsk0_25519_ChaChaPoly_SHA256 (Noise rev. 34),
// docs/protocol.md §7. Both nodes know each other's static public key before the first
// message: the DC's route direction carries the peer's key (PeerStaticKey) together with the
// per-tunnel temporal key T, which is the pre-shared key of the first handshake. So a tunnel
// needs both static private keys *and* T: the DC, which knows T but no node's private key,
// cannot complete or impersonate either side, and a stranger who learns a node's key but not
// T cannot start a tunnel the DC did not direct.
//
//   KKpsk0:  -> s  <- s  ...  -> psk, e, es, ss   <- e, ee, se
//
// Prologue: "NTM tunnel v1" ‖ direction ID (u32 BE), so a message belongs to one negotiation.
// Pre-messages: MixHash(S_initiator), MixHash(S_responder).
// Rekeying (§7.8) runs the same pattern again between the same two nodes with the
// psk = the rekey secret R of the previous handshake: R = HKDF(ck, "ntm rekey") (first output)
// after the handshake's last token, known only to the two nodes.
//
// Both messages have one layout (packet type 0x04):
//   0x04 | reserved (3) | direction ID (u32 BE) | e (32) | AEAD(payload) (payload + 16)
// The payload is a control message: tunnel request or tunnel response (§4.4.7-8).
#pragma once

#include <optional>

#include "crypto/handshake.h"
#include "proto/messages.h"

namespace ntm::crypto {

struct DirectionalKeys {
  Key send, recv;
};

struct TunnelHandshakeParams {
  Key local_static_private{};
  Key peer_static_public{};
  Key psk{};  ///< temporal key T (first handshake) or the rekey secret R (later ones)
  uint32_t direction_id = 0;
  proto::Role role = proto::Role::kInitiator;
};

/// One tunnel handshake, from one side. Not thread-safe; single use.
class TunnelHandshake {
 public:
  explicit TunnelHandshake(const TunnelHandshakeParams& p);
  ~TunnelHandshake();
  TunnelHandshake(const TunnelHandshake&) = delete;
  TunnelHandshake& operator=(const TunnelHandshake&) = delete;

  /// Initiator: message 1 with a fresh ephemeral key and `payload`. Empty on a low-order peer
  /// key (the negotiation fails).
  proto::Bytes create_request(proto::ByteView payload);
  /// Responder: consumes message 1; returns its payload, nullopt when it does not
  /// authenticate (wrong T, wrong static keys, other direction, tampered) or is malformed.
  std::optional<proto::Bytes> consume_request(proto::ByteView msg);
  /// Responder, after consume_request: message 2 with `payload`; completes the handshake.
  proto::Bytes create_response(proto::ByteView payload);
  /// Initiator: consumes message 2; returns its payload and completes the handshake, or
  /// nullopt (state unchanged, so a forged message 2 cannot spoil the real one).
  std::optional<proto::Bytes> consume_response(proto::ByteView msg);

  bool complete() const { return complete_; }
  /// After completion: this side's data keys (initiator sends with k1, responder with k2).
  const DirectionalKeys& keys() const { return keys_; }
  /// After completion: the psk of the next handshake between the two (rekey).
  const Key& rekey_secret() const { return rekey_secret_; }
  /// The initiator's ephemeral public key (both sides, once known): names message 1 for
  /// duplicate detection.
  const Key& initiator_ephemeral() const { return ei_pub_; }

 private:
  void finish();

  TunnelHandshakeParams p_;
  Key s_pub_{}, e_priv_{}, e_pub_{}, ei_pub_{};
  SymmetricState ss_;
  bool complete_ = false;
  DirectionalKeys keys_{};
  Key rekey_secret_{};
};

/// Reads the direction ID (receiver index) of a tunnel handshake message; false when it is not
/// one (wrong type, reserved bytes, or size outside [kTunnelHandshakeMinSize,
/// kTunnelHandshakeMaxSize]).
bool parse_tunnel_handshake(proto::ByteView msg, uint32_t& direction_id);

}  // namespace ntm::crypto
