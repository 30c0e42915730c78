// ChaCha20-Poly1305 (IETF, RFC 8439) with a 64-bit counter nonce, and HKDF over HMAC-SHA256
// (RFC 5869 as used by Noise rev. 34 §4.3). Thin wrappers over libsodium.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "proto/messages.h"

namespace ntm::crypto {

using Key = std::array<uint8_t, proto::kKeySize>;
using ByteView = std::span<const uint8_t>;

/// Calls sodium_init() once; safe from any thread. Aborts if libsodium cannot initialise.
void init();

/// Seals `plain` into `out` (plain.size() + 16 bytes). Nonce = 4 zero bytes || counter as
/// 64-bit little-endian (Noise ChaChaPoly). `out` may alias `plain` exactly.
void seal(const Key& key, uint64_t counter, ByteView aad, ByteView plain, uint8_t* out);
/// Opens `sealed` (ciphertext||tag) into `out` (sealed.size() − 16 bytes). Returns false on a
/// short input or authentication failure; `out` is then unspecified.
bool open(const Key& key, uint64_t counter, ByteView aad, ByteView sealed, uint8_t* out);

/// HKDF with HMAC-SHA256 as Noise defines it: temp = HMAC(ck, ikm); out1 = HMAC(temp, 0x01);
/// out2 = HMAC(temp, out1 || 0x02).
void hkdf2(const Key& chaining_key, ByteView ikm, Key& out1, Key& out2);
/// The three-output form (Noise rev. 34 §4.3), used by MixKeyAndHash for pre-shared keys:
/// out3 = HMAC(temp, out2 || 0x03).
void hkdf3(const Key& chaining_key, ByteView ikm, Key& out1, Key& out2, Key& out3);

/// X25519 public key from a private key.
Key public_key(const Key& private_key);
/// X25519(private, peer_public). Returns false when the result is all-zero (low-order point).
bool dh(const Key& private_key, const Key& peer_public, Key& shared);
/// A fresh X25519 private key from the OS CSPRNG.
Key random_private_key();
void random_bytes(void* p, size_t n);
uint32_t random_u32();

}  // namespace ntm::crypto
