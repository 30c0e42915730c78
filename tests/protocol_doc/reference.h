// An independent implementation of the cryptographic constructions exactly as docs/protocol.md
// describes them, written against libsodium only (no ntm_crypto). The test compares its
// output with the document's examples and with what ntm_crypto produces, so the prose of §2,
// §3 (handshake, MACs, cookies), §7 (tunnel handshake, keys, rekey secret) and §8 cannot
// drift from the code unnoticed. The generator prints its intermediate values (the handshake
// traces) as test vectors.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/bytes.h"

namespace ntm::protocol_doc::reference {

using Key = std::array<uint8_t, 32>;
using Mac = std::array<uint8_t, 16>;
using proto::Bytes;
using proto::ByteView;

/// HKDF as Noise defines it: temp = HMAC-SHA256(ck, ikm); out1 = HMAC(temp, 0x01);
/// out2 = HMAC(temp, out1 || 0x02).
std::pair<Key, Key> hkdf(const Key& ck, ByteView ikm);
/// The three-output form: out3 = HMAC(temp, out2 || 0x03).
std::array<Key, 3> hkdf3(const Key& ck, ByteView ikm);
/// ChaCha20-Poly1305 (IETF) with nonce = 4 zero bytes || counter as u64 little-endian.
Bytes aead_seal(const Key& k, uint64_t counter, ByteView ad, ByteView plain);
Key x25519_public(const Key& priv);
Key x25519(const Key& priv, const Key& pub);

/// Noise_IK_25519_ChaChaPoly_SHA256 with prologue "NTM v1", both messages, with a trace of
/// (label, h or ck or k) after every step. msg1 is the 116-byte Noise part of message 1
/// (without mac1 and mac2).
struct Handshake {
  Bytes msg1, msg2;
  Key k1, k2;
  std::vector<std::pair<std::string, Key>> trace;
};
Handshake handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                    const Key& dc_e, uint32_t node_index, uint32_t dc_index, ByteView timestamp);

// §3.8: MACs and cookies (BLAKE2b, XChaCha20-Poly1305).

/// BLAKE2b-256(label (8 ASCII bytes) || dc_public): the mac1 key ("mac1----") or the cookie
/// key ("cookie--").
Key label_key(const char* label, const Key& dc_public);
/// Keyed BLAKE2b with a 16-byte output.
Mac mac(ByteView key, ByteView data);
/// mac1 over bytes 0..115 of a message 1.
Mac mac1(const Key& dc_public, ByteView msg);
/// cookie = MAC(secret, address (4 or 16 bytes) || port (u16 BE)).
Mac cookie(const Key& secret, ByteView address, uint16_t port);
/// mac2 = MAC(cookie, bytes 0..131 of a message 1).
Mac mac2(const Mac& cookie, ByteView msg);
/// The 64-byte cookie reply to a message 1 whose sender index and mac1 are given.
Bytes cookie_reply(const Key& dc_public, uint32_t receiver_index, const Mac& msg1_mac1,
                   ByteView nonce24, const Mac& cookie);
/// Opens a cookie reply; false when it does not authenticate with ad = msg1_mac1.
bool open_cookie_reply(const Key& dc_public, const Mac& msg1_mac1, ByteView reply, Mac& cookie);

// §7.4-7.6: the tunnel handshake, Noise_KKpsk0_25519_ChaChaPoly_SHA256, prologue
// "NTM tunnel v1" || direction ID (u32 BE).

struct TunnelHandshake {
  Bytes msg1, msg2;  ///< whole type-0x04 packets
  Key k1, k2;        ///< Split(): the initiator sends with k1
  Key rekey_secret;  ///< HKDF(ck, "ntm rekey"), first output
  std::vector<std::pair<std::string, Key>> trace;
};
TunnelHandshake tunnel_handshake(const Key& initiator_static, const Key& responder_static,
                                 const Key& initiator_e, const Key& responder_e, const Key& psk,
                                 uint32_t direction_id, ByteView payload1, ByteView payload2);

/// A sealed packet: header (type, 0,0,0, receiver index BE, counter BE) || AEAD(header as AD).
Bytes seal_packet(uint8_t type, uint32_t receiver_index, uint64_t counter, const Key& key,
                  ByteView plain);
/// §8.3: the 10-byte plaintext of a tunnel message: 0x00 || kind || token (u64 BE).
Bytes tunnel_message(uint8_t kind, uint64_t token);

}  // namespace ntm::protocol_doc::reference
