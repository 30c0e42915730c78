#include "reference.h"

#include <sodium.h>

#include <cstring>
#include <tuple>

namespace ntm::protocol_doc::reference {
namespace {

Key hmac(ByteView key, ByteView a, ByteView b = {}) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  Key out;
  crypto_auth_hmacsha256_final(&st, out.data());
  return out;
}

Key sha256(ByteView a, ByteView b) {
  Bytes cat(a.begin(), a.end());
  cat.insert(cat.end(), b.begin(), b.end());
  Key out;
  crypto_hash_sha256(out.data(), cat.data(), cat.size());
  return out;
}

void put_be32(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(uint8_t(v >> (8 * i)));
}

void append(Bytes& out, ByteView v) {
  out.insert(out.end(), v.begin(), v.end());
}

}  // namespace

std::pair<Key, Key> hkdf(const Key& ck, ByteView ikm) {
  Key temp = hmac(ck, ikm);
  const uint8_t one = 0x01, two = 0x02;
  Key out1 = hmac(temp, ByteView(&one, 1));
  Key out2 = hmac(temp, out1, ByteView(&two, 1));
  return {out1, out2};
}

Bytes aead_seal(const Key& k, uint64_t counter, ByteView ad, ByteView plain) {
  uint8_t nonce[12] = {0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = uint8_t(counter >> (8 * i));
  Bytes out(plain.size() + crypto_aead_chacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, plain.data(), plain.size(), ad.data(),
                                            ad.size(), nullptr, nonce, k.data());
  return out;
}

Key x25519_public(const Key& priv) {
  Key pub;
  crypto_scalarmult_curve25519_base(pub.data(), priv.data());
  return pub;
}

Key x25519(const Key& priv, const Key& pub) {
  Key out;
  if (crypto_scalarmult_curve25519(out.data(), priv.data(), pub.data()) != 0) out.fill(0);
  return out;
}

Handshake handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                    const Key& dc_e, uint32_t node_index, uint32_t dc_index, ByteView timestamp) {
  Handshake r;
  const char* name = "Noise_IK_25519_ChaChaPoly_SHA256";
  const char* prologue = "NTM v1";
  Key h, ck, k;
  std::memcpy(h.data(), name, 32);  // the name is exactly 32 bytes: h = name, no hashing
  ck = h;
  r.trace.push_back({"h = ck = protocol name", h});
  h = sha256(h, ByteView(reinterpret_cast<const uint8_t*>(prologue), 6));
  r.trace.push_back({"h after MixHash(prologue \"NTM v1\")", h});
  Key S = x25519_public(dc_static), s_pub = x25519_public(node_static);
  Key E = x25519_public(node_e), RE = x25519_public(dc_e);
  h = sha256(h, S);
  r.trace.push_back({"h after MixHash(dc_static_public)  [pre-message <- s]", h});

  // Message 1: -> e, es, s, ss ; payload = timestamp
  r.msg1 = {0x01, 0, 0, 0};
  put_be32(r.msg1, node_index);
  append(r.msg1, E);
  h = sha256(h, E);
  r.trace.push_back({"h after MixHash(e)", h});
  std::tie(ck, k) = hkdf(ck, x25519(node_e, S));
  r.trace.push_back({"ck after es", ck});
  r.trace.push_back({"k after es", k});
  Bytes enc_s = aead_seal(k, 0, h, s_pub);
  append(r.msg1, enc_s);
  h = sha256(h, enc_s);
  r.trace.push_back({"h after s", h});
  std::tie(ck, k) = hkdf(ck, x25519(node_static, S));
  r.trace.push_back({"ck after ss", ck});
  r.trace.push_back({"k after ss", k});
  Bytes enc_ts = aead_seal(k, 0, h, timestamp);
  append(r.msg1, enc_ts);
  h = sha256(h, enc_ts);
  r.trace.push_back({"h after the timestamp payload (end of message 1)", h});

  // Message 2: <- e, ee, se ; empty payload
  r.msg2 = {0x02, 0, 0, 0};
  put_be32(r.msg2, dc_index);
  put_be32(r.msg2, node_index);
  append(r.msg2, RE);
  h = sha256(h, RE);
  r.trace.push_back({"h after MixHash(e) of message 2", h});
  std::tie(ck, k) = hkdf(ck, x25519(dc_e, E));
  r.trace.push_back({"ck after ee", ck});
  std::tie(ck, k) = hkdf(ck, x25519(dc_e, s_pub));
  r.trace.push_back({"ck after se", ck});
  r.trace.push_back({"k after se", k});
  Bytes enc_empty = aead_seal(k, 0, h, {});
  append(r.msg2, enc_empty);
  h = sha256(h, enc_empty);
  r.trace.push_back({"h after the empty payload (end of message 2)", h});
  std::tie(r.k1, r.k2) = hkdf(ck, {});
  return r;
}

std::pair<Key, Key> tunnel_control_keys(const Key& temporal_key) {
  const char* label = "ntm tunnel control";
  return hkdf(temporal_key, ByteView(reinterpret_cast<const uint8_t*>(label), 18));
}

std::pair<Key, Key> tunnel_data_keys(const Key& temporal_key, const Key& initiator_e_priv,
                                     const Key& responder_e_pub) {
  Bytes ikm;
  append(ikm, x25519(initiator_e_priv, responder_e_pub));
  append(ikm, x25519_public(initiator_e_priv));
  append(ikm, responder_e_pub);
  return hkdf(temporal_key, ikm);
}

Bytes seal_packet(uint8_t type, uint32_t receiver_index, uint64_t counter, const Key& key,
                  ByteView plain) {
  Bytes out = {type, 0, 0, 0};
  put_be32(out, receiver_index);
  put_be32(out, uint32_t(counter >> 32));
  put_be32(out, uint32_t(counter));
  Bytes sealed = aead_seal(key, counter, out, plain);
  append(out, sealed);
  return out;
}

}  // namespace ntm::protocol_doc::reference
