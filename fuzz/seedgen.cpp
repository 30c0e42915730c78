// fuzz_seedgen DIR: writes the seed corpus of every fuzz target to DIR/<target>/ — valid
// messages the fuzzers start from, so they explore past the first length check. The committed
// fuzz/corpus/ was made with it; run it again after a wire format change:
//   build/bin/fuzz_seedgen fuzz/corpus
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/server_cert.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/tunnel_handshake.h"
#include "dc_ops.h"
#include "fuzz_support.h"
#include "proto/control_message.h"

using namespace ntm;
using proto::AttrType;
using proto::Bytes;
using proto::ControlMessage;
using proto::Endpoint;
using proto::MessageType;
namespace ops = fuzz::dc_ops;

namespace {

std::string g_root;

void write(const std::string& target, const std::string& name, const Bytes& data) {
  std::string dir = g_root + "/" + target;
  mkdir(g_root.c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

Endpoint ep(const char* s) {
  return *Endpoint::parse(s);
}

crypto::Key key_bytes(uint8_t v) {
  crypto::Key k;
  k.fill(v);
  return k;
}

ControlMessage registration(uint32_t id, const std::string& name) {
  ControlMessage m(MessageType::kRegistrationRequest, id);
  m.add_string(AttrType::kNodeName, name);
  return m;
}

ControlMessage direction_by_fqdn(uint32_t id, const std::string& fqdn) {
  ControlMessage m(MessageType::kDirectionRequest, id);
  m.add_string(AttrType::kFqdn, fqdn);
  return m;
}

void control_message_seeds() {
  const char* t = "control_message";
  ControlMessage reg = registration(1, "mn1");
  reg.add_endpoint(AttrType::kRealAddress, ep("192.0.2.10:4500"))
      .add_endpoint(AttrType::kRealAddress, ep("[2001:db8::10]:4500"));
  write(t, "registration_request", reg.encode());

  ControlMessage resp(MessageType::kRegistrationResponse, 1);
  uint8_t vip4[4] = {100, 64, 0, 1}, vip6[16] = {0xfd, 0, 0x6e, 0x74};
  resp.add_string(AttrType::kFqdn, "mn1.dc1.ntm.test")
      .add(AttrType::kVip4, vip4)
      .add(AttrType::kVip6, vip6)
      .add_endpoint(AttrType::kNatAddress, ep("198.51.100.1:61000"))
      .add_u32(AttrType::kLifetime, 60);
  write(t, "registration_response", resp.encode());

  write(t, "direction_request_fqdn", direction_by_fqdn(2, "cn1.dc1.ntm.test").encode());
  ControlMessage dvip(MessageType::kDirectionRequest, 3);
  dvip.add(AttrType::kPeerVip4, vip4);
  write(t, "direction_request_vip4", dvip.encode());

  ControlMessage rd(MessageType::kRouteDirection, 0x80000001);
  rd.flags = proto::kFlagRetransmission;
  rd.add_u32(AttrType::kDirectionId, 0x1234567)
      .add(AttrType::kTemporalKey, key_bytes(0x77))
      .add_u8(AttrType::kRole, uint8_t(proto::Role::kInitiator))
      .add_string(AttrType::kPeerFqdn, "cn1.dc1.ntm.test")
      .add(AttrType::kPeerStaticKey, key_bytes(0x42))
      .add(AttrType::kPeerVip4, vip4)
      .add(AttrType::kPeerVip6, vip6)
      .add_endpoint(AttrType::kPeerEndpoint, ep("203.0.113.5:4500"))
      .add_endpoint(AttrType::kPeerEndpoint, ep("[2001:db8::5]:4500"));
  write(t, "route_direction", rd.encode());

  ControlMessage treq(MessageType::kTunnelRequest, 9);
  treq.add_u32(AttrType::kTunnelId, 0xabcdef).add_u32(AttrType::kHandshakeSeq, 0);
  write(t, "tunnel_request", treq.encode());

  uint8_t token[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ControlMessage pc(MessageType::kPathChallenge, 0x80000002);
  pc.add(AttrType::kPathToken, token);
  write(t, "path_challenge", pc.encode());

  ControlMessage ka(MessageType::kKeepAliveAck, 10);
  ka.add_endpoint(AttrType::kNatAddress, ep("198.51.100.1:61001"));
  write(t, "keepalive_ack", ka.encode());

  write(t, "error", proto::make_error(reg, proto::ErrorCode::kNameTaken, "name taken").encode());

  ControlMessage unknown(MessageType::kKeepAlive, 11);
  unknown.add(AttrType(0x4242), text("from a newer peer"));
  write(t, "unknown_attribute", unknown.encode());
}

void endpoint_seeds() {
  const char* t = "endpoint";
  for (auto [name, text_form] :
       {std::pair{"v4", "192.0.2.1:4500"}, std::pair{"v6", "[2001:db8::1]:53"},
        std::pair{"v6_mapped", "[::ffff:192.0.2.1]:4500"}}) {
    Bytes wire;
    proto::Writer w(wire);
    ep(text_form).encode(w);
    write(t, std::string("wire_") + name, wire);
    write(t, std::string("text_") + name, text(text_form));
  }
}

void sealed_packet_seeds() {
  const char* t = "sealed_packet";
  const crypto::Key k = fuzz::fixed_key(fuzz::kSessionKey);
  struct Seed {
    const char* name;
    proto::PacketType type;
    uint64_t counter;
    size_t size;
  };
  for (const Seed& s :
       {Seed{"data_first", proto::PacketType::kData, 0, 84},
        Seed{"control_empty", proto::PacketType::kControl, 3, 0},
        Seed{"tunnel_message", proto::PacketType::kData, 5000, proto::kTunnelMessageSize},
        Seed{"data_mtu", proto::PacketType::kData, 1u << 20, proto::kTunnelMtu},
        Seed{"rekey_soon", proto::PacketType::kData, crypto::Session::kRekeyAfterMessages, 20},
        Seed{"last_counter", proto::PacketType::kData, crypto::Session::kRejectAfterMessages - 1,
             20}}) {
    crypto::Session tx(k, crypto::Key{}, 0x01020304, s.counter);
    Bytes plain(s.size);
    for (size_t i = 0; i < plain.size(); ++i) plain[i] = uint8_t(i);
    Bytes packet(plain.size() + proto::kSealedOverhead);
    tx.seal(s.type, plain, packet.data());
    write(t, s.name, packet);
  }
  // Authentic, but at a counter no sender may use.
  Bytes beyond(proto::kSealedOverhead + 4);
  beyond[0] = uint8_t(proto::PacketType::kData);
  proto::put_u64(&beyond[8], crypto::Session::kRejectAfterMessages);
  uint8_t plain[4] = {1, 2, 3, 4};
  crypto::seal(k, crypto::Session::kRejectAfterMessages, proto::ByteView(beyond.data(), 16), plain,
               beyond.data() + 16);
  write(t, "beyond_reject_limit", beyond);
}

Bytes with_mode(uint8_t mode, const Bytes& rest) {
  Bytes out{mode};
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

void handshake_seeds() {
  crypto::Key node = fuzz::fixed_key(fuzz::kNodeAStatic), dc = fuzz::fixed_key(fuzz::kDcStatic);
  crypto::HandshakeInitiator init(node, crypto::public_key(dc));
  crypto::HandshakeResponder resp(dc);
  crypto::CookieGenerator cookies(crypto::public_key(dc));
  Bytes m1 = init.create_init(0x11223344), m2;
  cookies.add_macs(m1);
  resp.consume_init(m1, 0x55667788, m2);

  const char* t1 = "handshake_init";
  write(t1, "xor_genuine", with_mode(1, {}));
  write(t1, "raw_genuine", with_mode(0, m1));  // valid for the target's keys at any time
  Bytes mask(proto::kHandshakeInitSize, 0);
  mask[5] = 0xff;
  write(t1, "xor_sender_index", with_mode(1, mask));
  mask = Bytes(proto::kHandshakeInitSize, 0);
  mask[60] = 0x01;  // inside enc(s)
  write(t1, "xor_static", with_mode(1, mask));
  write(t1, "raw_short", with_mode(0, Bytes(m1.begin(), m1.end() - 1)));

  const char* t2 = "handshake_response";
  write(t2, "xor_genuine", with_mode(1, {}));
  mask = Bytes(proto::kHandshakeRespSize, 0);
  mask[4] = 0x80;
  write(t2, "xor_sender_index", with_mode(1, mask));
  mask = Bytes(proto::kHandshakeRespSize, 0);
  mask[11] = 0x01;
  write(t2, "xor_receiver_index", with_mode(1, mask));
  mask = Bytes(proto::kHandshakeRespSize, 0);
  mask[59] = 0x01;
  write(t2, "xor_tag", with_mode(1, mask));
  write(t2, "raw_other_handshake", with_mode(0, m2));
}

void tunnel_handshake_and_cookie_seeds() {
  // The targets XOR over their genuine messages: an empty rest is the genuine message.
  const char* t = "tunnel_handshake";
  write(t, "xor_genuine_request", with_mode(1, {}));
  write(t, "xor_genuine_response", with_mode(3, {}));
  Bytes mask(8, 0);
  mask[5] = 0x01;  // the direction ID in the header (bound through the prologue)
  write(t, "xor_direction_id", with_mode(1, mask));
  mask = Bytes(60, 0);
  mask[45] = 0x80;  // inside the sealed payload
  write(t, "xor_payload", with_mode(3, mask));
  mask = Bytes(20, 0);
  mask[12] = 0x01;  // inside e
  write(t, "xor_ephemeral", with_mode(1, mask));

  const char* c = "cookie";
  write(c, "xor_genuine_initiation", with_mode(1, {}));
  write(c, "xor_genuine_reply", with_mode(3, {}));
  mask = Bytes(proto::kHandshakeInitSize, 0);
  mask[140] = 0x01;  // mac2
  write(c, "xor_mac2", with_mode(1, mask));
  mask = Bytes(crypto::kCookieReplySize, 0);
  mask[10] = 0x01;  // nonce
  write(c, "xor_reply_nonce", with_mode(3, mask));
}

/// One operation of the node_negotiation target: code, length, bytes.
void node_op(Bytes& s, uint8_t code, const Bytes& body) {
  s.push_back(code);
  s.push_back(uint8_t(body.size() >> 8));
  s.push_back(uint8_t(body.size()));
  s.insert(s.end(), body.begin(), body.end());
}

void node_negotiation_seeds() {
  const char* t = "node_negotiation";
  crypto::Key node_a = fuzz::fixed_key(fuzz::kNodeAStatic);
  crypto::Key node_b = fuzz::fixed_key(fuzz::kNodeBStatic);
  crypto::Key temporal = key_bytes(0x77);
  uint32_t direction = 0x1234567;
  uint8_t vip4[4] = {100, 64, 0, 9};
  auto route_direction = [&](uint32_t id, proto::Role role) {
    ControlMessage rd(MessageType::kRouteDirection, id);
    rd.add_u32(AttrType::kDirectionId, direction)
        .add(AttrType::kTemporalKey, temporal)
        .add_u8(AttrType::kRole, uint8_t(role))
        .add_string(AttrType::kPeerFqdn, "b.dc.fuzz")
        .add(AttrType::kPeerStaticKey, crypto::public_key(node_b))
        .add(AttrType::kPeerVip4, vip4)
        .add_endpoint(AttrType::kPeerEndpoint, ep("127.0.0.1:9"));
    return rd.encode();
  };
  // Responder: the route direction, then B's genuine tunnel request, then its duplicate.
  crypto::TunnelHandshakeParams p;
  p.local_static_private = node_b;
  p.peer_static_public = crypto::public_key(node_a);
  p.psk = temporal;
  p.direction_id = direction;
  p.role = proto::Role::kInitiator;
  crypto::TunnelHandshake b(p);
  ControlMessage treq(MessageType::kTunnelRequest, 0x7e570001);
  treq.add_u32(AttrType::kTunnelId, 0xb0b00001).add_u32(AttrType::kHandshakeSeq, 0);
  Bytes m1 = b.create_request(treq.encode());
  Bytes s;
  node_op(s, 1, route_direction(0x80000001, proto::Role::kResponder));
  node_op(s, 2, m1);
  node_op(s, 2, m1);
  node_op(s, 1, route_direction(0x80000002, proto::Role::kResponder));  // a late copy
  write(t, "responder_handshake", s);
  // Initiator: sends a request to the discard port; a path challenge; garbage from a peer.
  s.clear();
  node_op(s, 1, route_direction(0x80000003, proto::Role::kInitiator));
  uint8_t token[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  ControlMessage pc(MessageType::kPathChallenge, 0x80000004);
  pc.add(AttrType::kPathToken, token);
  node_op(s, 1, pc.encode());
  node_op(s, 2, Bytes{0x04, 0, 0, 0, 0x01, 0x23, 0x45, 0x67});
  node_op(s, 0, Bytes{0x06, 0, 0, 0, 1, 2, 3, 4});
  write(t, "initiator_and_challenge", s);
}

Bytes plain(const ControlMessage& m) {
  return m.encode();
}

void dc_datagram_seeds() {
  const char* t = "dc_datagram";
  const uint8_t A = 0, B = ops::kNodeB;
  std::string a_fqdn = std::string("a.") + ops::kDomain, b_fqdn = std::string("b.") + ops::kDomain;

  // Both register, A reachable; A asks for B by name, B for A by vIP; keep-alives.
  Bytes s;
  ops::append(s, A | ops::kSealedSelf, plain(registration(1, "a")), true);
  ops::append(s, B | ops::kSealed, plain(registration(1, "b")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(2, b_fqdn)), true);
  ControlMessage by_vip(MessageType::kDirectionRequest, 2);
  uint8_t a_vip4[4] = {100, 64, 0, 1};
  by_vip.add(AttrType::kPeerVip4, a_vip4);
  ops::append(s, B | ops::kSealed, plain(by_vip), true);
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kKeepAlive, 3)), true);
  ops::append(s, B | ops::kSealed, plain(ControlMessage(MessageType::kKeepAlive, 3)), true);
  write(t, "register_and_direct", s);

  // Refusals: invalid name, name taken, unknown FQDN, direction to itself, keep-alive and
  // direction before registering, unexpected message type.
  s.clear();
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kKeepAlive, 1)), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(2, b_fqdn)), true);
  ops::append(s, A | ops::kSealed, plain(registration(3, "Not-A-Label")), true);
  ops::append(s, A | ops::kSealed, plain(registration(4, "a")), true);
  ops::append(s, B | ops::kSealed, plain(registration(1, "a")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(5, "nobody.dc.fuzz")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(6, a_fqdn)), true);
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kTunnelRequest, 7)), true);
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kDirectionRequest, 8)), true);
  write(t, "refusals", s);

  // Both behind NAT: no relay, the direction is refused; then B becomes reachable.
  s.clear();
  ops::append(s, A | ops::kSealed, plain(registration(1, "a")), true);
  ops::append(s, B | ops::kSealed, plain(registration(1, "b")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(2, b_fqdn)), true);
  ops::append(s, B | ops::kSealedSelf, plain(registration(2, "b")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(3, "B.DC.FUZZ.")), true);
  write(t, "nat_both_then_one", s);

  // Duplicates, replays, rebinding, re-handshake, rename.
  s.clear();
  Bytes reg = plain(registration(1, "a"));
  ops::append(s, A | ops::kSealed, reg, true);
  ops::append(s, A | ops::kSealed, reg, true);  // same message ID: the cached response
  ops::append(s, A | ops::kReplay);
  ops::append(s, A | ops::kMove);
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kKeepAlive, 2)), true);
  ops::append(s, A | ops::kHandshake);
  ops::append(s, A | ops::kSealed, plain(ControlMessage(MessageType::kKeepAlive, 3)), true);
  ops::append(s, A | ops::kSealed, plain(registration(4, "renamed")), true);
  ops::append(s, A | ops::kReplay);
  write(t, "replay_move_rename", s);

  // Registration as early data of message 1 (docs/protocol.md §3.2), then a direction request
  // under the session it confirmed; early data that is no registration request.
  s.clear();
  ops::append(s, A | ops::kEarly, plain(registration(1, "a")), true);
  ops::append(s, B | ops::kEarly, plain(registration(1, "b")), true);
  ops::append(s, A | ops::kSealed, plain(direction_by_fqdn(2, b_fqdn)), true);
  ops::append(s, B | ops::kEarly, plain(ControlMessage(MessageType::kKeepAlive, 3)), true);
  write(t, "early_registration", s);

  // Garbage on the wire: empty, unknown type, short control, unknown session, bad handshakes.
  s.clear();
  ops::append(s, A | ops::kRaw, {}, true);
  ops::append(s, A | ops::kRaw, {0x05, 0, 0, 0}, true);
  ops::append(s, A | ops::kRaw, {0x03, 0, 0, 0, 0, 0, 0, 1}, true);
  Bytes unknown_session(48, 0);
  unknown_session[0] = uint8_t(proto::PacketType::kControl);
  proto::put_u32(&unknown_session[4], 0x12345678);
  ops::append(s, B | ops::kRaw, unknown_session, true);
  Bytes init(proto::kHandshakeInitSize - 1, 0);
  init[0] = 0x01;
  ops::append(s, B | ops::kRaw, init, true);
  ops::append(s, B | ops::kRaw, {0x02, 0, 0, 0}, true);
  write(t, "garbage", s);

  // The vIP pools (6 IPv4, 7 IPv6 addresses) against one node renaming itself repeatedly.
  s.clear();
  for (int i = 0; i < 8; ++i)
    ops::append(s, (i % 2 ? B : A) | ops::kSealed,
                plain(registration(uint32_t(i + 1), "n" + std::to_string(i))), true);
  write(t, "renames", s);
}

