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

std::array<Key, 3> hkdf3(const Key& ck, ByteView ikm) {
  Key temp = hmac(ck, ikm);
  const uint8_t one = 0x01, two = 0x02, three = 0x03;
  Key out1 = hmac(temp, ByteView(&one, 1));
  Key out2 = hmac(temp, out1, ByteView(&two, 1));
  Key out3 = hmac(temp, out2, ByteView(&three, 1));
  return {out1, out2, out3};
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

Key label_key(const char* label, const Key& dc_public) {
  Bytes in(reinterpret_cast<const uint8_t*>(label), reinterpret_cast<const uint8_t*>(label) + 8);
  append(in, dc_public);
  Key out;
  crypto_generichash(out.data(), out.size(), in.data(), in.size(), nullptr, 0);
  return out;
}

Mac mac(ByteView key, ByteView data) {
  Mac out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

Mac mac1(const Key& dc_public, ByteView msg) {
  return mac(label_key("mac1----", dc_public), msg.first(116));
}

Mac cookie(const Key& secret, ByteView address, uint16_t port) {
  Bytes in(address.begin(), address.end());
  in.push_back(uint8_t(port >> 8));
  in.push_back(uint8_t(port));
  return mac(secret, in);
}

Mac mac2(const Mac& cookie, ByteView msg) {
  return mac(cookie, msg.first(132));
}

Bytes cookie_reply(const Key& dc_public, uint32_t receiver_index, const Mac& msg1_mac1,
                   ByteView nonce24, const Mac& cookie) {
  Bytes out = {0x06, 0, 0, 0};
  put_be32(out, receiver_index);
  append(out, nonce24);
  Key k = label_key("cookie--", dc_public);
  Bytes sealed(cookie.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data(), &len, cookie.data(), cookie.size(),
                                             msg1_mac1.data(), msg1_mac1.size(), nullptr,
                                             nonce24.data(), k.data());
  append(out, sealed);
  return out;
}

bool open_cookie_reply(const Key& dc_public, const Mac& msg1_mac1, ByteView reply, Mac& cookie) {
  if (reply.size() != 64 || reply[0] != 0x06) return false;
  Key k = label_key("cookie--", dc_public);
  unsigned long long len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(cookie.data(), &len, nullptr, reply.data() + 32,
                                                    32, msg1_mac1.data(), msg1_mac1.size(),
                                                    reply.data() + 8, k.data()) == 0;
}

TunnelHandshake tunnel_handshake(const Key& initiator_static, const Key& responder_static,
                                 const Key& initiator_e, const Key& responder_e, const Key& psk,
                                 uint32_t direction_id, ByteView payload1, ByteView payload2) {
  TunnelHandshake r;
  const char* name = "Noise_KKpsk0_25519_ChaChaPoly_SHA256";  // 36 bytes: longer than 32
  Key h, ck, k;
  crypto_hash_sha256(h.data(), reinterpret_cast<const uint8_t*>(name), 36);
  ck = h;
  r.trace.push_back({"h = ck = HASH(protocol name)", h});
  Bytes prologue(reinterpret_cast<const uint8_t*>("NTM tunnel v1"),
                 reinterpret_cast<const uint8_t*>("NTM tunnel v1") + 13);
  put_be32(prologue, direction_id);
  h = sha256(h, prologue);
  r.trace.push_back({"h after MixHash(prologue)", h});
  Key Si = x25519_public(initiator_static), Sr = x25519_public(responder_static);
  Key Ei = x25519_public(initiator_e), Er = x25519_public(responder_e);
  h = sha256(h, Si);
  r.trace.push_back({"h after MixHash(S_i)  [pre-message -> s]", h});
  h = sha256(h, Sr);
  r.trace.push_back({"h after MixHash(S_r)  [pre-message <- s]", h});
  auto mix_key = [&](ByteView ikm) { std::tie(ck, k) = hkdf(ck, ikm); };
  auto header = [&](Bytes& out, const Key& e) {
    out = {0x04, 0, 0, 0};
    put_be32(out, direction_id);
    append(out, e);
  };

  // Message 1: -> psk, e, es, ss ; payload = tunnel request
  header(r.msg1, Ei);
  auto [ck1, temp_h, temp_k] = hkdf3(ck, psk);  // MixKeyAndHash(psk)
  ck = ck1;
  h = sha256(h, temp_h);
  k = temp_k;
  r.trace.push_back({"ck after psk", ck});
  r.trace.push_back({"h after psk", h});
  h = sha256(h, Ei);
  mix_key(Ei);  // psk mode: e is also MixKey(e)
  r.trace.push_back({"h after MixHash(e)", h});
  r.trace.push_back({"ck after MixKey(e)", ck});
  mix_key(x25519(initiator_e, Sr));
  r.trace.push_back({"ck after es", ck});
  mix_key(x25519(initiator_static, Sr));
  r.trace.push_back({"ck after ss", ck});
  r.trace.push_back({"k after ss", k});
  Bytes c1 = aead_seal(k, 0, h, payload1);
  append(r.msg1, c1);
  h = sha256(h, c1);
  r.trace.push_back({"h after the payload (end of message 1)", h});

  // Message 2: <- e, ee, se ; payload = tunnel response
  header(r.msg2, Er);
  h = sha256(h, Er);
  mix_key(Er);
  r.trace.push_back({"h after MixHash(e) of message 2", h});
  r.trace.push_back({"ck after MixKey(e) of message 2", ck});
  mix_key(x25519(responder_e, Ei));
  r.trace.push_back({"ck after ee", ck});
  mix_key(x25519(responder_e, Si));
  r.trace.push_back({"ck after se", ck});
  r.trace.push_back({"k after se", k});
  Bytes c2 = aead_seal(k, 0, h, payload2);
  append(r.msg2, c2);
  h = sha256(h, c2);
  r.trace.push_back({"h after the payload (end of message 2)", h});
  std::tie(r.k1, r.k2) = hkdf(ck, {});
  r.rekey_secret = hkdf(ck, ByteView(reinterpret_cast<const uint8_t*>("ntm rekey"), 9)).first;
  return r;
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

Bytes tunnel_message(uint8_t kind, uint64_t token) {
  Bytes out = {0x00, kind};
  put_be32(out, uint32_t(token >> 32));
  put_be32(out, uint32_t(token));
  return out;
}

}  // namespace ntm::protocol_doc::reference
