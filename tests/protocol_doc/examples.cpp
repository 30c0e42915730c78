#include "examples.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include <sodium.h>

#include "common/server_cert.h"
#include "crypto/cookie.h"
#include "crypto/relay_auth.h"
#include "crypto/session.h"
#include "proto/endpoint.h"
#include "proto/messages.h"
#include "proto/relay.h"

namespace ntm::protocol_doc {
namespace {

using proto::AttrType;
using proto::ControlMessage;
using proto::MessageType;

ByteView view(const Key& k) {
  return ByteView(k.data(), k.size());
}

proto::Endpoint ep(const char* text) {
  return *proto::Endpoint::parse(text);
}

Bytes addr4(const char* text) {
  Bytes b(4);
  inet_pton(AF_INET, text, b.data());
  return b;
}
Bytes addr6(const char* text) {
  Bytes b(16);
  inet_pton(AF_INET6, text, b.data());
  return b;
}

std::string fmt(const char* f, unsigned long long a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

/// Offset / bytes / meaning lines; values longer than 16 bytes wrap.
class Listing {
 public:
  void field(size_t off, ByteView b, const std::string& what) {
    for (size_t i = 0; i < b.size() || i == 0; i += 16) {
      size_t n = std::min<size_t>(16, b.size() - i);
      char line[96];
      std::snprintf(line, sizeof line, "%5zu  %-47s", off + i, hex_block(b.subspan(i, n)).c_str());
      out_ += line;
      if (i == 0 && !what.empty()) out_ += "  " + what;
      while (!out_.empty() && out_.back() == ' ') out_.pop_back();
      out_ += "\n";
      if (b.empty()) break;
    }
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

std::string render_value(uint16_t type, ByteView v) {
  char text[INET6_ADDRSTRLEN];
  switch (AttrType(type)) {
    case AttrType::kNodeName:
    case AttrType::kFqdn:
    case AttrType::kErrorText:
    case AttrType::kPeerFqdn:
    case AttrType::kAccount:
    case AttrType::kPassword:
      return "\"" + std::string(v.begin(), v.end()) + "\"";
    case AttrType::kVip4:
    case AttrType::kPeerVip4:
      return inet_ntop(AF_INET, v.data(), text, sizeof text);
    case AttrType::kVip6:
    case AttrType::kPeerVip6:
      return inet_ntop(AF_INET6, v.data(), text, sizeof text);
    case AttrType::kRealAddress:
    case AttrType::kNatAddress:
    case AttrType::kPeerEndpoint:
    case AttrType::kRelayEndpoint:
    case AttrType::kFailedRelay:
    case AttrType::kNsAddress: {
      auto e = proto::Endpoint::decode(v);
      return e ? "family " + std::to_string(v[0]) + ", port " + std::to_string(e->port()) +
                     ", address → " + e->to_string()
               : "(invalid endpoint)";
    }
    case AttrType::kLifetime:
      return fmt("%llu s", proto::get_u32(v.data()));
    case AttrType::kDirectionId:
    case AttrType::kTunnelId:
      return fmt("0x%08llx", proto::get_u32(v.data()));
    case AttrType::kRole:
      return v[0] == 1 ? "1 = initiator" : v[0] == 2 ? "2 = responder" : "?";
    case AttrType::kErrorCode:
      return std::to_string(proto::get_u16(v.data())) + " = " +
             proto::to_string(proto::ErrorCode(proto::get_u16(v.data())));
    case AttrType::kTemporalKey:
      return "32-byte key";
    case AttrType::kPeerStaticKey:
      for (auto [priv, name] : {std::pair{&inputs().alice_static, "alice_static_public"},
                                std::pair{&inputs().bob_static, "bob_static_public"}})
        if (std::equal(v.begin(), v.end(), crypto::public_key(*priv).begin()))
          return std::string("32-byte key: ") + name;
      return "32-byte key";
    case AttrType::kPathToken:
      return fmt("0x%016llx", proto::get_u64(v.data()));
    case AttrType::kHandshakeSeq:
      return std::to_string(proto::get_u32(v.data())) +
             (proto::get_u32(v.data()) == 0 ? " (first handshake: psk = T)" : " (rekey)");
    case AttrType::kCandidate: {
      auto e = proto::Endpoint::decode(v.subspan(1));
      const char* kind = v[0] == 1   ? "1 = lan"
                         : v[0] == 2 ? "2 = public"
                         : v[0] == 3 ? "3 = mapped"
                                     : "?";
      return std::string("kind ") + kind + ", endpoint → " + (e ? e->to_string() : "(invalid)");
    }
    case AttrType::kRelayTicket:
      return "88-byte relay ticket (§12.3)";
    case AttrType::kRelayKey:
      return "32-byte side key";
    case AttrType::kNsKey:
      return "32-byte key";
    case AttrType::kNotification:
      return "(flag)";
    case AttrType::kRelaySide:
      return std::to_string(v[0]);
  }
  return "";
}

/// Breakdown of a plaintext control message, produced by the real decoder.
std::string list_control(const Bytes& wire) {
  proto::DecodeError err;
  auto m = ControlMessage::decode(wire, err);
  if (!m) return std::string("decode failed: ") + proto::to_string(err) + "\n";
  Listing l;
  ByteView w(wire);
  l.field(0, w.subspan(0, 1), "version = 1");
  l.field(1, w.subspan(1, 1),
          fmt("message type = 0x%02llx ", uint8_t(m->type)) + proto::to_string(m->type));
  l.field(2, w.subspan(2, 2), fmt("flags = 0x%04llx", m->flags));
  l.field(4, w.subspan(4, 4), fmt("message ID = 0x%08llx", m->message_id));
  size_t off = proto::kControlHeaderSize;
  for (auto& a : m->attrs) {
    uint16_t t = uint16_t(a.type);
    l.field(off, w.subspan(off, 4),
            fmt("attribute type 0x%04llx ", t) + attr_name(t) + ", length " +
                std::to_string(a.value.size()));
    l.field(off + 4, w.subspan(off + 4, a.value.size()), render_value(t, a.value));
    off += 4 + a.value.size();
  }
  return l.str();
}

std::string list_sealed(const Bytes& wire, const std::string& key_name,
                        const std::string& plain_name) {
  Listing l;
  ByteView w(wire);
  l.field(0, w.subspan(0, 1),
          fmt("packet type = 0x%02llx ", wire[0]) + (wire[0] == 3 ? "control" : "data"));
  l.field(1, w.subspan(1, 3), "reserved, zero");
  l.field(4, w.subspan(4, 4), fmt("receiver index = 0x%08llx", proto::get_u32(&wire[4])));
  l.field(8, w.subspan(8, 8), fmt("counter = %llu (u64 big-endian)", proto::get_u64(&wire[8])));
  size_t n = wire.size() - proto::kSealedOverhead;
  l.field(16, w.subspan(16, n),
          "ChaCha20-Poly1305 ciphertext of " + plain_name + " (" + std::to_string(n) +
              " bytes), key " + key_name);
  l.field(16 + n, w.subspan(16 + n, 16), "Poly1305 tag");
  return l.str();
}

std::string nonce_hex(uint64_t counter) {
  uint8_t nonce[12] = {};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = uint8_t(counter >> (8 * i));
  return hex_block(ByteView(nonce, 12));
}

Bytes seal(const Key& send, uint32_t receiver, uint64_t counter, proto::PacketType type,
           const Bytes& plain) {
  crypto::Session s(send, send, receiver, counter);
  Bytes out(plain.size() + proto::kSealedOverhead);
  s.seal(type, plain, out.data());
  return out;
}

uint16_t inet_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace

Key sequential_key(uint8_t first) {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(first + i);
  return k;
}

const Inputs& inputs() {
  static const Inputs in;
  return in;
}

Bytes example_relay_ticket() {
  const Inputs& in = inputs();
  return crypto::RelayKeys(in.relay_key)
      .issue_ticket(in.relay_session_id, in.relay_expiry, crypto::public_key(in.bob_static),
                    crypto::public_key(in.alice_static));
}

std::string hex(ByteView b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

std::string hex_block(ByteView b, size_t per_line) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i) s += (i % per_line == 0) ? '\n' : ' ';
    s += hex(b.subspan(i, 1));
  }
  return s;
}

const char* attr_name(uint16_t type) {
  switch (AttrType(type)) {
    case AttrType::kNodeName:
      return "NodeName";
    case AttrType::kFqdn:
      return "Fqdn";
    case AttrType::kVip4:
      return "Vip4";
    case AttrType::kVip6:
      return "Vip6";
    case AttrType::kRealAddress:
      return "RealAddress";
    case AttrType::kNatAddress:
      return "NatAddress";
    case AttrType::kLifetime:
      return "Lifetime";
    case AttrType::kDirectionId:
      return "DirectionId";
    case AttrType::kTemporalKey:
      return "TemporalKey";
    case AttrType::kRole:
      return "Role";
    case AttrType::kPeerEndpoint:
      return "PeerEndpoint";
    case AttrType::kTunnelId:
      return "TunnelId";
    case AttrType::kErrorCode:
      return "ErrorCode";
    case AttrType::kErrorText:
      return "ErrorText";
    case AttrType::kPeerFqdn:
      return "PeerFqdn";
    case AttrType::kPeerVip4:
      return "PeerVip4";
    case AttrType::kPeerVip6:
      return "PeerVip6";
    case AttrType::kPeerStaticKey:
      return "PeerStaticKey";
    case AttrType::kPathToken:
      return "PathToken";
    case AttrType::kHandshakeSeq:
      return "HandshakeSeq";
    case AttrType::kCandidate:
      return "Candidate";
    case AttrType::kRelayEndpoint:
      return "RelayEndpoint";
    case AttrType::kRelayTicket:
      return "RelayTicket";
    case AttrType::kRelayKey:
      return "RelayKey";
    case AttrType::kRelaySide:
      return "RelaySide";
    case AttrType::kFailedRelay:
      return "FailedRelay";
    case AttrType::kAccount:
      return "Account";
    case AttrType::kPassword:
      return "Password";
    case AttrType::kNotification:
      return "Notification";
    case AttrType::kNsAddress:
      return "NsAddress";
    case AttrType::kNsKey:
      return "NsKey";
  }
  return type == 0x000C ? "(unused)" : "unknown";
}

crypto::Timestamp example_timestamp(uint32_t nanos) {
  crypto::Timestamp t;
  proto::put_u64(t.data(), inputs().ts_seconds);
  proto::put_u32(t.data() + 8, nanos);
  return t;
}

Bytes cookie_nonce() {
  Bytes n(24);
  for (size_t i = 0; i < n.size(); ++i) n[i] = uint8_t(inputs().cookie_nonce_first + i);
  return n;
}

Bytes alice_source_address() {
  return addr4("198.51.100.7");
}

uint16_t alice_source_port() {
  return 40000;
}

Handshake build_handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                          const Key& dc_e, uint32_t node_index, uint32_t dc_index,
                          const crypto::Timestamp& ts, ByteView early) {
  Handshake hs;
  Key s_pub = crypto::public_key(node_static), rs_pub = crypto::public_key(dc_static);
  Key e_pub = crypto::public_key(node_e), re_pub = crypto::public_key(dc_e), shared;
  crypto::SymmetricState ss;  // Noise name + prologue
  ss.mix_hash(view(rs_pub));  // pre-message <- s
  proto::Writer w1(hs.msg1);
  w1.u8(uint8_t(proto::PacketType::kHandshakeInit));
  w1.u8(0), w1.u8(0), w1.u8(0);
  w1.u32(node_index);
  w1.raw(e_pub.data(), 32);
  ss.mix_hash(view(e_pub));  // e
  crypto::dh(node_e, rs_pub, shared);
  ss.mix_key(view(shared));                   // es
  ss.encrypt_and_hash(view(s_pub), hs.msg1);  // s
  crypto::dh(node_static, rs_pub, shared);
  ss.mix_key(view(shared));                                      // ss
  ss.encrypt_and_hash(ByteView(ts.data(), ts.size()), hs.msg1);  // payload
  hs.msg1.resize(proto::kHandshakeInitSize);                     // mac1, mac2: zero
  if (!early.empty()) ss.encrypt_and_hash(early, hs.msg1);       // early data (nonce 1)
  // Both sides now hold the same state; continue as the responder.
  proto::Writer w2(hs.msg2);
  w2.u8(uint8_t(proto::PacketType::kHandshakeResp));
  w2.u8(0), w2.u8(0), w2.u8(0);
  w2.u32(dc_index);
  w2.u32(node_index);
  w2.raw(re_pub.data(), 32);
  ss.mix_hash(view(re_pub));  // e
  crypto::dh(dc_e, e_pub, shared);
  ss.mix_key(view(shared));  // ee
  crypto::dh(dc_e, s_pub, shared);
  ss.mix_key(view(shared));  // se
  ss.encrypt_and_hash({}, hs.msg2);
  ss.split(hs.k1, hs.k2);
  return hs;
}

TunnelHandshake build_tunnel_handshake(const Key& initiator_static, const Key& responder_static,
                                       const Key& initiator_e, const Key& responder_e,
                                       const Key& psk, uint32_t direction_id, ByteView payload1,
                                       ByteView payload2) {
  TunnelHandshake hs;
  Key si = crypto::public_key(initiator_static), sr = crypto::public_key(responder_static);
  Key ei = crypto::public_key(initiator_e), er = crypto::public_key(responder_e), shared;
  Bytes prologue = {'N', 'T', 'M', ' ', 't', 'u', 'n', 'n', 'e', 'l', ' ', 'v', '1', 0, 0, 0, 0};
  proto::put_u32(&prologue[13], direction_id);
  crypto::SymmetricState ss("Noise_KKpsk0_25519_ChaChaPoly_SHA256", prologue);
  ss.mix_hash(view(si));  // pre-message -> s
  ss.mix_hash(view(sr));  // pre-message <- s
  auto header = [&](Bytes& out, const Key& e) {
    proto::Writer w(out);
    w.u8(uint8_t(proto::PacketType::kTunnelHandshake));
    w.u8(0), w.u8(0), w.u8(0);
    w.u32(direction_id);
    w.raw(e.data(), 32);
  };
  header(hs.msg1, ei);
  ss.mix_key_and_hash(view(psk));  // psk
  ss.mix_hash(view(ei));           // e (psk mode: MixHash and MixKey)
  ss.mix_key(view(ei));
  crypto::dh(initiator_e, sr, shared);
  ss.mix_key(view(shared));  // es
  crypto::dh(initiator_static, sr, shared);
  ss.mix_key(view(shared));  // ss
  ss.encrypt_and_hash(payload1, hs.msg1);
  // Both sides now hold the same state; continue as the responder.
  header(hs.msg2, er);
  ss.mix_hash(view(er));  // e
  ss.mix_key(view(er));
  crypto::dh(responder_e, ei, shared);
  ss.mix_key(view(shared));  // ee
  crypto::dh(responder_e, si, shared);
  ss.mix_key(view(shared));  // se
  ss.encrypt_and_hash(payload2, hs.msg2);
  ss.split(hs.k1, hs.k2);
  hs.rekey_secret = ss.derive("ntm rekey");
  return hs;
}

Bytes example_inner_packet() {
  // IPv4 ICMP echo request bob (100.64.0.3) → alice (100.64.0.2), id 0x6e74, seq 1, "NTMobile".
  Bytes p = {0x45, 0x00, 0x00, 0x24, 0x00, 0x01, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00,
             100,  64,   0,    3,    100,  64,   0,    2,    0x08, 0x00, 0x00, 0x00,
             0x6e, 0x74, 0x00, 0x01, 'N',  'T',  'M',  'o',  'b',  'i',  'l',  'e'};
  uint16_t c = inet_checksum(p.data(), 20);
  p[10] = uint8_t(c >> 8), p[11] = uint8_t(c);
  c = inet_checksum(p.data() + 20, p.size() - 20);
  p[22] = uint8_t(c >> 8), p[23] = uint8_t(c);
  return p;
}

namespace {

/// The tunnel request / response payloads (control messages inside the Noise messages).
proto::ControlMessage tunnel_request() {
  proto::ControlMessage m(MessageType::kTunnelRequest, 0x7e570001);
  m.add_u32(AttrType::kTunnelId, inputs().bob_tunnel_id);
  m.add_u32(AttrType::kHandshakeSeq, 0);
  return m;
}
proto::ControlMessage tunnel_response() {
  proto::ControlMessage m(MessageType::kTunnelResponse, 0x7e570001);
  m.add_u32(AttrType::kTunnelId, inputs().alice_tunnel_id);
  m.add_u32(AttrType::kHandshakeSeq, 0);
  return m;
}

TunnelHandshake example_tunnel_handshake() {
  const Inputs& in = inputs();
  return build_tunnel_handshake(in.bob_static, in.alice_static, in.bob_tunnel_ephemeral,
                                in.alice_tunnel_ephemeral, in.temporal_key, in.direction_id,
                                tunnel_request().encode(), tunnel_response().encode());
}

Handshake example_handshake() {
  const Inputs& in = inputs();
  return build_handshake(in.alice_static, in.dc_static, in.alice_hs_ephemeral, in.dc_hs_ephemeral,
                         in.alice_index, in.dc_index, example_timestamp(in.ts_nanos));
}

/// The cookie the DC makes for alice's source address with the fixed secret R (§3.8).
crypto::Mac example_cookie() {
  Bytes in = alice_source_address();
  in.push_back(uint8_t(alice_source_port() >> 8));
  in.push_back(uint8_t(alice_source_port()));
  crypto::Mac c;
  crypto_generichash(c.data(), c.size(), in.data(), in.size(), inputs().cookie_secret.data(),
                     inputs().cookie_secret.size());
  return c;
}

/// BLAKE2b-256(label || S_dc), as crypto/cookie.cpp derives its keys.
Key label_key(const char* label) {
  Key dc_pub = crypto::public_key(inputs().dc_static);
  Bytes in(label, label + 8);
  in.insert(in.end(), dc_pub.begin(), dc_pub.end());
  Key out;
  crypto_generichash(out.data(), out.size(), in.data(), in.size(), nullptr, 0);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> input_values() {
  const Inputs& in = inputs();
  return {
      {"alice_static_private", hex(view(in.alice_static))},
      {"bob_static_private", hex(view(in.bob_static))},
      {"dc_static_private", hex(view(in.dc_static))},
      {"alice_handshake_ephemeral_private", hex(view(in.alice_hs_ephemeral))},
      {"alice_handshake_ephemeral_retry_private", hex(view(in.alice_hs_ephemeral_retry))},
      {"dc_handshake_ephemeral_private", hex(view(in.dc_hs_ephemeral))},
      {"handshake_timestamp", hex(example_timestamp(in.ts_nanos))},
      {"handshake_timestamp_retry", hex(example_timestamp(in.ts_nanos_retry))},
      {"alice_index", fmt("%08llx", in.alice_index)},
      {"dc_index", fmt("%08llx", in.dc_index)},
      {"alice_source", "198.51.100.7:40000"},
      {"cookie_secret", hex(view(in.cookie_secret))},
      {"cookie_nonce", hex(cookie_nonce())},
      {"temporal_key", hex(view(in.temporal_key))},
      {"direction_id", fmt("%08llx", in.direction_id)},
      {"bob_tunnel_ephemeral_private", hex(view(in.bob_tunnel_ephemeral))},
      {"alice_tunnel_ephemeral_private", hex(view(in.alice_tunnel_ephemeral))},
      {"bob_tunnel_id", fmt("%08llx", in.bob_tunnel_id)},
      {"alice_tunnel_id", fmt("%08llx", in.alice_tunnel_id)},
      {"data_counter", fmt("%016llx", in.data_counter)},
      {"tunnel_message_counter", fmt("%016llx", in.tunnel_message_counter)},
      {"dc_path_token", fmt("%016llx", in.dc_path_token)},
      {"tunnel_path_token", fmt("%016llx", in.tunnel_path_token)},
      {"relay_key", hex(view(in.relay_key))},
      {"relay_session_id", fmt("%08llx", in.relay_session_id)},
      {"relay_expiry", fmt("%08llx", in.relay_expiry)},
      {"relay_bind_counter", fmt("%016llx", in.relay_bind_counter)},
      {"punch_counter", fmt("%016llx", in.punch_counter)},
      {"status_sequence", fmt("%016llx", in.status_sequence)},
  };
}

std::vector<std::pair<std::string, std::string>> derived_values() {
  const Inputs& in = inputs();
  Handshake hs = example_handshake();
  TunnelHandshake ths = example_tunnel_handshake();
  crypto::Mac cookie = example_cookie();
  return {
      {"alice_static_public", hex(view(crypto::public_key(in.alice_static)))},
      {"bob_static_public", hex(view(crypto::public_key(in.bob_static)))},
      {"dc_static_public", hex(view(crypto::public_key(in.dc_static)))},
      {"alice_handshake_ephemeral_public", hex(view(crypto::public_key(in.alice_hs_ephemeral)))},
      {"alice_handshake_ephemeral_retry_public",
       hex(view(crypto::public_key(in.alice_hs_ephemeral_retry)))},
      {"dc_handshake_ephemeral_public", hex(view(crypto::public_key(in.dc_hs_ephemeral)))},
      {"k1_node_to_dc", hex(view(hs.k1))},
      {"k2_dc_to_node", hex(view(hs.k2))},
      {"mac1_key", hex(view(label_key("mac1----")))},
      {"cookie_key", hex(view(label_key("cookie--")))},
      {"cookie", hex(cookie)},
      {"bob_tunnel_ephemeral_public", hex(view(crypto::public_key(in.bob_tunnel_ephemeral)))},
      {"alice_tunnel_ephemeral_public", hex(view(crypto::public_key(in.alice_tunnel_ephemeral)))},
      {"data_i2r", hex(view(ths.k1))},
      {"data_r2i", hex(view(ths.k2))},
      {"rekey_secret", hex(view(ths.rekey_secret))},
      {"relay_ticket_key", hex(view(crypto::kdf(in.relay_key, "ntm relay ticket")))},
      {"relay_status_key", hex(view(crypto::kdf(in.relay_key, "ntm relay status")))},
      {"relay_side_key_1",
       hex(view(crypto::RelayKeys(in.relay_key).side_key(1, example_relay_ticket())))},
      {"relay_side_key_2",
       hex(view(crypto::RelayKeys(in.relay_key).side_key(2, example_relay_ticket())))},
      {"punch_key", hex(view(crypto::punch_key(in.temporal_key, in.direction_id)))},
  };
}

std::vector<Example> build_examples() {
  const Inputs& in = inputs();
  const Key dc_pub = crypto::public_key(in.dc_static);
  std::vector<Example> out;
  auto add_control = [&](std::string name, std::string title, std::string caption,
                         const ControlMessage& m) {
    Bytes b = m.encode();
    out.push_back({std::move(name), std::move(title), std::move(caption), b, list_control(b)});
  };
  auto list_init = [&](const Bytes& msg, const char* e_name, const char* ts_name,
                       const char* mac2_what) {
    Listing l;
    ByteView m(msg);
    l.field(0, m.subspan(0, 1), "packet type = 0x01 handshake initiation");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("sender index = 0x%08llx (alice's)", in.alice_index));
    l.field(8, m.subspan(8, 32), std::string("e: ") + e_name);
    l.field(40, m.subspan(40, 48), "enc(s): alice_static_public encrypted (32) + tag (16)");
    l.field(88, m.subspan(88, 28),
            std::string("enc(timestamp): ") + ts_name + " encrypted (12) + tag (16)");
    l.field(116, m.subspan(116, 16), "mac1 = MAC(mac1_key, bytes 0..115)");
    l.field(132, m.subspan(132, 16), mac2_what);
    return l.str();
  };

  // Handshake (§3).
  Handshake hs = example_handshake();
  crypto::CookieGenerator node_cookies(dc_pub);  // the node's real MAC code
  node_cookies.add_macs(hs.msg1);
  out.push_back({"handshake-init", "Handshake message 1 (alice → DC)",
                 "Noise IK message 1 built from the fixed inputs of §10.1 (alice's static and "
                 "ephemeral keys, the DC's static public key, sender index 0x0a11ce00, the "
                 "timestamp 2026-01-01T00:00:00.123456789Z), then mac1 by "
                 "`crypto::CookieGenerator::add_macs`; alice holds no cookie, so mac2 is zero. "
                 "148 bytes.",
                 hs.msg1,
                 list_init(hs.msg1, "alice_handshake_ephemeral_public", "handshake_timestamp",
                           "mac2: zero (no cookie held)")});
  {
    Listing l;
    ByteView m(hs.msg2);
    l.field(0, m.subspan(0, 1), "packet type = 0x02 handshake response");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("sender index = 0x%08llx (the DC's)", in.dc_index));
    l.field(8, m.subspan(8, 4), fmt("receiver index = 0x%08llx (alice's, echoed)", in.alice_index));
    l.field(12, m.subspan(12, 32), "e: dc_handshake_ephemeral_public");
    l.field(44, m.subspan(44, 16), "enc(): tag over the empty payload");
    out.push_back({"handshake-resp", "Handshake message 2 (DC → alice)",
                   "Noise IK message 2 answering the message above (the DC is not under load), "
                   "with the DC's fixed ephemeral key and sender index 0xd0c00001. 60 bytes. "
                   "After it both sides hold k1_node_to_dc and k2_dc_to_node (§10.1).",
                   hs.msg2, l.str()});
  }
  // Under load (§3.8): the DC answers the same message 1 with a cookie reply instead.
  crypto::Mac cookie = example_cookie();
  crypto::Mac mac1;
  std::copy_n(hs.msg1.begin() + crypto::kMac1Offset, 16, mac1.begin());
  Bytes reply(crypto::kCookieReplySize);
  {
    Key cookie_key = label_key("cookie--");
    reply[0] = uint8_t(proto::PacketType::kCookieReply);
    proto::put_u32(&reply[4], in.alice_index);
    Bytes nonce = cookie_nonce();
    std::copy(nonce.begin(), nonce.end(), reply.begin() + 8);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(&reply[32], &clen, cookie.data(), cookie.size(),
                                               mac1.data(), mac1.size(), nullptr, &reply[8],
                                               cookie_key.data());
    Listing l;
    ByteView m(reply);
    l.field(0, m.subspan(0, 1), "packet type = 0x06 cookie reply");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4),
            fmt("receiver index = 0x%08llx (message 1's sender index)", in.alice_index));
    l.field(8, m.subspan(8, 24), "nonce: cookie_nonce");
    l.field(32, m.subspan(32, 16), "XChaCha20-Poly1305 ciphertext of cookie (16), key cookie_key");
    l.field(48, m.subspan(48, 16), "Poly1305 tag (ad = mac1 of message 1)");
    out.push_back({"cookie-reply", "Cookie reply (DC → alice), under load",
                   "What the DC sends instead of message 2 when it is under load and message 1 "
                   "above carries no valid mac2: the cookie for alice's source address "
                   "198.51.100.7:40000 under the fixed cookie secret R (cookie_secret), "
                   "encrypted with cookie_key, the fixed nonce cookie_nonce and mac1 of message "
                   "1 as associated data. Built with the same libsodium calls as "
                   "`crypto::CookieChecker::create_reply` (whose secret and nonce are random); "
                   "the test feeds it to the node's real `crypto::CookieGenerator`. 64 bytes.",
                   reply, l.str()});
  }
  Handshake retry = build_handshake(in.alice_static, in.dc_static, in.alice_hs_ephemeral_retry,
                                    in.dc_hs_ephemeral, in.alice_index, in.dc_index,
                                    example_timestamp(in.ts_nanos_retry));
  node_cookies.consume_reply(reply);
  node_cookies.add_macs(retry.msg1);
  out.push_back({"handshake-init-retry", "Handshake message 1 with mac2 (alice → DC)",
                 "alice's answer to the cookie reply: a fresh message 1 (new ephemeral key "
                 "alice_handshake_ephemeral_retry, timestamp handshake_timestamp_retry, 100 ms "
                 "later) with the same sender index, mac1, and mac2 = MAC(cookie, bytes "
                 "0..131), made by `crypto::CookieGenerator` after it consumed the cookie reply. "
                 "The DC now spends its Diffie-Hellman operations on it. 148 bytes.",
                 retry.msg1,
                 list_init(retry.msg1, "alice_handshake_ephemeral_retry_public",
                           "handshake_timestamp_retry", "mac2 = MAC(cookie, bytes 0..131)")});