/// Server certificates signed by the key server_cert_fuzz.cpp trusts (Ed25519 seed
/// 0x01..0x20): the docs/protocol.md §15 example, the shortest and the longest name, one not yet
/// valid at the target's "now", and one by another key.
void server_cert_seeds() {
  const char* t = "server_cert";
  std::array<uint8_t, 32> seed, other_seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(1 + i), other_seed[i] = uint8_t(0x80);
  server::SignKey key = server::sign_key_from_seed(seed);
  server::ServerCert c;
  c.name = "dc1.ntm.test";
  for (size_t i = 0; i < c.static_key.size(); ++i) c.static_key[i] = uint8_t(0x21 + i);
  c.not_before = 1700000000;
  c.not_after = 1731536000;
  write(t, "example", server::sign_cert(c, key));
  write(t, "base64", text(server::cert_to_base64(server::sign_cert(c, key)) + "\n"));
  write(t, "other_signer", server::sign_cert(c, server::sign_key_from_seed(other_seed)));
  server::ServerCert s = c;
  s.name = "a";
  write(t, "short_name", server::sign_cert(s, key));
  s.name.clear();
  for (int i = 0; i < 4; ++i) s.name += std::string(i ? "." : "") + std::string(63, char('a' + i));
  s.name.resize(253);
  write(t, "long_name", server::sign_cert(s, key));
  s = c;
  s.not_before = 1800000000;
  s.not_after = 1900000000;
  write(t, "not_yet_valid", server::sign_cert(s, key));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  fuzz::deterministic_randomness();
  control_message_seeds();
  endpoint_seeds();
  sealed_packet_seeds();
  handshake_seeds();
  dc_datagram_seeds();
  tunnel_handshake_and_cookie_seeds();
  node_negotiation_seeds();
  server_cert_seeds();
  std::printf("seeds written to %s\n", g_root.c_str());
  return 0;
}
