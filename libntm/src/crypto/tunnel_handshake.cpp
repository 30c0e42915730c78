#include "crypto/tunnel_handshake.h"

#include <sodium.h>

#include <cstring>

namespace ntm::crypto {
namespace {

constexpr char kProtocolName[] = "Noise_KKpsk0_25519_ChaChaPoly_SHA256";  // 36 bytes: hashed
constexpr char kPrologue[] = "NTM tunnel v1";
constexpr char kRekeyLabel[] = "ntm rekey";

proto::ByteView view(const Key& k) {
  return proto::ByteView(k.data(), k.size());
}

SymmetricState initial_state(uint32_t direction_id) {
  uint8_t prologue[sizeof(kPrologue) - 1 + 4];
  std::memcpy(prologue, kPrologue, sizeof(kPrologue) - 1);
  proto::put_u32(prologue + sizeof(kPrologue) - 1, direction_id);
  return SymmetricState(std::string_view(kProtocolName, sizeof(kProtocolName) - 1),
                        proto::ByteView(prologue, sizeof prologue));
}

void write_header(proto::Bytes& out, uint32_t direction_id, const Key& e) {
  proto::Writer w(out);
  w.u8(uint8_t(proto::PacketType::kTunnelHandshake));
  w.u8(0), w.u8(0), w.u8(0);
  w.u32(direction_id);
  w.raw(e.data(), e.size());
}

}  // namespace

bool parse_tunnel_handshake(proto::ByteView msg, uint32_t& direction_id) {
  if (msg.size() < proto::kTunnelHandshakeMinSize || msg.size() > proto::kTunnelHandshakeMaxSize ||
      msg[0] != uint8_t(proto::PacketType::kTunnelHandshake) || (msg[1] | msg[2] | msg[3]))
    return false;
  direction_id = proto::get_u32(&msg[4]);
  return true;
}

TunnelHandshake::TunnelHandshake(const TunnelHandshakeParams& p)
    : p_(p), s_pub_(public_key(p.local_static_private)), ss_(initial_state(p.direction_id)) {
  // Pre-messages: -> s, <- s (initiator's key first).
  const Key& si = p_.role == proto::Role::kInitiator ? s_pub_ : p_.peer_static_public;
  const Key& sr = p_.role == proto::Role::kInitiator ? p_.peer_static_public : s_pub_;
  ss_.mix_hash(view(si));
  ss_.mix_hash(view(sr));
}

TunnelHandshake::~TunnelHandshake() {
  sodium_memzero(e_priv_.data(), e_priv_.size());
  sodium_memzero(p_.psk.data(), p_.psk.size());
  sodium_memzero(p_.local_static_private.data(), p_.local_static_private.size());
  sodium_memzero(&keys_, sizeof keys_);
  sodium_memzero(rekey_secret_.data(), rekey_secret_.size());
}

proto::Bytes TunnelHandshake::create_request(proto::ByteView payload) {
  Key shared;
  e_priv_ = random_private_key();
  e_pub_ = public_key(e_priv_);
  ei_pub_ = e_pub_;
  proto::Bytes out;
  write_header(out, p_.direction_id, e_pub_);
  ss_.mix_key_and_hash(view(p_.psk));  // psk
  ss_.mix_hash(view(e_pub_));          // e (psk mode: also MixKey(e))
  ss_.mix_key(view(e_pub_));
  if (!dh(e_priv_, p_.peer_static_public, shared)) return {};  // es
  ss_.mix_key(view(shared));
  if (!dh(p_.local_static_private, p_.peer_static_public, shared)) return {};  // ss
  ss_.mix_key(view(shared));
  ss_.encrypt_and_hash(payload, out);
  sodium_memzero(shared.data(), shared.size());
  return out;
}

std::optional<proto::Bytes> TunnelHandshake::consume_request(proto::ByteView msg) {
  uint32_t id;
  if (!parse_tunnel_handshake(msg, id) || id != p_.direction_id) return std::nullopt;
  SymmetricState ss = ss_;  // untouched unless the message authenticates
  Key ei, shared;
  std::memcpy(ei.data(), &msg[8], 32);
  ss.mix_key_and_hash(view(p_.psk));
  ss.mix_hash(view(ei));
  ss.mix_key(view(ei));
  if (!dh(p_.local_static_private, ei, shared)) return std::nullopt;  // es
  ss.mix_key(view(shared));
  if (!dh(p_.local_static_private, p_.peer_static_public, shared)) return std::nullopt;  // ss
  ss.mix_key(view(shared));
  sodium_memzero(shared.data(), shared.size());
  auto sealed = msg.subspan(proto::kTunnelHandshakeHeaderSize);
  proto::Bytes payload(sealed.size() - proto::kTagSize);
  if (!ss.decrypt_and_hash(sealed, payload.data())) return std::nullopt;
  ss_ = ss;
  ei_pub_ = ei;
  return payload;
}

proto::Bytes TunnelHandshake::create_response(proto::ByteView payload) {
  Key shared;
  e_priv_ = random_private_key();
  e_pub_ = public_key(e_priv_);
  proto::Bytes out;
  write_header(out, p_.direction_id, e_pub_);
  ss_.mix_hash(view(e_pub_));  // e
  ss_.mix_key(view(e_pub_));
  if (!dh(e_priv_, ei_pub_, shared)) return {};  // ee
  ss_.mix_key(view(shared));
  if (!dh(e_priv_, p_.peer_static_public, shared)) return {};  // se
  ss_.mix_key(view(shared));
  ss_.encrypt_and_hash(payload, out);
  sodium_memzero(shared.data(), shared.size());
  finish();
  return out;
}

std::optional<proto::Bytes> TunnelHandshake::consume_response(proto::ByteView msg) {
  uint32_t id;
  if (complete_ || !parse_tunnel_handshake(msg, id) || id != p_.direction_id) return std::nullopt;
  SymmetricState ss = ss_;
  Key er, shared;
  std::memcpy(er.data(), &msg[8], 32);
  ss.mix_hash(view(er));
  ss.mix_key(view(er));
  if (!dh(e_priv_, er, shared)) return std::nullopt;  // ee
  ss.mix_key(view(shared));
  if (!dh(p_.local_static_private, er, shared)) return std::nullopt;  // se
  ss.mix_key(view(shared));
  sodium_memzero(shared.data(), shared.size());
  auto sealed = msg.subspan(proto::kTunnelHandshakeHeaderSize);
  proto::Bytes payload(sealed.size() - proto::kTagSize);
  if (!ss.decrypt_and_hash(sealed, payload.data())) return std::nullopt;
  ss_ = ss;
  finish();
  return payload;
}

void TunnelHandshake::finish() {
  Key k1, k2;
  ss_.split(k1, k2);
  keys_ = p_.role == proto::Role::kInitiator ? DirectionalKeys{k1, k2} : DirectionalKeys{k2, k1};
  rekey_secret_ = ss_.derive(std::string_view(kRekeyLabel, sizeof(kRekeyLabel) - 1));
  sodium_memzero(k1.data(), k1.size());
  sodium_memzero(k2.data(), k2.size());
  // Forward secrecy: the ephemeral private key and the psk are not needed any more.
  sodium_memzero(e_priv_.data(), e_priv_.size());
  sodium_memzero(p_.psk.data(), p_.psk.size());
  complete_ = true;
}

}  // namespace ntm::crypto