  // Control messages (plaintext: what is sealed inside kControl packets, or carried as the
  // payload of tunnel handshake messages).
  Key alice_pub = crypto::public_key(in.alice_static), bob_pub = crypto::public_key(in.bob_static);
  ControlMessage reg(MessageType::kRegistrationRequest, 0x6d5a0001);
  reg.add_string(AttrType::kNodeName, "alice");
  reg.add_endpoint(AttrType::kRealAddress, ep("198.51.100.7:40000"));
  reg.add_endpoint(AttrType::kRealAddress, ep("[2001:db8:1::7]:40000"));
  add_control("registration-request", "Registration request (alice → DC)",
              "alice registers the name \"alice\" and reports the two addresses of its "
              "wildcard-bound socket (port 40000). Message ID 0x6d5a0001.",
              reg);

  {
    // The same request as the early data of message 1 (§3.2): what a node actually sends.
    Bytes reg_plain = reg.encode();
    Handshake early =
        build_handshake(in.alice_static, in.dc_static, in.alice_hs_ephemeral, in.dc_hs_ephemeral,
                        in.alice_index, in.dc_index, example_timestamp(in.ts_nanos), reg_plain);
    crypto::CookieGenerator macs(dc_pub);
    macs.add_macs(early.msg1);
    std::string listing = list_init(early.msg1, "alice_handshake_ephemeral_public",
                                    "handshake_timestamp", "mac2: zero (no cookie held)");
    Listing l;
    ByteView m(early.msg1);
    l.field(148, m.subspan(148, reg_plain.size()),
            "early data: the registration request above, encrypted (EncryptAndHash, nonce 1)");
    l.field(148 + reg_plain.size(), m.subspan(148 + reg_plain.size(), 16), "its tag");
    out.push_back({"handshake-init-early", "Handshake message 1 with early data (alice → DC)",
                   "The message 1 of §10.2 (same keys, index and timestamp) carrying the "
                   "registration request above as early data (§3.2, §3.3 step 8a): bytes "
                   "0..147 are those of §10.2, since mac1 and everything before it is the "
                   "same; the ciphertext follows. Its message 2 differs from §10.3 (h covers "
                   "the early data). " +
                       std::to_string(early.msg1.size()) + " bytes.",
                   early.msg1, listing + l.str()});
  }

