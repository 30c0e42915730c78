// docs/protocol.md against the code.
//
// - Every ```hex example=NAME block is decoded with the real parsers (ControlMessage::decode,
//   parse_sealed_header, Session::open, HandshakeResponder) and its fields are compared with
//   what the document states about it (the literal values below mirror §10's captions).
// - The expected example names are listed here: a missing, duplicated or unknown example fails.
// - The examples must equal what the library's encoders produce today from the documented
//   inputs (so a changed encoder fails even when the parsers still accept the old bytes).
// - An independent implementation of §2, §3 and §7 (reference.cpp, libsodium only) must
//   reproduce the documented bytes, keys and handshake trace.
// - The tables marked <!-- table:... --> must match the code's enums and constants.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/anti_replay.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/tunnel_keys.h"
#include "examples.h"
#include "proto/control_message.h"
#include "proto/messages.h"
#include "proto/response_cache.h"
#include "reference.h"

namespace ntm::protocol_doc {
namespace {

using proto::AttrType;
using proto::ControlMessage;

// ---------------------------------------------------------------------------------------------
// Reading the document.

struct Block {
  std::string info;  ///< text after the opening ```
  std::string body;
  int line = 0;
};

struct Doc {
  std::vector<std::string> lines;
  std::vector<Block> blocks;
};

const Doc& doc() {
  static const Doc d = [] {
    Doc d;
    std::ifstream f(NTM_PROTOCOL_DOC);
    std::string line;
    while (std::getline(f, line)) d.lines.push_back(line);
    for (size_t i = 0; i < d.lines.size(); ++i) {
      if (d.lines[i].rfind("```", 0) != 0) continue;
      Block b;
      b.info = d.lines[i].substr(3);
      b.line = int(i + 1);
      size_t j = i + 1;
      for (; j < d.lines.size() && d.lines[j].rfind("```", 0) != 0; ++j)
        b.body += d.lines[j] + "\n";
      d.blocks.push_back(b);
      i = j;
    }
    return d;
  }();
  return d;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// Whitespace-separated pairs of hex digits; fails the test on anything else.
Bytes parse_hex_pairs(const std::string& body, const std::string& what) {
  Bytes out;
  std::istringstream in(body);
  std::string tok;
  while (in >> tok) {
    EXPECT_EQ(tok.size(), 2u) << what << ": bad hex token '" << tok << "'";
    if (tok.size() != 2 || !isxdigit(uint8_t(tok[0])) || !isxdigit(uint8_t(tok[1]))) {
      ADD_FAILURE() << what << ": bad hex token '" << tok << "'";
      continue;
    }
    out.push_back(uint8_t(std::stoul(tok, nullptr, 16)));
  }
  return out;
}

Bytes from_hex(const std::string& s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(uint8_t(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

/// Blocks whose info string is "<kind> <key>=<name>", by name. Duplicates fail.
std::map<std::string, Bytes> hex_blocks(const std::string& key) {
  std::map<std::string, Bytes> out;
  const std::string prefix = "hex " + key + "=";
  for (auto& b : doc().blocks) {
    if (b.info.rfind(prefix, 0) != 0) continue;
    std::string name = trim(b.info.substr(prefix.size()));
    EXPECT_FALSE(out.count(name)) << "duplicate ```" << prefix << name << " (line " << b.line
                                  << ")";
    out[name] = parse_hex_pairs(b.body, name);
  }
  return out;
}

const std::map<std::string, Bytes>& examples() {
  static const std::map<std::string, Bytes> e = hex_blocks("example");
  return e;
}

/// Bytes of a documented example; an empty vector (and a failure) when it is missing.
Bytes ex(const std::string& name) {
  auto it = examples().find(name);
  if (it == examples().end()) {
    ADD_FAILURE() << "docs/protocol.md has no ```hex example=" << name;
    return {};
  }
  return it->second;
}

/// "name = value" lines of the ```text TAG block, in order.
std::vector<std::pair<std::string, std::string>> key_values(const std::string& tag) {
  std::vector<std::pair<std::string, std::string>> out;
  int found = 0;
  for (auto& b : doc().blocks) {
    if (trim(b.info) != "text " + tag) continue;
    ++found;
    std::istringstream in(b.body);
    std::string line;
    while (std::getline(in, line)) {
      size_t eq = line.rfind(" = ");
      if (eq == std::string::npos) continue;
      out.push_back({trim(line.substr(0, eq)), trim(line.substr(eq + 3))});
    }
  }
  EXPECT_EQ(found, 1) << "expected one ```text " << tag << " block";
  return out;
}

std::string kv(const std::vector<std::pair<std::string, std::string>>& v, const std::string& k) {
  for (auto& [name, value] : v)
    if (name == k) return value;
  ADD_FAILURE() << "no value '" << k << "' in the document";
  return "";
}

Key key_of(const std::string& hexstr) {
  Key k{};
  Bytes b = from_hex(hexstr);
  EXPECT_EQ(b.size(), 32u) << hexstr;
  std::copy_n(b.begin(), std::min<size_t>(32, b.size()), k.begin());
  return k;
}

uint64_t num_of(const std::string& hexstr) {
  return std::stoull(hexstr, nullptr, 16);
}

/// Rows (cells, trimmed, backticks removed) of the table following <!-- table:NAME -->.
std::vector<std::vector<std::string>> table(const std::string& name) {
  std::vector<std::vector<std::string>> rows;
  const auto& lines = doc().lines;
  size_t i = 0;
  while (i < lines.size() && trim(lines[i]) != "<!-- table:" + name + " -->") ++i;
  EXPECT_LT(i, lines.size()) << "no <!-- table:" << name << " --> in docs/protocol.md";
  for (++i; i < lines.size() && trim(lines[i]).rfind("|", 0) == 0; ++i) {
    std::vector<std::string> cells;
    std::string line = trim(lines[i]);
    size_t pos = 1;
    while (pos < line.size()) {
      size_t bar = line.find('|', pos);
      if (bar == std::string::npos) break;
      std::string cell = trim(line.substr(pos, bar - pos));
      std::erase(cell, '`');
      cells.push_back(cell);
      pos = bar + 1;
    }
    rows.push_back(cells);
  }
  // Drop the header and the |---| separator.
  if (rows.size() >= 2) rows.erase(rows.begin(), rows.begin() + 2);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Independent builders of expected attribute values.

Bytes str(const std::string& s) {
  return Bytes(s.begin(), s.end());
}
Bytes be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
Bytes be16(uint16_t v) {
  return {uint8_t(v >> 8), uint8_t(v)};
}
Bytes ip4(const char* t) {
  Bytes b(4);
  EXPECT_EQ(inet_pton(AF_INET, t, b.data()), 1);
  return b;
}
Bytes ip6(const char* t) {
  Bytes b(16);
  EXPECT_EQ(inet_pton(AF_INET6, t, b.data()), 1);
  return b;
}
Bytes ep(uint8_t family, const Bytes& addr, uint16_t port) {
  Bytes b(3 + addr.size());
  b[0] = family;
  b[1] = uint8_t(port >> 8);
  b[2] = uint8_t(port);
  std::copy(addr.begin(), addr.end(), b.begin() + 3);
  return b;
}
Bytes kb(const Key& k) {
  return Bytes(k.begin(), k.end());
}

struct ExpectedMessage {
  uint8_t type;
  uint32_t message_id;
  std::vector<std::pair<uint16_t, Bytes>> attrs;
};

/// Decodes `wire` with the real decoder and compares every field with `want`.
std::optional<ControlMessage> check_message(const std::string& name, const Bytes& wire,
                                            const ExpectedMessage& want) {
  SCOPED_TRACE(name);
  proto::DecodeError err;
  auto m = ControlMessage::decode(wire, err);
  EXPECT_TRUE(m) << "decode: " << proto::to_string(err);
  if (!m) return std::nullopt;
  EXPECT_EQ(wire[0], 1) << "version byte";
  EXPECT_EQ(wire[1], want.type) << "type byte";
  EXPECT_EQ(uint8_t(m->type), want.type);
  EXPECT_EQ(m->flags, 0);
  EXPECT_EQ(m->message_id, want.message_id);
  EXPECT_EQ(proto::get_u32(&wire[4]), want.message_id) << "message ID at offset 4";
  EXPECT_EQ(m->attrs.size(), want.attrs.size());
  for (size_t i = 0; i < std::min(m->attrs.size(), want.attrs.size()); ++i) {
    EXPECT_EQ(uint16_t(m->attrs[i].type), want.attrs[i].first) << "attribute " << i;
    EXPECT_EQ(hex(m->attrs[i].value), hex(want.attrs[i].second)) << "attribute " << i;
  }
  size_t len = proto::kControlHeaderSize;
  for (auto& [t, v] : want.attrs) len += 4 + v.size();
  EXPECT_EQ(wire.size(), len);
  return m;
}

// Documented inputs (§10.1) as the document states them.
const std::vector<std::pair<std::string, std::string>>& doc_inputs() {
  static const auto v = key_values("inputs");
  return v;
}
const std::vector<std::pair<std::string, std::string>>& doc_derived() {
  static const auto v = key_values("derived");
  return v;
}
Key in_key(const std::string& n) {
  return key_of(kv(doc_inputs(), n));
}
Key derived_key(const std::string& n) {
  return key_of(kv(doc_derived(), n));
}

const std::vector<std::string> kExpectedExamples = {
    "handshake-init",
    "handshake-resp",
    "registration-request",
    "registration-response",
    "direction-request",
    "direction-request-vip4",
    "direction-response",
    "route-direction",
    "route-direction-responder",
    "route-direction-ack",
    "tunnel-request",
    "tunnel-response",
    "keep-alive",
    "keep-alive-ack",
    "error",
    "sealed-control",
    "sealed-control-from-dc",
    "tunnel-control-request",
    "tunnel-control-response",
    "data",
};

class ProtocolDoc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }
};

// ---------------------------------------------------------------------------------------------
// Presence and regeneration.

TEST_F(ProtocolDoc, DocumentIsReadable) {
  ASSERT_GT(doc().lines.size(), 100u) << "cannot read " << NTM_PROTOCOL_DOC;
}

TEST_F(ProtocolDoc, EveryExpectedExampleIsPresentAndNoOther) {
  std::set<std::string> want(kExpectedExamples.begin(), kExpectedExamples.end());
  for (auto& n : want) EXPECT_TRUE(examples().count(n)) << "missing ```hex example=" << n;
  for (auto& [n, b] : examples()) {
    EXPECT_TRUE(want.count(n)) << "unexpected ```hex example=" << n << " (add it to the test)";
    EXPECT_FALSE(b.empty()) << n;
  }
  // Every control message type has a plaintext example.
  std::set<uint8_t> types;
  for (auto& [n, b] : examples())
    if (b.size() >= 8 && b[0] == 1 && n.find("handshake") == std::string::npos &&
        n.find("sealed") == std::string::npos && n.find("tunnel-control") == std::string::npos)
      types.insert(b[1]);
  for (uint8_t t = 0x01; t <= 0x0B; ++t)
    EXPECT_TRUE(types.count(t)) << "no example of type " << int(t);
}

TEST_F(ProtocolDoc, ExamplesEqualWhatTheEncodersProduceToday) {
  for (auto& e : build_examples()) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(hex(ex(e.name)), hex(e.bytes))
        << "docs/protocol.md §10 is stale: run protocol_doc_generate --update docs/protocol.md "
           "after a deliberate wire change";
  }
  auto plain = hex_blocks("plaintext");
  EXPECT_EQ(hex(plain["data"]), hex(example_inner_packet()));
}

TEST_F(ProtocolDoc, DocumentedInputsAndDerivedValuesAreTheGeneratorsAndTheLibrarys) {
  EXPECT_EQ(doc_inputs(), input_values());
  EXPECT_EQ(doc_derived(), derived_values());
}

// ---------------------------------------------------------------------------------------------
// Key derivations (§3.5, §7.4, §7.6): library, reference and document agree.

TEST_F(ProtocolDoc, PublicKeysAndTunnelKeysFollowFromTheDocumentedInputs) {
  for (auto [priv, pub] : std::vector<std::pair<const char*, const char*>>{
           {"alice_static_private", "alice_static_public"},
           {"dc_static_private", "dc_static_public"},
           {"alice_handshake_ephemeral_private", "alice_handshake_ephemeral_public"},
           {"dc_handshake_ephemeral_private", "dc_handshake_ephemeral_public"},
           {"bob_tunnel_ephemeral_private", "bob_tunnel_ephemeral_public"},
           {"alice_tunnel_ephemeral_private", "alice_tunnel_ephemeral_public"}}) {
    EXPECT_EQ(crypto::public_key(in_key(priv)), derived_key(pub)) << pub;
    EXPECT_EQ(reference::x25519_public(in_key(priv)), derived_key(pub)) << pub;
  }
  Key T = in_key("temporal_key");
  auto [ri2r, rr2i] = reference::tunnel_control_keys(T);
  EXPECT_EQ(ri2r, derived_key("tunnel_control_i2r"));
  EXPECT_EQ(rr2i, derived_key("tunnel_control_r2i"));
  auto init = crypto::tunnel_control_keys(T, proto::Role::kInitiator);
  auto resp = crypto::tunnel_control_keys(T, proto::Role::kResponder);
  EXPECT_EQ(init.send, ri2r);  // the initiator seals with Ki2r
  EXPECT_EQ(init.recv, rr2i);
  EXPECT_EQ(resp.send, rr2i);  // the responder seals with Kr2i
  EXPECT_EQ(resp.recv, ri2r);

  Key ei = in_key("bob_tunnel_ephemeral_private"), er = in_key("alice_tunnel_ephemeral_private");
  Key Ei = derived_key("bob_tunnel_ephemeral_public"),
      Er = derived_key("alice_tunnel_ephemeral_public");
  auto [di2r, dr2i] = reference::tunnel_data_keys(T, ei, Er);
  EXPECT_EQ(di2r, derived_key("data_i2r"));
  EXPECT_EQ(dr2i, derived_key("data_r2i"));
  crypto::DirectionalKeys i, r;
  ASSERT_TRUE(crypto::tunnel_data_keys(T, proto::Role::kInitiator, ei, Ei, Er, i));
  ASSERT_TRUE(crypto::tunnel_data_keys(T, proto::Role::kResponder, er, Er, Ei, r));
  EXPECT_EQ(i.send, di2r);
  EXPECT_EQ(i.recv, dr2i);
  EXPECT_EQ(r.send, dr2i);
  EXPECT_EQ(r.recv, di2r);
  // A low-order peer key is refused (§7.5: "drop on a low-order key").
  Key zero{};
  EXPECT_FALSE(crypto::tunnel_data_keys(T, proto::Role::kInitiator, ei, Ei, zero, i));
}

TEST_F(ProtocolDoc, HandshakeTraceAndKeysMatchTheReferenceImplementation) {
  auto ts = from_hex(kv(doc_inputs(), "handshake_timestamp"));
  ASSERT_EQ(ts.size(), 12u);
  auto ref = reference::handshake(in_key("alice_static_private"), in_key("dc_static_private"),
                                  in_key("alice_handshake_ephemeral_private"),
                                  in_key("dc_handshake_ephemeral_private"),
                                  uint32_t(num_of(kv(doc_inputs(), "alice_index"))),
                                  uint32_t(num_of(kv(doc_inputs(), "dc_index"))), ts);
  auto trace = key_values("handshake-trace");
  ASSERT_EQ(trace.size(), ref.trace.size());
  for (size_t i = 0; i < trace.size(); ++i) {
    EXPECT_EQ(trace[i].first, ref.trace[i].first);
    EXPECT_EQ(trace[i].second, hex(ref.trace[i].second)) << trace[i].first;
  }
  EXPECT_EQ(ref.trace.front().second, key_of(hex(str("Noise_IK_25519_ChaChaPoly_SHA256"))));
  EXPECT_EQ(hex(ref.msg1), hex(ex("handshake-init")));
  EXPECT_EQ(hex(ref.msg2), hex(ex("handshake-resp")));
  EXPECT_EQ(ref.k1, derived_key("k1_node_to_dc"));
  EXPECT_EQ(ref.k2, derived_key("k2_dc_to_node"));
}

// ---------------------------------------------------------------------------------------------
// Handshake (§3).

TEST_F(ProtocolDoc, HandshakeInitDecodesWithTheRealResponder) {
  Bytes m = ex("handshake-init");
  ASSERT_EQ(m.size(), 116u);
  EXPECT_EQ(m[0], 0x01);
  EXPECT_EQ(m[1] | m[2] | m[3], 0);
  EXPECT_EQ(proto::get_u32(&m[4]), 0x0a11ce00u);
  Key e;
  std::copy_n(m.begin() + 8, 32, e.begin());
  EXPECT_EQ(e, derived_key("alice_handshake_ephemeral_public")) << "e in clear at offset 8";

  crypto::HandshakeResponder dc(in_key("dc_static_private"));
  EXPECT_EQ(dc.public_key(), derived_key("dc_static_public"));
  Bytes response;
  auto r = dc.consume_init(m, 0x12345678, response);
  ASSERT_TRUE(r) << "the real responder rejects the documented message 1";
  EXPECT_EQ(r->remote_static, derived_key("alice_static_public"));
  EXPECT_EQ(r->remote_index, 0x0a11ce00u);
  EXPECT_EQ(r->local_index, 0x12345678u);
  EXPECT_EQ(hex(r->timestamp), kv(doc_inputs(), "handshake_timestamp"));
  EXPECT_EQ(proto::get_u64(r->timestamp.data()), 1767225600u);     // 2026-01-01T00:00:00Z
  EXPECT_EQ(proto::get_u32(r->timestamp.data() + 8), 123456789u);  // nanoseconds
  // Its answer has the documented layout (its ephemeral key is random).
  ASSERT_EQ(response.size(), 60u);
  EXPECT_EQ(response[0], 0x02);
  EXPECT_EQ(response[1] | response[2] | response[3], 0);
  EXPECT_EQ(proto::get_u32(&response[4]), 0x12345678u) << "sender index = the DC's";
  EXPECT_EQ(proto::get_u32(&response[8]), 0x0a11ce00u) << "receiver index = the node's";
  // Any change to a byte the transcript covers is rejected.
  for (size_t off : {8u, 40u, 87u, 88u, 115u}) {
    Bytes bad = m;
    bad[off] ^= 1;
    EXPECT_FALSE(dc.consume_init(bad, 1, response)) << "flipped byte " << off;
  }
  Bytes wrong_size = m;
  wrong_size.push_back(0);
  EXPECT_FALSE(dc.consume_init(wrong_size, 1, response));
}

TEST_F(ProtocolDoc, HandshakeRespAuthenticatesAgainstTheDocumentedInitiatorState) {
  Bytes m1 = ex("handshake-init"), m2 = ex("handshake-resp");
  ASSERT_EQ(m2.size(), 60u);
  EXPECT_EQ(m2[0], 0x02);
  EXPECT_EQ(m2[1] | m2[2] | m2[3], 0);
  EXPECT_EQ(proto::get_u32(&m2[4]), 0xd0c00001u);
  EXPECT_EQ(proto::get_u32(&m2[8]), 0x0a11ce00u);
  Key re;
  std::copy_n(m2.begin() + 12, 32, re.begin());
  EXPECT_EQ(re, derived_key("dc_handshake_ephemeral_public"));

  // Replay the initiator's side of §3.3 with the library's SymmetricState, from the documented
  // private keys, over the documented message 1, then consume message 2 as the node does.
  Key s = in_key("alice_static_private"), e = in_key("alice_handshake_ephemeral_private");
  Key S_dc = derived_key("dc_static_public"), shared;
  auto v = [](const Key& k) { return ByteView(k.data(), k.size()); };
  crypto::SymmetricState ss;
  ss.mix_hash(v(S_dc));
  ss.mix_hash(ByteView(m1).subspan(8, 32));
  ASSERT_TRUE(crypto::dh(e, S_dc, shared));
  ss.mix_key(v(shared));
  uint8_t plain[32];
  ASSERT_TRUE(ss.decrypt_and_hash(ByteView(m1).subspan(40, 48), plain));
  EXPECT_EQ(hex(ByteView(plain, 32)), hex(derived_key("alice_static_public")));
  ASSERT_TRUE(crypto::dh(s, S_dc, shared));
  ss.mix_key(v(shared));
  ASSERT_TRUE(ss.decrypt_and_hash(ByteView(m1).subspan(88, 28), plain));
  EXPECT_EQ(hex(ByteView(plain, 12)), kv(doc_inputs(), "handshake_timestamp"));
  // Message 2 (§3.3 steps 9-13), as HandshakeInitiator::consume_response processes it.
  auto consume_m2 = [&](crypto::SymmetricState st, const Bytes& msg) -> std::optional<Key> {
    Key their_e;
    std::copy_n(msg.begin() + 12, 32, their_e.begin());
    st.mix_hash(v(their_e));
    if (!crypto::dh(e, their_e, shared)) return std::nullopt;
    st.mix_key(v(shared));
    if (!crypto::dh(s, their_e, shared)) return std::nullopt;
    st.mix_key(v(shared));
    uint8_t none[1];
    if (!st.decrypt_and_hash(ByteView(msg).subspan(44, 16), none)) return std::nullopt;
    Key k1, k2;
    st.split(k1, k2);
    EXPECT_EQ(k2, derived_key("k2_dc_to_node"));
    return k1;
  };
  auto k1 = consume_m2(ss, m2);
  ASSERT_TRUE(k1) << "message 2 does not authenticate";
  EXPECT_EQ(*k1, derived_key("k1_node_to_dc"));
  for (size_t off : {12u, 43u, 44u, 59u}) {
    Bytes bad = m2;
    bad[off] ^= 1;
    EXPECT_FALSE(consume_m2(ss, bad)) << "flipped byte " << off;
  }
}

TEST_F(ProtocolDoc, LiveHandshakeHasTheDocumentedLayoutAndKeyPairing) {
  Key node = in_key("alice_static_private"), dcpriv = in_key("dc_static_private");
  crypto::HandshakeInitiator ini(node, crypto::public_key(dcpriv));
  crypto::HandshakeResponder resp(dcpriv);
  Bytes m1 = ini.create_init(0x0a11ce00), m2;
  ASSERT_EQ(m1.size(), proto::kHandshakeInitSize);
  EXPECT_EQ(m1[0], 0x01);
  EXPECT_EQ(proto::get_u32(&m1[4]), 0x0a11ce00u);
  auto r = resp.consume_init(m1, 0xd0c00001, m2);
  ASSERT_TRUE(r);
  ASSERT_EQ(m2.size(), proto::kHandshakeRespSize);
  Bytes tampered = m2;
  tampered[50] ^= 1;
  EXPECT_FALSE(ini.consume_response(tampered));
  Bytes other_index = m2;
  other_index[11] ^= 1;
  EXPECT_FALSE(ini.consume_response(other_index)) << "receiver index must be the node's";
  auto n = ini.consume_response(m2);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->remote_index, 0xd0c00001u);
  EXPECT_EQ(n->local_index, 0x0a11ce00u);
  EXPECT_EQ(n->send_key, r->recv_key);  // node sends with k1, the DC receives with k1
  EXPECT_EQ(n->recv_key, r->send_key);  // the DC sends with k2
  // A control packet sealed by the node opens at the DC, carrying the DC's index.
  crypto::Session node_s(n->send_key, n->recv_key, n->remote_index);
  crypto::Session dc_s(r->send_key, r->recv_key, r->remote_index);
  Bytes plain = ex("keep-alive"), out(plain.size() + 32), back(plain.size());
  node_s.seal(proto::PacketType::kControl, plain, out.data());
  crypto::SealedHeader h;
  ASSERT_TRUE(crypto::parse_sealed_header(out, h));
  EXPECT_EQ(h.receiver_index, 0xd0c00001u);
  EXPECT_EQ(dc_s.open(h, out, back.data()), crypto::Session::OpenStatus::kOk);
  EXPECT_EQ(back, plain);
  // The timestamp is now (§3.2).
  EXPECT_GT(proto::get_u64(r->timestamp.data()), 1700000000u);
}

// ---------------------------------------------------------------------------------------------
// Control messages (§4, §5).

TEST_F(ProtocolDoc, RegistrationRequest) {
  auto m = check_message("registration-request", ex("registration-request"),
                         {0x01,
                          0x6d5a0001,
                          {{0x0001, str("alice")},
                           {0x0005, ep(4, ip4("198.51.100.7"), 40000)},
                           {0x0005, ep(6, ip6("2001:db8:1::7"), 40000)}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_string(AttrType::kNodeName), "alice");
  auto eps = m->get_endpoints(AttrType::kRealAddress);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].to_string(), "198.51.100.7:40000");
  EXPECT_EQ(eps[1].to_string(), "[2001:db8:1::7]:40000");
  EXPECT_FALSE(proto::is_response(m->type));
}

TEST_F(ProtocolDoc, RegistrationResponse) {
  auto m = check_message("registration-response", ex("registration-response"),
                         {0x02,
                          0x6d5a0001,
                          {{0x0002, str("alice.dc.ntm.test")},
                           {0x0003, ip4("100.64.0.2")},
                           {0x0004, ip6("fd00:6e74:6d::2")},
                           {0x0006, ep(4, ip4("198.51.100.7"), 40000)},
                           {0x0007, be32(60)}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_string(AttrType::kFqdn), "alice.dc.ntm.test");
  EXPECT_EQ(m->get_endpoint(AttrType::kNatAddress)->to_string(), "198.51.100.7:40000");
  EXPECT_EQ(m->get_u32(AttrType::kLifetime), 60u);
  EXPECT_TRUE(proto::is_response(m->type));
}

TEST_F(ProtocolDoc, DirectionRequests) {
  auto m = check_message("direction-request", ex("direction-request"),
                         {0x03, 0x6d5a0002, {{0x0002, str("bob.dc.ntm.test")}}});
  ASSERT_TRUE(m);
  EXPECT_FALSE(proto::is_response(m->type));
  check_message("direction-request-vip4", ex("direction-request-vip4"),
                {0x03, 0x6d5a0005, {{0x0011, ip4("100.64.0.3")}}});
}

TEST_F(ProtocolDoc, DirectionResponse) {
  auto m = check_message("direction-response", ex("direction-response"),
                         {0x04,
                          0x6d5a0002,
                          {{0x0002, str("bob.dc.ntm.test")},
                           {0x0011, ip4("100.64.0.3")},
                           {0x0012, ip6("fd00:6e74:6d::3")},
                           {0x0008, be32(0x5a17c0d3)}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_u32(AttrType::kDirectionId), 0x5a17c0d3u);
  EXPECT_EQ(*m->get_u32(AttrType::kDirectionId) & 1, 1u) << "direction IDs are odd (§4.4.3)";
}

TEST_F(ProtocolDoc, RouteDirections) {
  Key T = in_key("temporal_key");
  auto m = check_message("route-direction", ex("route-direction"),
                         {0x05,
                          0x4c3b0001,
                          {{0x0008, be32(0x5a17c0d3)},
                           {0x0009, kb(T)},
                           {0x000A, {1}},
                           {0x0010, str("alice.dc.ntm.test")},
                           {0x0011, ip4("100.64.0.2")},
                           {0x0012, ip6("fd00:6e74:6d::2")},
                           {0x000B, ep(4, ip4("198.51.100.7"), 40000)}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_key(AttrType::kTemporalKey), T);
  EXPECT_EQ(m->get_u8(AttrType::kRole), uint8_t(proto::Role::kInitiator));
  EXPECT_EQ(m->get_endpoints(AttrType::kPeerEndpoint).at(0).to_string(), "198.51.100.7:40000");
  EXPECT_FALSE(proto::is_response(m->type));
  auto m2 = check_message("route-direction-responder", ex("route-direction-responder"),
                          {0x05,
                           0x4c3b0002,
                           {{0x0008, be32(0x5a17c0d3)},
                            {0x0009, kb(T)},
                            {0x000A, {2}},
                            {0x0010, str("bob.dc.ntm.test")},
                            {0x0011, ip4("100.64.0.3")},
                            {0x0012, ip6("fd00:6e74:6d::3")},
                            {0x000B, ep(4, ip4("203.0.113.9"), 61001)}}});
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->get_u8(AttrType::kRole), uint8_t(proto::Role::kResponder));
  check_message("route-direction-ack", ex("route-direction-ack"),
                {0x06, 0x4c3b0001, {{0x0008, be32(0x5a17c0d3)}}});
}

TEST_F(ProtocolDoc, TunnelRequestAndResponse) {
  auto req = check_message("tunnel-request", ex("tunnel-request"),
                           {0x07,
                            0x7e570001,
                            {{0x0008, be32(0x5a17c0d3)},
                             {0x000C, kb(derived_key("bob_tunnel_ephemeral_public"))},
                             {0x000D, be32(0xb0b00001)}}});
  auto resp = check_message("tunnel-response", ex("tunnel-response"),
                            {0x08,
                             0x7e570001,
                             {{0x0008, be32(0x5a17c0d3)},
                              {0x000C, kb(derived_key("alice_tunnel_ephemeral_public"))},
                              {0x000D, be32(0xa11c0001)}}});
  ASSERT_TRUE(req && resp);
  EXPECT_FALSE(proto::is_response(req->type));
  EXPECT_TRUE(proto::is_response(resp->type));
  EXPECT_EQ(req->message_id, resp->message_id) << "a response echoes the request's ID";
}

TEST_F(ProtocolDoc, KeepAliveAndAck) {
  auto m = check_message("keep-alive", ex("keep-alive"), {0x09, 0x6d5a0003, {}});
  ASSERT_TRUE(m);
  EXPECT_EQ(ex("keep-alive").size(), 8u) << "header only";
  check_message("keep-alive-ack", ex("keep-alive-ack"),
                {0x0A, 0x6d5a0003, {{0x0006, ep(4, ip4("198.51.100.7"), 40000)}}});
}

TEST_F(ProtocolDoc, Error) {
  auto m = check_message(
      "error", ex("error"),
      {0x0B,
       0x6d5a0004,
       {{0x000E, be16(2)}, {0x000F, str("no node named carol.dc.ntm.test is registered")}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kUnknownFqdn));
  EXPECT_TRUE(proto::is_response(m->type));
  // make_error cuts the text to 200 bytes (§4.4.11).
  auto long_error = proto::make_error(*m, proto::ErrorCode::kInternal, std::string(300, 'x'));
  EXPECT_EQ(long_error.find(AttrType::kErrorText)->value.size(), 200u);
}

TEST_F(ProtocolDoc, DecodeRulesOfSection4_1) {
  Bytes ka = ex("keep-alive");
  ASSERT_EQ(ka.size(), 8u);
  proto::DecodeError err;
  auto decode = [&](const Bytes& b) { return ControlMessage::decode(b, err).has_value(); };
  EXPECT_FALSE(decode(Bytes(ka.begin(), ka.begin() + 7)));
  EXPECT_EQ(err, proto::DecodeError::kTruncated);
  Bytes v = ka;
  v[0] = 2;
  EXPECT_FALSE(decode(v));
  EXPECT_EQ(err, proto::DecodeError::kBadVersion);
  for (uint8_t t : {0x00, 0x0C, 0xFF}) {
    v = ka;
    v[1] = t;
    EXPECT_FALSE(decode(v));
    EXPECT_EQ(err, proto::DecodeError::kUnknownType) << int(t);
  }
  v = ka;
  v[2] = 0xff, v[3] = 0xfe;  // receivers ignore flags
  EXPECT_TRUE(decode(v));
  Bytes partial = ka;
  partial.insert(partial.end(), {0x00, 0x01, 0x00});  // 3 bytes of an attribute header
  EXPECT_FALSE(decode(partial));
  EXPECT_EQ(err, proto::DecodeError::kTruncated);
  Bytes overrun = ka;
  overrun.insert(overrun.end(), {0x00, 0x01, 0x00, 0x05, 'a', 'b'});
  EXPECT_FALSE(decode(overrun));
  EXPECT_EQ(err, proto::DecodeError::kTruncated);
  Bytes unknown = ka;
  unknown.insert(unknown.end(), {0x12, 0x34, 0x00, 0x03, 1, 2, 3});  // unknown type: kept
  auto m = ControlMessage::decode(unknown, err);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->attrs.size(), 1u);
  Bytes many = ka;
  for (int i = 0; i < 64; ++i) many.insert(many.end(), {0x00, 0x01, 0x00, 0x00});
  EXPECT_TRUE(decode(many));
  many.insert(many.end(), {0x00, 0x01, 0x00, 0x00});
  EXPECT_FALSE(decode(many));
  EXPECT_EQ(err, proto::DecodeError::kTooManyAttrs);
  EXPECT_EQ(ControlMessage::kMaxAttributes, 64u);
}

TEST_F(ProtocolDoc, EndpointEncodingOfSection5_1) {
  EXPECT_EQ(hex(ep(4, ip4("198.51.100.7"), 40000)), "049c40c6336407");  // the §5.1 example
  auto e = proto::Endpoint::decode(from_hex("049c40c6336407"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "198.51.100.7:40000");
  EXPECT_FALSE(proto::Endpoint::decode(from_hex("069c40c6336407"))) << "family/length mismatch";
  // Such an attribute passes message decoding and is ignored by the list getter.
  Bytes b = ex("keep-alive");
  for (const char* a : {"000b0007069c40c6336407", "000b0007049c40c6336407"}) {
    Bytes x = from_hex(a);
    b.insert(b.end(), x.begin(), x.end());
  }
  proto::DecodeError err;
  auto m = ControlMessage::decode(b, err);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_endpoints(AttrType::kPeerEndpoint).size(), 1u);
  // IPv4-mapped addresses from a dual-stack socket are sent as family 4.
  sockaddr_in6 s6{};
  s6.sin6_family = AF_INET6;
  s6.sin6_port = htons(40000);
  inet_pton(AF_INET6, "::ffff:198.51.100.7", &s6.sin6_addr);
  auto mapped = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6);
  ASSERT_TRUE(mapped);
  Bytes enc;
  proto::Writer w(enc);
  mapped->encode(w);
  EXPECT_EQ(hex(enc), "049c40c6336407");
}

// ---------------------------------------------------------------------------------------------
// Sealed packets (§2.2, §3.5, §7.4, §7.6, §8).

struct SealedExpect {
  uint8_t type;
  uint32_t receiver;
  uint64_t counter;
};

/// Parses the header, opens the packet with `recv_key` through the real Session, returns the
/// plaintext. Also checks the reference sealing of §2.2 and that AAD and key matter.
Bytes open_sealed(const std::string& name, const Key& recv_key, const SealedExpect& want) {
  SCOPED_TRACE(name);
  Bytes p = ex(name);
  crypto::SealedHeader h;
  EXPECT_TRUE(crypto::parse_sealed_header(p, h));
  if (p.size() < 32) return {};
  EXPECT_EQ(p[0], want.type);
  EXPECT_EQ(p[1] | p[2] | p[3], 0);
  EXPECT_EQ(uint8_t(h.type), want.type);
  EXPECT_EQ(h.receiver_index, want.receiver);
  EXPECT_EQ(h.counter, want.counter);
  Bytes plain(p.size() - 32);
  crypto::Session s(recv_key, recv_key, 0);
  EXPECT_EQ(s.open(h, p, plain.data()), crypto::Session::OpenStatus::kOk)
      << "does not open with the documented key";
  // The same packet again is a replay.
  Bytes again(plain.size());
  EXPECT_EQ(s.open(h, p, again.data()), crypto::Session::OpenStatus::kReplay);
  // Reference: header || AEAD(key, counter as LE nonce, AAD = header, plaintext).
  EXPECT_EQ(hex(reference::seal_packet(want.type, want.receiver, want.counter, recv_key, plain)),
            hex(p));
  // Every header byte is authenticated; so is the key.
  for (size_t off : {0u, 4u, 15u}) {
    Bytes bad = p;
    bad[off] ^= (off == 0 ? 0x07 : 0x01);
    crypto::SealedHeader bh;
    if (!crypto::parse_sealed_header(bad, bh)) continue;
    crypto::Session fresh(recv_key, recv_key, 0);
    EXPECT_EQ(fresh.open(bh, bad, again.data()), crypto::Session::OpenStatus::kAuthFailed) << off;
  }
  Bytes reserved = p;
  reserved[2] = 1;
  EXPECT_FALSE(crypto::parse_sealed_header(reserved, h)) << "non-zero reserved byte";
  EXPECT_FALSE(crypto::parse_sealed_header(ByteView(p).first(31), h)) << "shorter than 32";
  return plain;
}

TEST_F(ProtocolDoc, SealedControlPacketsOpenWithTheSplitKeys) {
  Bytes plain = open_sealed("sealed-control", derived_key("k1_node_to_dc"), {0x03, 0xd0c00001, 0});
  EXPECT_EQ(hex(plain), hex(ex("registration-request")));
  Bytes plain2 =
      open_sealed("sealed-control-from-dc", derived_key("k2_dc_to_node"), {0x03, 0x0a11ce00, 0});
  EXPECT_EQ(hex(plain2), hex(ex("registration-response")));
  // The keys are not interchangeable.
  Bytes p = ex("sealed-control"), out(p.size() - 32);
  crypto::SealedHeader h;
  ASSERT_TRUE(crypto::parse_sealed_header(p, h));
  crypto::Session wrong(derived_key("k2_dc_to_node"), derived_key("k2_dc_to_node"), 0);
  EXPECT_EQ(wrong.open(h, p, out.data()), crypto::Session::OpenStatus::kAuthFailed);
}

TEST_F(ProtocolDoc, TunnelControlPacketsOpenWithKeysFromTheRouteDirectionsTemporalKey) {
  proto::DecodeError err;
  auto rd = ControlMessage::decode(ex("route-direction"), err);
  ASSERT_TRUE(rd);
  Key T = *rd->get_key(AttrType::kTemporalKey);
  uint32_t direction = *rd->get_u32(AttrType::kDirectionId);
  auto responder = crypto::tunnel_control_keys(T, proto::Role::kResponder);
  auto initiator = crypto::tunnel_control_keys(T, proto::Role::kInitiator);
  Bytes req = open_sealed("tunnel-control-request", responder.recv, {0x04, direction, 0});
  EXPECT_EQ(hex(req), hex(ex("tunnel-request")));
  Bytes resp = open_sealed("tunnel-control-response", initiator.recv, {0x04, direction, 0});
  EXPECT_EQ(hex(resp), hex(ex("tunnel-response")));
}

TEST_F(ProtocolDoc, DataPacketOpensWithTheDataKeyAndCarriesThePeersVip) {
  proto::DecodeError err;
  auto rd = ControlMessage::decode(ex("route-direction-responder"), err);  // what alice holds
  auto treq = ControlMessage::decode(ex("tunnel-request"), err);
  auto tresp = ControlMessage::decode(ex("tunnel-response"), err);
  ASSERT_TRUE(rd && treq && tresp);
  Key T = *rd->get_key(AttrType::kTemporalKey);
  Key alice_e = in_key("alice_tunnel_ephemeral_private");
  Key alice_E = crypto::public_key(alice_e);
  EXPECT_EQ(alice_E, *tresp->get_key(AttrType::kEphemeralKey));
  crypto::DirectionalKeys keys;
  ASSERT_TRUE(crypto::tunnel_data_keys(T, proto::Role::kResponder, alice_e, alice_E,
                                       *treq->get_key(AttrType::kEphemeralKey), keys));
  uint32_t alice_tunnel_id = *tresp->get_u32(AttrType::kTunnelId);
  Bytes inner = open_sealed("data", keys.recv, {0x05, alice_tunnel_id, 0x107});
  EXPECT_EQ(hex(inner), hex(hex_blocks("plaintext")["data"]));
  EXPECT_EQ(ex("data").size(), inner.size() + 32) << "overhead 32 bytes";
  // Header counter big-endian, nonce little-endian (§1.4, §2.2).
  EXPECT_EQ(hex(ByteView(ex("data")).subspan(8, 8)), "0000000000000107");
  // Inner IPv4 packet: source = the peer's (bob's) vIP as alice's route direction states it.
  ASSERT_GE(inner.size(), 20u);
  EXPECT_EQ(inner[0] >> 4, 4);
  EXPECT_EQ(hex(ByteView(inner).subspan(12, 4)), hex(*rd->get_fixed<4>(AttrType::kPeerVip4)));
  EXPECT_EQ(hex(ByteView(inner).subspan(16, 4)), hex(ip4("100.64.0.2")));
  EXPECT_EQ(inner.size(), 36u);
}

TEST_F(ProtocolDoc, ReplayWindowOfSection2_3) {
  crypto::ReplayWindow w;
  using V = crypto::ReplayWindow::Verdict;
  EXPECT_EQ(w.check_and_update(10000), V::kAccept);
  EXPECT_EQ(w.check_and_update(10000), V::kReplay);
  EXPECT_EQ(w.check_and_update(10000 - 4032), V::kAccept);
  EXPECT_EQ(w.check_and_update(10000 - 4033), V::kTooOld);
  EXPECT_EQ(w.check_and_update(9999), V::kAccept);
  EXPECT_EQ(w.check_and_update(20000), V::kAccept);
  EXPECT_EQ(w.check_and_update(15000), V::kTooOld);
}

TEST_F(ProtocolDoc, RetransmissionSchedulesOfSection4_2) {
  auto schedule = [](proto::RetransmitPolicy p) {
    std::string s;
    for (uint32_t i = 1; i <= p.max_tries; ++i)
      s += (i > 1 ? "," : "") + std::to_string(p.timeout_ms(i));
    return s;
  };
  EXPECT_EQ(schedule(proto::RetransmitPolicy{}), "200,400,800,1600,2000,2000");
  EXPECT_EQ(schedule({250, 2000, 8}), "250,500,1000,2000,2000,2000,2000,2000");
  EXPECT_EQ(schedule({500, 2000, 4}), "500,1000,2000,2000");
  EXPECT_EQ(schedule({100, 1000, 8}), "100,200,400,800,1000,1000,1000,1000");
  proto::ResponseCache c(2);
  c.insert(7, 1, {1});
  c.insert(7, 2, {2});
  c.insert(8, 1, {3});
  EXPECT_EQ(c.find(7, 1), nullptr) << "oldest evicted first";
  EXPECT_NE(c.find(8, 1), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Tables.

TEST_F(ProtocolDoc, PacketTypeTable) {
  const std::map<uint8_t, std::pair<proto::PacketType, std::string>> want = {
      {0x01, {proto::PacketType::kHandshakeInit, "handshake initiation"}},
      {0x02, {proto::PacketType::kHandshakeResp, "handshake response"}},
      {0x03, {proto::PacketType::kControl, "control"}},
      {0x04, {proto::PacketType::kTunnelControl, "tunnel control"}},
      {0x05, {proto::PacketType::kData, "data"}},
  };
  auto rows = table("packet-types");
  ASSERT_EQ(rows.size(), want.size());
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 4u);
    uint8_t code = uint8_t(std::stoul(r[0], nullptr, 16));
    ASSERT_TRUE(want.count(code)) << r[0];
    EXPECT_EQ(uint8_t(want.at(code).first), code);
    EXPECT_EQ(r[1], want.at(code).second);
  }
  EXPECT_EQ(table("packet-types")[0][3], "exactly " + std::to_string(proto::kHandshakeInitSize));
  EXPECT_EQ(table("packet-types")[1][3], "exactly " + std::to_string(proto::kHandshakeRespSize));
}

TEST_F(ProtocolDoc, MessageTypeTable) {
  auto rows = table("message-types");
  ASSERT_EQ(rows.size(), 11u);
  std::set<int> seen;
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 5u);
    int code = int(std::stoul(r[0], nullptr, 16));
    seen.insert(code);
    auto t = proto::MessageType(code);
    EXPECT_EQ(r[1], proto::to_string(t)) << r[0];
    EXPECT_EQ(r[4] == "response", proto::is_response(t)) << r[0];
    EXPECT_TRUE(r[4] == "response" || r[4] == "request") << r[0];
    EXPECT_EQ(r[3], (code == 0x07 || code == 0x08) ? "0x04" : "0x03") << r[0];
  }
  EXPECT_EQ(seen.size(), 11u);
  EXPECT_EQ(*seen.begin(), 0x01);
  EXPECT_EQ(*seen.rbegin(), 0x0B);
}

TEST_F(ProtocolDoc, AttributeTable) {
  const std::map<uint16_t, std::pair<AttrType, std::string>> want = {
      {0x0001, {AttrType::kNodeName, "NodeName"}},
      {0x0002, {AttrType::kFqdn, "Fqdn"}},
      {0x0003, {AttrType::kVip4, "Vip4"}},
      {0x0004, {AttrType::kVip6, "Vip6"}},
      {0x0005, {AttrType::kRealAddress, "RealAddress"}},
      {0x0006, {AttrType::kNatAddress, "NatAddress"}},
      {0x0007, {AttrType::kLifetime, "Lifetime"}},
      {0x0008, {AttrType::kDirectionId, "DirectionId"}},
      {0x0009, {AttrType::kTemporalKey, "TemporalKey"}},
      {0x000A, {AttrType::kRole, "Role"}},
      {0x000B, {AttrType::kPeerEndpoint, "PeerEndpoint"}},
      {0x000C, {AttrType::kEphemeralKey, "EphemeralKey"}},
      {0x000D, {AttrType::kTunnelId, "TunnelId"}},
      {0x000E, {AttrType::kErrorCode, "ErrorCode"}},
      {0x000F, {AttrType::kErrorText, "ErrorText"}},
      {0x0010, {AttrType::kPeerFqdn, "PeerFqdn"}},
      {0x0011, {AttrType::kPeerVip4, "PeerVip4"}},
      {0x0012, {AttrType::kPeerVip6, "PeerVip6"}},
  };
  auto rows = table("attributes");
  ASSERT_EQ(rows.size(), want.size());
  auto accepts = [](uint16_t type, size_t len) {
    Bytes b = {
        1,           0x09, 0, 0, 0, 0, 0, 0, uint8_t(type >> 8), uint8_t(type), uint8_t(len >> 8),
        uint8_t(len)};
    b.resize(b.size() + len, 0x04);  // 0x04: an endpoint family byte, harmless elsewhere
    proto::DecodeError err;
    bool ok = ControlMessage::decode(b, err).has_value();
    if (!ok) {
      EXPECT_EQ(err, proto::DecodeError::kBadAttrLength);
    }
    return ok;
  };
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 3u);
    uint16_t code = uint16_t(std::stoul(r[0], nullptr, 16));
    ASSERT_TRUE(want.count(code)) << r[0];
    EXPECT_EQ(uint16_t(want.at(code).first), code) << r[1];
    EXPECT_EQ(r[1], want.at(code).second);
    EXPECT_EQ(r[1], attr_name(code));
    const std::string& rule = r[2];
    SCOPED_TRACE(r[1] + ": " + rule);
    if (rule.rfind("exactly ", 0) == 0) {
      size_t n = std::stoul(rule.substr(8));
      EXPECT_TRUE(accepts(code, n));
      EXPECT_FALSE(accepts(code, n + 1));
      EXPECT_FALSE(accepts(code, n - 1));
    } else if (rule == "7 or 19") {
      EXPECT_TRUE(accepts(code, 7));
      EXPECT_TRUE(accepts(code, 19));
      EXPECT_FALSE(accepts(code, 8));
      EXPECT_FALSE(accepts(code, 0));
    } else {
      EXPECT_EQ(rule, "any");
      EXPECT_TRUE(accepts(code, 0));
      EXPECT_TRUE(accepts(code, 1));
      EXPECT_TRUE(accepts(code, 300));
    }
  }
}

TEST_F(ProtocolDoc, ErrorCodeTable) {
  auto rows = table("error-codes");
  ASSERT_EQ(rows.size(), 8u);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_GE(rows[i].size(), 2u);
    EXPECT_EQ(std::stoi(rows[i][0]), int(i + 1));
    EXPECT_EQ(rows[i][1], proto::to_string(proto::ErrorCode(i + 1)));
  }
  EXPECT_STREQ(proto::to_string(proto::ErrorCode(9)), "unknown error") << "new code: document it";
}

TEST_F(ProtocolDoc, ConstantsTable) {
  const std::map<std::string, uint64_t> code = {
      {"proto::kProtocolVersion", proto::kProtocolVersion},
      {"proto::kKeySize", proto::kKeySize},
      {"proto::kTagSize", proto::kTagSize},
      {"proto::kSealedHeaderSize", proto::kSealedHeaderSize},
      {"proto::kSealedOverhead", proto::kSealedOverhead},
      {"proto::kControlHeaderSize", proto::kControlHeaderSize},
      {"proto::kAttrHeaderSize", proto::kAttrHeaderSize},
      {"proto::kHandshakeInitSize", proto::kHandshakeInitSize},
      {"proto::kHandshakeRespSize", proto::kHandshakeRespSize},
      {"proto::kMaxDatagram", proto::kMaxDatagram},
      {"proto::kTunnelMtu", proto::kTunnelMtu},
      {"proto::kFlagRetransmission", proto::kFlagRetransmission},
      {"proto::ControlMessage::kMaxAttributes", ControlMessage::kMaxAttributes},
      {"crypto::ReplayWindow::kBits", crypto::ReplayWindow::kBits},
      {"crypto::ReplayWindow::kWindowSize", crypto::ReplayWindow::kWindowSize},
      {"crypto::Session::kRekeyAfterMessages", crypto::Session::kRekeyAfterMessages},
      {"crypto::Session::kRejectAfterMessages", crypto::Session::kRejectAfterMessages},
  };
  auto rows = table("constants");
  std::set<std::string> seen;
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 2u);
    ASSERT_TRUE(code.count(r[0])) << "unknown constant " << r[0];
    seen.insert(r[0]);
    EXPECT_EQ(std::stoull(r[1], nullptr, 0), code.at(r[0])) << r[0];
  }
  EXPECT_EQ(seen.size(), code.size());
}

}  // namespace
}  // namespace ntm::protocol_doc
