#include "crypto/handshake.h"

#include <sodium.h>
#include <time.h>

#include <cstring>

#include "proto/messages.h"

namespace ntm::crypto {
namespace {

constexpr char kProtocolName[] = "Noise_IK_25519_ChaChaPoly_SHA256";  // exactly 32 bytes
static_assert(sizeof(kProtocolName) - 1 == 32);

proto::ByteView view(const Key& k) {
  return proto::ByteView(k.data(), k.size());
}

}  // namespace

Timestamp now_timestamp() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  Timestamp t;
  proto::put_u64(t.data(), uint64_t(ts.tv_sec));
  proto::put_u32(t.data() + 8, uint32_t(ts.tv_nsec));
  return t;
}

SymmetricState::SymmetricState() : SymmetricState(kNodeDcHandshake) {}

SymmetricState::SymmetricState(const HandshakeVariant& v)
    : SymmetricState(
          kProtocolName,
          proto::ByteView(reinterpret_cast<const uint8_t*>(v.prologue.data()), v.prologue.size())) {
}

SymmetricState::SymmetricState(std::string_view name, proto::ByteView prologue) {
  if (name.size() <= h_.size()) {
    std::memcpy(h_.data(), name.data(), name.size());
  } else {
    crypto_hash_sha256(h_.data(), reinterpret_cast<const uint8_t*>(name.data()), name.size());
  }
  ck_ = h_;
  mix_hash(prologue);
}

SymmetricState::~SymmetricState() {
  sodium_memzero(ck_.data(), ck_.size());
  sodium_memzero(k_.data(), k_.size());
}

void SymmetricState::mix_key_and_hash(proto::ByteView ikm) {
  Key temp_h, temp_k;
  hkdf3(ck_, ikm, ck_, temp_h, temp_k);
  mix_hash(view(temp_h));
  k_ = temp_k;
  has_key_ = true;
  n_ = 0;
  sodium_memzero(temp_k.data(), temp_k.size());
}

Key SymmetricState::derive(std::string_view label) const {
  Key a, b;
  hkdf2(ck_, proto::ByteView(reinterpret_cast<const uint8_t*>(label.data()), label.size()), a, b);
  sodium_memzero(b.data(), b.size());
  return a;
}

void SymmetricState::mix_hash(proto::ByteView data) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, h_.data(), h_.size());
  crypto_hash_sha256_update(&st, data.data(), data.size());
  crypto_hash_sha256_final(&st, h_.data());
}

void SymmetricState::mix_key(proto::ByteView ikm) {
  hkdf2(ck_, ikm, ck_, k_);
  has_key_ = true;
  n_ = 0;
}

void SymmetricState::encrypt_and_hash(proto::ByteView plain, proto::Bytes& out) {
  size_t at = out.size();
  out.resize(at + plain.size() + proto::kTagSize);
  seal(k_, n_++, view(h_), plain, out.data() + at);
  mix_hash(proto::ByteView(out.data() + at, plain.size() + proto::kTagSize));
}

bool SymmetricState::decrypt_and_hash(proto::ByteView sealed, uint8_t* out) {
  if (!open(k_, n_, view(h_), sealed, out)) return false;
  ++n_;
  mix_hash(sealed);
  return true;
}

void SymmetricState::split(Key& k1, Key& k2) const {
  hkdf2(ck_, {}, k1, k2);
}

HandshakeInitiator::HandshakeInitiator(const Key& static_private, const Key& responder_static,
                                       const HandshakeVariant& v)
    : s_priv_(static_private),
      s_pub_(crypto::public_key(static_private)),
      rs_pub_(responder_static),
      variant_(v),
      ss_(v) {}

proto::Bytes HandshakeInitiator::create_init(uint32_t local_index, proto::ByteView early) {
  ss_ = SymmetricState(variant_);
  ss_.mix_hash(view(rs_pub_));  // pre-message: <- s
  local_index_ = local_index;
  e_priv_ = random_private_key();
  Key e_pub = crypto::public_key(e_priv_), shared;
  proto::Bytes msg;
  proto::Writer w(msg);
  w.u8(uint8_t(variant_.init_type));
  w.u8(0), w.u8(0), w.u8(0);
  w.u32(local_index);
  w.raw(e_pub.data(), 32);
  ss_.mix_hash(view(e_pub));                     // e
  if (!dh(e_priv_, rs_pub_, shared)) return {};  // es
  ss_.mix_key(view(shared));
  ss_.encrypt_and_hash(view(s_pub_), msg);       // s
  if (!dh(s_priv_, rs_pub_, shared)) return {};  // ss
  ss_.mix_key(view(shared));
  Timestamp ts = now_timestamp();
  ss_.encrypt_and_hash(proto::ByteView(ts.data(), ts.size()), msg);  // payload
  msg.resize(proto::kHandshakeInitSize);                             // mac1, mac2: zero
  if (early.size() >= kEarlyDataMin && early.size() <= kEarlyDataMax)
    ss_.encrypt_and_hash(early, msg);  // early data: a second payload, after the MACs
  sodium_memzero(shared.data(), shared.size());
  return msg;
}