  ControlMessage reg_resp(MessageType::kRegistrationResponse, 0x6d5a0001);
  reg_resp.add_string(AttrType::kFqdn, "alice.dc.ntm.test");
  reg_resp.add(AttrType::kVip4, addr4("100.64.0.2"));
  reg_resp.add(AttrType::kVip6, addr6("fd00:6e74:6d::2"));
  reg_resp.add_endpoint(AttrType::kNatAddress, ep("198.51.100.7:40000"));
  reg_resp.add_u32(AttrType::kLifetime, 60);
  add_control("registration-response", "Registration response (DC → alice)",
              "The DC of dc.ntm.test assigns alice.dc.ntm.test, 100.64.0.2 and "
              "fd00:6e74:6d::2; it sees alice at 198.51.100.7:40000, which is one of alice's "
              "real addresses, so alice counts as reachable (no NAT). Lifetime 60 s.",
              reg_resp);

  ControlMessage dreq(MessageType::kDirectionRequest, 0x6d5a0002);
  dreq.add_string(AttrType::kFqdn, "bob.dc.ntm.test");
  add_control("direction-request", "Direction request by FQDN (alice → DC)",
              "Paper 002 Fig. 3 step 2: alice's application resolved bob.dc.ntm.test.", dreq);

  ControlMessage dreq4(MessageType::kDirectionRequest, 0x6d5a0005);
  dreq4.add(AttrType::kPeerVip4, addr4("100.64.0.3"));
  add_control("direction-request-vip4", "Direction request by vIP (alice → DC)",
              "The form sent when the application connects to a numeric vIP without a tunnel "
              "(first queued packet) or resolves a numeric vIP.",
              dreq4);

