// An independent implementation of the cryptographic constructions exactly as docs/protocol.md
// describes them, written against libsodium only (no ntm_crypto). The test compares its
// output with the document's examples and with what ntm_crypto produces, so the prose of §3,
// §7 and §2 cannot drift from the code unnoticed. The generator prints its intermediate
// values (the handshake trace) as test vectors.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/bytes.h"

namespace ntm::protocol_doc::reference {

using Key = std::array<uint8_t, 32>;
using proto::Bytes;
using proto::ByteView;

/// HKDF as Noise defines it: temp = HMAC-SHA256(ck, ikm); out1 = HMAC(temp, 0x01);
/// out2 = HMAC(temp, out1 || 0x02).
std::pair<Key, Key> hkdf(const Key& ck, ByteView ikm);
/// ChaCha20-Poly1305 (IETF) with nonce = 4 zero bytes || counter as u64 little-endian.
Bytes aead_seal(const Key& k, uint64_t counter, ByteView ad, ByteView plain);
Key x25519_public(const Key& priv);
Key x25519(const Key& priv, const Key& pub);

/// Noise_IK_25519_ChaChaPoly_SHA256 with prologue "NTM v1", both messages, with a trace of
/// (label, h or ck or k) after every step.
struct Handshake {
  Bytes msg1, msg2;
  Key k1, k2;
  std::vector<std::pair<std::string, Key>> trace;
};
Handshake handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                    const Key& dc_e, uint32_t node_index, uint32_t dc_index, ByteView timestamp);

/// Tunnel control keys (i2r, r2i) = HKDF(T, "ntm tunnel control").
std::pair<Key, Key> tunnel_control_keys(const Key& temporal_key);
/// Data keys (i2r, r2i) = HKDF(T, X25519(ei, Er) || Ei || Er), computed as the initiator.
std::pair<Key, Key> tunnel_data_keys(const Key& temporal_key, const Key& initiator_e_priv,
                                     const Key& responder_e_pub);

/// A sealed packet: header (type, 0,0,0, receiver index BE, counter BE) || AEAD(header as AD).
Bytes seal_packet(uint8_t type, uint32_t receiver_index, uint64_t counter, const Key& key,
                  ByteView plain);

}  // namespace ntm::protocol_doc::reference