HandshakeInitiator::~HandshakeInitiator() {
  sodium_memzero(e_priv_.data(), e_priv_.size());
}

std::optional<HandshakeResult> HandshakeInitiator::consume_response(proto::ByteView msg) {
  if (msg.size() != proto::kHandshakeRespSize || msg[0] != uint8_t(variant_.resp_type) ||
      (msg[1] | msg[2] | msg[3]))
    return std::nullopt;
  HandshakeResult r;
  r.remote_index = proto::get_u32(&msg[4]);
  r.local_index = proto::get_u32(&msg[8]);
  if (r.local_index != local_index_) return std::nullopt;
  SymmetricState ss = ss_;  // keep our state intact if this response is forged
  Key re, shared;
  std::memcpy(re.data(), &msg[12], 32);
  ss.mix_hash(view(re));                              // e
  if (!dh(e_priv_, re, shared)) return std::nullopt;  // ee
  ss.mix_key(view(shared));
  if (!dh(s_priv_, re, shared)) return std::nullopt;  // se
  ss.mix_key(view(shared));
  uint8_t empty[1];
  if (!ss.decrypt_and_hash(msg.subspan(44, proto::kTagSize), empty)) return std::nullopt;
  ss.split(r.send_key, r.recv_key);
  r.remote_static = rs_pub_;
  sodium_memzero(shared.data(), shared.size());
  sodium_memzero(e_priv_.data(), e_priv_.size());
  local_index_ = 0;  // a second message 2 for this initiation is not accepted
  return r;
}

HandshakeResponder::HandshakeResponder(const Key& static_private, const HandshakeVariant& v)
    : s_priv_(static_private), s_pub_(crypto::public_key(static_private)), variant_(v) {}

std::optional<HandshakeResult> HandshakeResponder::consume_init(proto::ByteView msg,
                                                                uint32_t local_index,
                                                                proto::Bytes& response) {
  size_t early_size = msg.size() - proto::kHandshakeInitSize;  // with its tag
  if (msg.size() < proto::kHandshakeInitSize ||
      (early_size != 0 && (early_size < kEarlyDataMin + proto::kTagSize ||
                           early_size > kEarlyDataMax + proto::kTagSize)) ||
      msg[0] != uint8_t(variant_.init_type) || (msg[1] | msg[2] | msg[3]))
    return std::nullopt;
  HandshakeResult r;
  r.remote_index = proto::get_u32(&msg[4]);
  r.local_index = local_index;
  SymmetricState ss(variant_);
  ss.mix_hash(view(s_pub_));  // pre-message: <- s
  Key ie, shared;
  std::memcpy(ie.data(), &msg[8], 32);
  ss.mix_hash(view(ie));                              // e
  if (!dh(s_priv_, ie, shared)) return std::nullopt;  // es
  ss.mix_key(view(shared));
  if (!ss.decrypt_and_hash(msg.subspan(40, 48), r.remote_static.data()))  // s
    return std::nullopt;
  if (!dh(s_priv_, r.remote_static, shared)) return std::nullopt;  // ss
  ss.mix_key(view(shared));
  if (!ss.decrypt_and_hash(msg.subspan(88, 28), r.timestamp.data())) return std::nullopt;
  // Bytes 116..147 (mac1, mac2) are the DC's DoS check (crypto/cookie.h), done before this.
  if (early_size) {
    r.early.resize(early_size - proto::kTagSize);
    if (!ss.decrypt_and_hash(msg.subspan(proto::kHandshakeInitSize), r.early.data()))
      return std::nullopt;
  }

  Key e_priv = random_private_key(), e_pub = crypto::public_key(e_priv);
  response.clear();
  proto::Writer w(response);
  w.u8(uint8_t(variant_.resp_type));
  w.u8(0), w.u8(0), w.u8(0);
  w.u32(local_index);
  w.u32(r.remote_index);
  w.raw(e_pub.data(), 32);
  ss.mix_hash(view(e_pub));                          // e
  if (!dh(e_priv, ie, shared)) return std::nullopt;  // ee
  ss.mix_key(view(shared));
  if (!dh(e_priv, r.remote_static, shared)) return std::nullopt;  // se
  ss.mix_key(view(shared));
  ss.encrypt_and_hash({}, response);
  Key k1, k2;
  ss.split(k1, k2);
  r.send_key = k2;  // the responder sends with k2
  r.recv_key = k1;
  sodium_memzero(e_priv.data(), e_priv.size());
  sodium_memzero(shared.data(), shared.size());
  return r;
}

}  // namespace ntm::crypto