  ControlMessage dresp(MessageType::kDirectionResponse, 0x6d5a0002);
  dresp.add_string(AttrType::kFqdn, "bob.dc.ntm.test");
  dresp.add(AttrType::kPeerVip4, addr4("100.64.0.3"));
  dresp.add(AttrType::kPeerVip6, addr6("fd00:6e74:6d::3"));
  dresp.add_u32(AttrType::kDirectionId, in.direction_id);
  dresp.add(AttrType::kPeerStaticKey, view(bob_pub));
  add_control("direction-response", "Direction response (DC → alice)",
              "bob's vIPs, the direction ID of the tunnel negotiation the DC started, and bob's "
              "static public key (checked against a pin, §4.4.4).",
              dresp);

  ControlMessage rd(MessageType::kRouteDirection, 0x4c3b0001);
  rd.add_u32(AttrType::kDirectionId, in.direction_id);
  rd.add(AttrType::kTemporalKey, view(in.temporal_key));
  rd.add_u8(AttrType::kRole, 1);
  rd.add_string(AttrType::kPeerFqdn, "alice.dc.ntm.test");
  rd.add(AttrType::kPeerStaticKey, view(alice_pub));
  rd.add(AttrType::kPeerVip4, addr4("100.64.0.2"));
  rd.add(AttrType::kPeerVip6, addr6("fd00:6e74:6d::2"));
  rd.add_candidate({proto::CandidateKind::kPublic, ep("198.51.100.7:40000")});
  add_control(
      "route-direction", "Route direction to the initiator (DC → bob)",
      "Fig. 3 steps 12/15 collapsed: bob (the CN) is the initiator (§7.2) and sends the "
      "tunnel request to alice's one candidate, her public address (kind 2). The temporal key "
      "is the fixed input temporal_key; PeerStaticKey is alice's identity, which the "
      "tunnel handshake will make alice prove. DC message ID 0x4c3b0001.",
      rd);

