#include "crypto/aead.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace ntm::crypto {
namespace {

void make_nonce(uint64_t counter, uint8_t nonce[12]) {
  std::memset(nonce, 0, 4);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = uint8_t(counter >> (8 * i));
}

void hmac(ByteView key, ByteView data1, ByteView data2, uint8_t out[32]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, data1.data(), data1.size());
  crypto_auth_hmacsha256_update(&st, data2.data(), data2.size());
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

void init() {
  if (sodium_init() < 0) std::abort();
}

void seal(const Key& key, uint64_t counter, ByteView aad, ByteView plain, uint8_t* out) {
  uint8_t nonce[12];
  make_nonce(counter, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, plain.data(), plain.size(), aad.data(),
                                            aad.size(), nullptr, nonce, key.data());
}

bool open(const Key& key, uint64_t counter, ByteView aad, ByteView sealed, uint8_t* out) {
  if (sealed.size() < proto::kTagSize) return false;
  uint8_t nonce[12];
  make_nonce(counter, nonce);
  unsigned long long mlen = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, nullptr, sealed.data(),
                                                   sealed.size(), aad.data(), aad.size(), nonce,
                                                   key.data()) == 0;
}

void hkdf2(const Key& chaining_key, ByteView ikm, Key& out1, Key& out2) {
  uint8_t temp[32];
  hmac(chaining_key, ikm, {}, temp);
  const uint8_t one = 1, two = 2;
  hmac(ByteView(temp, 32), ByteView(&one, 1), {}, out1.data());
  hmac(ByteView(temp, 32), out1, ByteView(&two, 1), out2.data());
  sodium_memzero(temp, sizeof temp);
}

void hkdf3(const Key& chaining_key, ByteView ikm, Key& out1, Key& out2, Key& out3) {
  uint8_t temp[32];
  hmac(chaining_key, ikm, {}, temp);
  const uint8_t one = 1, two = 2, three = 3;
  hmac(ByteView(temp, 32), ByteView(&one, 1), {}, out1.data());
  hmac(ByteView(temp, 32), out1, ByteView(&two, 1), out2.data());
  hmac(ByteView(temp, 32), out2, ByteView(&three, 1), out3.data());
  sodium_memzero(temp, sizeof temp);
}

Key public_key(const Key& private_key) {
  Key pub;
  crypto_scalarmult_curve25519_base(pub.data(), private_key.data());
  return pub;
}

bool dh(const Key& private_key, const Key& peer_public, Key& shared) {
  return crypto_scalarmult_curve25519(shared.data(), private_key.data(), peer_public.data()) == 0;
}

Key random_private_key() {
  Key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

void random_bytes(void* p, size_t n) {
  randombytes_buf(p, n);
}
uint32_t random_u32() {
  return randombytes_random();
}

}  // namespace ntm::crypto