  ControlMessage rd2(MessageType::kRouteDirection, 0x4c3b0002);
  rd2.add_u32(AttrType::kDirectionId, in.direction_id);
  rd2.add(AttrType::kTemporalKey, view(in.temporal_key));
  rd2.add_u8(AttrType::kRole, 2);
  rd2.add_string(AttrType::kPeerFqdn, "bob.dc.ntm.test");
  rd2.add(AttrType::kPeerStaticKey, view(bob_pub));
  rd2.add(AttrType::kPeerVip4, addr4("100.64.0.3"));
  rd2.add(AttrType::kPeerVip6, addr6("fd00:6e74:6d::3"));
  rd2.add_candidate({proto::CandidateKind::kMapped, ep("203.0.113.9:61001")});
  add_control("route-direction-responder", "Route direction to the responder (DC → alice)",
              "Same direction ID and temporal key; alice waits for bob's tunnel request. "
              "PeerStaticKey is bob's identity; the Candidate is bob's NAT outside address "
              "(kind 3, mapped), which alice punches towards (§7.9). DC message ID "
              "0x4c3b0002.",
              rd2);

  ControlMessage ack(MessageType::kRouteDirectionAck, 0x4c3b0001);
  ack.add_u32(AttrType::kDirectionId, in.direction_id);
  add_control("route-direction-ack", "Route direction ack (bob → DC)",
              "Fig. 3 steps 13/16: echoes the route direction's message ID.", ack);

  add_control("tunnel-request", "Tunnel request (bob → alice), the payload of message 1",
              "Fig. 3 step 17: the control message carried, encrypted, in tunnel handshake "
              "message 1 (below): the tunnel ID alice must put in data packets to "
              "bob, and HandshakeSeq 0 (the first handshake of this direction, psk = T). "
              "Message ID 0x7e570001.",
              tunnel_request());
  add_control("tunnel-response", "Tunnel response (alice → bob), the payload of message 2",
              "Fig. 3 step 18: alice's tunnel ID and the same HandshakeSeq; echoes the "
              "request's message ID.",
              tunnel_response());

  ControlMessage ka(MessageType::kKeepAlive, 0x6d5a0003);
  add_control("keep-alive", "Keep-alive (alice → DC)",
              "Fig. 3 step 20. No attributes: the header alone (8 bytes).", ka);

  ControlMessage kaa(MessageType::kKeepAliveAck, 0x6d5a0003);
  kaa.add_endpoint(AttrType::kNatAddress, ep("198.51.100.7:40000"));
  add_control("keep-alive-ack", "Keep-alive ack (DC → alice)",
              "Tells alice where the DC currently sees it.", kaa);

  ControlMessage carol(MessageType::kDirectionRequest, 0x6d5a0004);
  carol.add_string(AttrType::kFqdn, "carol.dc.ntm.test");
  add_control("error", "Error (DC → alice)",
              "The DC's answer to a direction request (message ID 0x6d5a0004) for "
              "carol.dc.ntm.test, which is not registered: error code 2, with the DC's text.",
              proto::make_error(carol, proto::ErrorCode::kUnknownFqdn,
                                "no node named carol.dc.ntm.test is registered"));

  uint8_t token[8];
  proto::put_u64(token, in.dc_path_token);
  ControlMessage pc(MessageType::kPathChallenge, 0x4c3b0003);
  pc.add(AttrType::kPathToken, ByteView(token, 8));
  add_control("path-challenge", "Path challenge (DC → alice)",
              "§4.5: an authenticated packet of alice's arrived, with the newest counter, from "
              "an address the DC had not seen her at; the DC sends this challenge (a DC "
              "request, message ID 0x4c3b0003) to that address only, with a random token "
              "(here the fixed dc_path_token).",
              pc);
  ControlMessage pr(MessageType::kPathResponse, 0x4c3b0003);
  pr.add(AttrType::kPathToken, ByteView(token, 8));
  add_control("path-response", "Path response (alice → DC)",
              "alice echoes the challenge's message ID and token; the address is validated.", pr);

  // Sealed control packets (§2.2).
  Bytes reg_plain = reg.encode();
  Bytes sealed = seal(hs.k1, in.dc_index, 0, proto::PacketType::kControl, reg_plain);
  out.push_back({"sealed-control", "Sealed control packet (alice → DC)",
                 "The registration request above sealed in alice's control session: key "
                 "k1_node_to_dc, receiver index 0xd0c00001 (the DC's index from handshake "
                 "message 2), counter 0, nonce " +
                     nonce_hex(0) + ", AAD = the first 16 bytes.",
                 sealed, list_sealed(sealed, "k1_node_to_dc", "registration-request")});

  Bytes resp_plain = reg_resp.encode();
  Bytes sealed2 = seal(hs.k2, in.alice_index, 0, proto::PacketType::kControl, resp_plain);
  out.push_back({"sealed-control-from-dc", "Sealed control packet (DC → alice)",
                 "The registration response above sealed by the DC: key k2_dc_to_node, receiver "
                 "index 0x0a11ce00 (alice's index from handshake message 1), counter 0.",
                 sealed2, list_sealed(sealed2, "k2_dc_to_node", "registration-response")});

  // Tunnel handshake (§7.4-7.5).
  TunnelHandshake ths = example_tunnel_handshake();
  auto list_tunnel_hs = [&](const Bytes& msg, const char* e_name, const char* payload_name) {
    Listing l;
    ByteView m(msg);
    size_t n = msg.size() - proto::kTunnelHandshakeHeaderSize - proto::kTagSize;
    l.field(0, m.subspan(0, 1), "packet type = 0x04 tunnel handshake");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("direction ID = 0x%08llx", in.direction_id));
    l.field(8, m.subspan(8, 32), std::string("e: ") + e_name);
    l.field(40, m.subspan(40, n),
            std::string("ChaCha20-Poly1305 ciphertext of ") + payload_name + " (" +
                std::to_string(n) + " bytes)");
    l.field(40 + n, m.subspan(40 + n, 16), "Poly1305 tag");
    return l.str();
  };
  out.push_back(
      {"tunnel-handshake-request", "Tunnel handshake message 1: tunnel request (bob → alice)",
       "Noise KKpsk0 message 1 (-> psk, e, es, ss) from bob (initiator) to alice, "
       "built from bob_static_private, alice_static_public, bob's fixed tunnel "
       "ephemeral key, psk = temporal_key and the prologue \"NTM tunnel v1\" ‖ "
       "5a 17 c0 d3; its payload is the tunnel request above. Sent to every "
       "direct Candidate of bob's route direction (and through the relay, if any). 40 + 24 + 16 = "
       "80 bytes.",
       ths.msg1, list_tunnel_hs(ths.msg1, "bob_tunnel_ephemeral_public", "tunnel-request")});
  out.push_back(
      {"tunnel-handshake-response", "Tunnel handshake message 2: tunnel response (alice → bob)",
       "Noise KKpsk0 message 2 (<- e, ee, se) from alice with her fixed tunnel "
       "ephemeral key; its payload is the tunnel response above. Sent to the "
       "address message 1 came from. After it both sides hold data_i2r and data_r2i "
       "(Split) and rekey_secret (§10.1).",
       ths.msg2, list_tunnel_hs(ths.msg2, "alice_tunnel_ephemeral_public", "tunnel-response")});

  // Data packets (§8).
  Bytes tm = {proto::kTunnelMessageMarker, uint8_t(proto::TunnelMessage::kPathChallenge)};
  tm.resize(proto::kTunnelMessageSize);
  proto::put_u64(&tm[2], in.tunnel_path_token);
  Bytes tmp =
      seal(ths.k2, in.bob_tunnel_id, in.tunnel_message_counter, proto::PacketType::kData, tm);
  out.push_back({"tunnel-message",
                 "Data packet carrying a tunnel message: path challenge (alice → bob)",
                 "§8.3: bob's packets start arriving from a new address (his NAT rebound); alice "
                 "moves bob's endpoint there on the first authenticated packet with a new "
                 "highest counter and sends this path challenge to it: the 10-byte plaintext "
                 "00 01 ‖ tunnel_path_token, sealed with data_r2i (alice is the responder), "
                 "receiver index = bob's tunnel ID 0xb0b00001, counter 42. bob answers with kind "
                 "2 and the same token. 10 + 32 = 42 bytes.",
                 tmp, list_sealed(tmp, "data_r2i", "the tunnel message")});

  Bytes inner = example_inner_packet();
  Bytes dp = seal(ths.k1, in.alice_tunnel_id, in.data_counter, proto::PacketType::kData, inner);
  out.push_back({"data", "Data packet (bob → alice)",
                 "A 36-byte IPv4 ICMP echo request from bob's vIP 100.64.0.3 to alice's vIP "
                 "100.64.0.2 (inner packet below), sealed with data_i2r (bob is the initiator, "
                 "k1 of the tunnel handshake's Split); receiver index = alice's tunnel ID "
                 "0xa11c0001; counter 263 = 0x107, so the header carries 00 00 00 00 00 00 01 07 "
                 "and the nonce is " +
                     nonce_hex(in.data_counter) + ". 36 + 32 = 68 bytes.",
                 dp, list_sealed(dp, "data_i2r", "the inner IPv4 packet")});

  // Relays and punches (§7.9, §12).
  const Bytes ticket = example_relay_ticket();
  crypto::RelayKeys relay(in.relay_key);
  const Key side1 = relay.side_key(1, ticket);
  auto list_ticket = [&](Listing& l, size_t off) {
    ByteView t = ByteView(ticket);
    l.field(off, t.subspan(0, 4), fmt("ticket: session ID = 0x%08llx", in.relay_session_id));
    l.field(off + 4, t.subspan(4, 4),
            fmt("ticket: expiry = %llu (Unix seconds, 2026-01-02)", in.relay_expiry));
    l.field(off + 8, t.subspan(8, 32), "ticket: identity A = bob_static_public");
    l.field(off + 40, t.subspan(40, 32), "ticket: identity B = alice_static_public");
    l.field(off + 72, t.subspan(72, 16), "ticket: MAC(relay_ticket_key, ticket bytes 0..71)");
  };
  {
    const Key alice_pub = crypto::public_key(in.alice_static);
    ControlMessage rd(MessageType::kRouteDirection, 0x4c3b0003);
    rd.add_u32(AttrType::kDirectionId, in.direction_id);
    rd.add(AttrType::kTemporalKey, view(in.temporal_key));
    rd.add_u8(AttrType::kRole, 1);
    rd.add_string(AttrType::kPeerFqdn, "alice.dc.ntm.test");
    rd.add(AttrType::kPeerStaticKey, view(alice_pub));
    rd.add(AttrType::kPeerVip4, addr4("100.64.0.2"));
    rd.add_candidate({proto::CandidateKind::kLan, ep("192.168.1.20:40000")});
    rd.add_candidate({proto::CandidateKind::kMapped, ep("198.51.100.7:40000")});
    rd.add_endpoint(AttrType::kRelayEndpoint, ep("192.0.2.20:7300"));
    rd.add(AttrType::kRelayTicket, ticket);
    rd.add(AttrType::kRelayKey, view(side1));
    rd.add_u8(AttrType::kRelaySide, 1);
    add_control("route-direction-relayed",
                "Route direction with path candidates and a relay (DC → bob)",
                "§7.9: the variant of the route direction above when alice is behind a NAT too "
                "(both share the LAN 192.168.1.0/24 behind the same NAT, so her private "
                "endpoint comes first) and the DC grants a relay session: alice's candidates "
                "best first, then the relay server bob binds to, the 88-byte ticket (its "
                "fields in §12.3 and in the relay-bind example), bob's side key "
                "relay_side_key_1 and his side 1 (identity A of the ticket).",
                rd);
  }
  {
    Bytes b = crypto::make_relay_bind(1, in.relay_bind_counter, ticket, side1);
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x08 relay bind");
    l.field(1, m.subspan(1, 1), "side = 1 (bob is identity A of the ticket)");
    l.field(2, m.subspan(2, 2), "reserved, zero");
    l.field(4, m.subspan(4, 8), "counter = 1 (u64, higher than any earlier bind of this side)");
    list_ticket(l, 12);
    l.field(100, m.subspan(100, 16), "MAC(relay_side_key_1, bytes 0..99)");
    out.push_back({"relay-bind", "Relay bind (bob → RS)",
                   "§12.4: bob binds his endpoint (as the RS sees it) to side 1 of the relay "
                   "session, with the ticket and side key from the route direction above. "
                   "116 bytes.",
                   b, l.str()});
  }
  {
    Bytes b = crypto::make_relay_bind_ack(1, in.relay_session_id, in.relay_bind_counter, side1);
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x09 relay bind ack");
    l.field(1, m.subspan(1, 1), "side = 1");
    l.field(2, m.subspan(2, 2), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("session ID = 0x%08llx", in.relay_session_id));
    l.field(8, m.subspan(8, 8), "counter = 1 (the bind's)");
    l.field(16, m.subspan(16, 16), "MAC(relay_side_key_1, bytes 0..15)");
    out.push_back({"relay-bind-ack", "Relay bind ack (RS → bob)",
                   "§12.4: the RS accepted the bind above. 32 bytes.", b, l.str()});
  }
  {
    Bytes b(proto::kRelayHeaderSize);
    proto::write_relay_header(b.data(), in.relay_session_id);
    Bytes inner = seal(ths.k1, in.alice_tunnel_id, in.data_counter, proto::PacketType::kData,
                       example_inner_packet());
    b.insert(b.end(), inner.begin(), inner.end());
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x07 relay data");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("session ID = 0x%08llx", in.relay_session_id));
    l.field(8, m.subspan(8), "the data packet of §10.27 (68 bytes), unchanged");
    out.push_back({"relay-data", "Relay data (bob → RS → alice)",
                   "§12.2: the data packet example sent through the relay session: the RS "
                   "forwards the whole datagram unchanged to the other side's bound endpoint. "
                   "8 + 68 = 76 bytes.",
                   b, l.str()});
  }
  {
    Bytes b = crypto::make_punch(in.direction_id, in.punch_counter,
                                 crypto::punch_key(in.temporal_key, in.direction_id));
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x0a punch");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("direction ID = 0x%08llx", in.direction_id));
    l.field(8, m.subspan(8, 8), "counter = 3 (the third round of punches)");
    l.field(16, m.subspan(16, 16), "MAC(punch_key, bytes 0..15)");
    out.push_back({"punch", "Punch (alice → bob's candidates)",
                   "§7.9: the responder alice punches towards each of bob's direct "
                   "candidates; punch_key = KDF(temporal_key, \"ntm punch\", direction ID). "
                   "32 bytes.",
                   b, l.str()});
  }
  {
    Bytes b = relay.make_status_request(in.status_sequence);
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x0b relay status request");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 8), "sequence = 0x11 (u64, increasing)");
    l.field(12, m.subspan(12, 16), "MAC(relay_status_key, bytes 0..11)");
    out.push_back({"relay-status-request", "Relay status request (DC → RS)",
                   "§12.5: the DC's liveness and load query. 28 bytes.", b, l.str()});
  }
  {
    Bytes b = relay.make_status(in.status_sequence, 12, 123456);
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x0c relay status");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 8), "sequence = 0x11 (the request's)");
    l.field(12, m.subspan(12, 4), "sessions = 12");
    l.field(16, m.subspan(16, 8), "packets = 123456 (relayed since the RS started)");
    l.field(24, m.subspan(24, 16), "MAC(relay_status_key, bytes 0..23)");
    out.push_back({"relay-status", "Relay status (RS → DC)",
                   "§12.5: the answer to the request above. 40 bytes.", b, l.str()});
  }
  {
    Bytes b(proto::kRelayNoticeSize);
    b[0] = uint8_t(proto::PacketType::kRelayNotice);
    proto::put_u32(&b[4], in.relay_session_id);
    Listing l;
    ByteView m(b);
    l.field(0, m.subspan(0, 1), "packet type = 0x0d relay notice");
    l.field(1, m.subspan(1, 3), "reserved, zero");
    l.field(4, m.subspan(4, 4), fmt("session ID = 0x%08llx", in.relay_session_id));
    out.push_back({"relay-notice", "Relay notice (RS → a node)",
                   "§12.4: relay data for the session came from an address no side is bound "
                   "to (perhaps the node's NAT gave it a new port): bind again. 8 bytes.",
                   b, l.str()});
  }
  return out;
}

const CertInputs& cert_inputs() {
  static const CertInputs c;
  return c;
}

std::vector<std::pair<std::string, std::string>> cert_input_values() {
  const CertInputs& c = cert_inputs();
  server::SignKey key = server::sign_key_from_seed(c.as_seed);
  return {
      {"as_ed25519_seed", hex(c.as_seed)},
      {"as_verify_key (derived)", hex(server::verify_key_of(key))},
      {"zone", c.zone},
      {"dc_static_public", hex(c.dc_static_public)},
      {"not_before", std::to_string(c.not_before)},
      {"not_after", std::to_string(c.not_after)},
  };
}

Example server_cert_example() {
  const CertInputs& in = cert_inputs();
  server::SignKey key = server::sign_key_from_seed(in.as_seed);
  server::ServerCert c;
  c.name = in.zone;
  c.static_key = in.dc_static_public;
  c.not_before = in.not_before;
  c.not_after = in.not_after;
  Bytes b = server::sign_cert(c, key);
  Listing l;
  ByteView v(b);
  size_t n = in.zone.size();
  if (b.size() == server::kCertFixedSize + n) {
    l.field(0, v.subspan(0, 1), "version = 1");
    l.field(1, v.subspan(1, 1), "role = 1 (DC)");
    l.field(2, v.subspan(2, 1), fmt("L = %llu, name length", n));
    l.field(3, v.subspan(3, n), "name = \"" + in.zone + "\"");
    l.field(3 + n, v.subspan(3 + n, 32), "static key: dc_static_public");
    l.field(35 + n, v.subspan(35 + n, 8), fmt("not_before = %llu", in.not_before));
    l.field(43 + n, v.subspan(43 + n, 8), fmt("not_after = %llu", in.not_after));
    l.field(51 + n, v.subspan(51 + n, 32), "signer: as_verify_key");
    l.field(83 + n, v.subspan(83 + n, 64),
            "Ed25519 signature over \"NTM server certificate v1\" ‖ bytes 0.." +
                std::to_string(82 + n));
  }
  return {"server-cert", "Server certificate of dc1.ntm.test",
          "The AS's certificate of a DC's static key (§15).", b, l.str()};
}

}  // namespace ntm::protocol_doc
