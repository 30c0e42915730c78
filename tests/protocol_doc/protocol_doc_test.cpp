// docs/protocol.md against the code.
//
// - Every ```hex example=NAME block is decoded with the real parsers (ControlMessage::decode,
//   parse_sealed_header, Session::open, HandshakeResponder) and its fields are compared with
//   what the document states about it (the literal values below mirror §10's captions).
// - The expected example names are listed here: a missing, duplicated or unknown example fails.
// - The examples must equal what the library's encoders produce today from the documented
//   inputs (so a changed encoder fails even when the parsers still accept the old bytes).
// - An independent implementation of §2, §3 (handshake, MACs, cookies), §7 (tunnel handshake,
//   keys) and §8 (reference.cpp, libsodium only) must reproduce the documented bytes, keys and
//   handshake traces.
// - The real parsers and state machines that can be driven without sockets
//   (HandshakeResponder, CookieChecker/CookieGenerator, TunnelHandshake, Session,
//   ReplayWindow, ResponseCache, the DC's rate limiters) behave as the text says.
// - The tables marked <!-- table:... --> must match the code's enums and constants.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/rate_limiter.h"
#include "common/server_cert.h"
#include "crypto/anti_replay.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/relay_auth.h"
#include "crypto/session.h"
#include "crypto/tunnel_handshake.h"
#include "dc/dc_config.h"
#include "dc/dc_server.h"
#include "examples.h"
#include "packet/tunnel_table.h"
#include "proto/control_message.h"
#include "proto/messages.h"
#include "proto/relay.h"
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
/// A Candidate attribute's value: kind, then the endpoint.
Bytes cand(uint8_t kind, Bytes endpoint) {
  endpoint.insert(endpoint.begin(), kind);
  return endpoint;
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

crypto::Mac mac_of(const std::string& hexstr) {
  crypto::Mac m{};
  Bytes b = from_hex(hexstr);
  EXPECT_EQ(b.size(), 16u) << hexstr;
  std::copy_n(b.begin(), std::min<size_t>(16, b.size()), m.begin());
  return m;
}
crypto::Mac mac_at(const Bytes& b, size_t off) {
  crypto::Mac m{};
  if (b.size() >= off + 16) std::copy_n(b.begin() + off, 16, m.begin());
  return m;
}
Bytes with_zero_macs(Bytes msg1) {
  if (msg1.size() == proto::kHandshakeInitSize)
    std::fill(msg1.begin() + crypto::kMac1Offset, msg1.end(), 0);
  return msg1;
}
proto::Endpoint endpoint(const char* text) {
  auto e = proto::Endpoint::parse(text);
  EXPECT_TRUE(e) << text;
  return e.value_or(proto::Endpoint());
}

const std::vector<std::string> kExpectedExamples = {
    "handshake-init",
    "handshake-resp",
    "cookie-reply",
    "handshake-init-retry",
    "registration-request",
    "handshake-init-early",
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
    "path-challenge",
    "path-response",
    "sealed-control",
    "sealed-control-from-dc",
    "tunnel-handshake-request",
    "tunnel-handshake-response",
    "tunnel-message",
    "data",
    "route-direction-relayed",
    "relay-bind",
    "relay-bind-ack",
    "relay-data",
    "punch",
    "relay-status-request",
    "relay-status",
    "relay-notice",
};
/// The examples that are control-message plaintexts (the rest are whole UDP payloads).
const std::set<std::string> kControlExamples = {
    "registration-request",    "handshake-init-early",
    "registration-response",   "direction-request",
    "direction-request-vip4",  "direction-response",
    "route-direction",         "route-direction-responder",
    "route-direction-ack",     "tunnel-request",
    "tunnel-response",         "keep-alive",
    "keep-alive-ack",          "error",
    "path-challenge",          "path-response",
    "route-direction-relayed",
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
  for (auto& n : kControlExamples) {
    Bytes b = ex(n);
    if (b.size() >= 8) types.insert(b[1]);
  }
  for (uint8_t t = 0x01; t <= 0x0D; ++t)
    EXPECT_TRUE(types.count(t)) << "no example of message type " << int(t);
  // Every packet type has an example of its own.
  std::set<uint8_t> packets;
  for (auto& [n, b] : examples())
    if (!kControlExamples.count(n) && !b.empty()) packets.insert(b[0]);
  for (uint8_t t = 0x01; t <= 0x0D; ++t)
    EXPECT_TRUE(packets.count(t)) << "no example of packet type " << int(t);
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
  EXPECT_EQ(plain.size(), 2u);
}

TEST_F(ProtocolDoc, DocumentedInputsAndDerivedValuesAreTheGeneratorsAndTheLibrarys) {
  EXPECT_EQ(doc_inputs(), input_values());
  EXPECT_EQ(doc_derived(), derived_values());
}

// ---------------------------------------------------------------------------------------------
// Key derivations: library, reference and document agree.

TEST_F(ProtocolDoc, PublicKeysFollowFromTheDocumentedInputs) {
  for (auto [priv, pub] : std::vector<std::pair<const char*, const char*>>{
           {"alice_static_private", "alice_static_public"},
           {"bob_static_private", "bob_static_public"},
           {"dc_static_private", "dc_static_public"},
           {"alice_handshake_ephemeral_private", "alice_handshake_ephemeral_public"},
           {"alice_handshake_ephemeral_retry_private", "alice_handshake_ephemeral_retry_public"},
           {"dc_handshake_ephemeral_private", "dc_handshake_ephemeral_public"},
           {"bob_tunnel_ephemeral_private", "bob_tunnel_ephemeral_public"},
           {"alice_tunnel_ephemeral_private", "alice_tunnel_ephemeral_public"}}) {
    EXPECT_EQ(crypto::public_key(in_key(priv)), derived_key(pub)) << pub;
    EXPECT_EQ(reference::x25519_public(in_key(priv)), derived_key(pub)) << pub;
  }
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
  Bytes m1 = ex("handshake-init");
  ASSERT_EQ(m1.size(), 148u);
  EXPECT_EQ(hex(ref.msg1), hex(ByteView(m1).first(116))) << "the Noise part: bytes 0..115";
  EXPECT_EQ(hex(ref.msg2), hex(ex("handshake-resp")));
  EXPECT_EQ(ref.k1, derived_key("k1_node_to_dc"));
  EXPECT_EQ(ref.k2, derived_key("k2_dc_to_node"));
  // The retry: same index, its own ephemeral key and timestamp.
  auto ts2 = from_hex(kv(doc_inputs(), "handshake_timestamp_retry"));
  auto ref2 = reference::handshake(in_key("alice_static_private"), in_key("dc_static_private"),
                                   in_key("alice_handshake_ephemeral_retry_private"),
                                   in_key("dc_handshake_ephemeral_private"),
                                   uint32_t(num_of(kv(doc_inputs(), "alice_index"))),
                                   uint32_t(num_of(kv(doc_inputs(), "dc_index"))), ts2);
  EXPECT_EQ(hex(ref2.msg1), hex(ByteView(ex("handshake-init-retry")).first(116)));
}

TEST_F(ProtocolDoc, TunnelHandshakeTraceKeysAndRekeySecretMatchTheReferenceImplementation) {
  uint32_t direction = uint32_t(num_of(kv(doc_inputs(), "direction_id")));
  auto ref = reference::tunnel_handshake(
      in_key("bob_static_private"), in_key("alice_static_private"),
      in_key("bob_tunnel_ephemeral_private"), in_key("alice_tunnel_ephemeral_private"),
      in_key("temporal_key"), direction, ex("tunnel-request"), ex("tunnel-response"));
  auto trace = key_values("tunnel-handshake-trace");
  ASSERT_EQ(trace.size(), ref.trace.size());
  for (size_t i = 0; i < trace.size(); ++i) {
    EXPECT_EQ(trace[i].first, ref.trace[i].first);
    EXPECT_EQ(trace[i].second, hex(ref.trace[i].second)) << trace[i].first;
  }
  // The protocol name is 36 bytes, longer than HASHLEN: h = SHA-256(name) (Noise §5.2).
  Key name_hash;
  crypto_hash_sha256(name_hash.data(),
                     reinterpret_cast<const uint8_t*>("Noise_KKpsk0_25519_ChaChaPoly_SHA256"), 36);
  EXPECT_EQ(ref.trace.front().second, name_hash);
  EXPECT_EQ(hex(ref.msg1), hex(ex("tunnel-handshake-request")));
  EXPECT_EQ(hex(ref.msg2), hex(ex("tunnel-handshake-response")));
  EXPECT_EQ(ref.k1, derived_key("data_i2r"));
  EXPECT_EQ(ref.k2, derived_key("data_r2i"));
  EXPECT_EQ(ref.rekey_secret, derived_key("rekey_secret"));
}

// ---------------------------------------------------------------------------------------------
// Node ⇄ DC handshake (§3).

TEST_F(ProtocolDoc, HandshakeInitDecodesWithTheRealResponder) {
  Bytes m = ex("handshake-init");
  ASSERT_EQ(m.size(), 148u);
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
  // Any change to a byte the transcript covers is rejected; mac1 and mac2 are outside it.
  for (size_t off : {8u, 40u, 87u, 88u, 115u}) {
    Bytes bad = m;
    bad[off] ^= 1;
    EXPECT_FALSE(dc.consume_init(bad, 1, response)) << "flipped byte " << off;
  }
  for (size_t off : {116u, 131u, 132u, 147u}) {
    Bytes other = m;
    other[off] ^= 1;
    EXPECT_TRUE(dc.consume_init(other, 1, response)) << "byte " << off << " is not Noise's";
  }
  for (size_t size : {116u, 147u, 149u}) {
    Bytes wrong_size = m;
    wrong_size.resize(size);
    EXPECT_FALSE(dc.consume_init(wrong_size, 1, response)) << size;
  }
  // The retry authenticates too, and its timestamp is newer (§3.4: strictly greater).
  auto r2 = dc.consume_init(ex("handshake-init-retry"), 2, response);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->remote_static, r->remote_static);
  EXPECT_TRUE(r->timestamp < r2->timestamp);
}

TEST_F(ProtocolDoc, HandshakeInitWithEarlyDataCarriesTheRegistrationRequest) {
  // §3.2 and §10: the 148 bytes of message 1 unchanged, the registration request behind them.
  Bytes m = ex("handshake-init-early"), reg = ex("registration-request");
  ASSERT_EQ(m.size(), 148u + reg.size() + 16u);
  EXPECT_EQ(hex(ByteView(m).first(148)), hex(ex("handshake-init")));
  crypto::CookieChecker macs(derived_key("dc_static_public"));
  EXPECT_TRUE(macs.check_mac1(m)) << "mac1 as in message 1 without early data";
  crypto::HandshakeResponder dc(in_key("dc_static_private"));
  Bytes response;
  auto r = dc.consume_init(m, 1, response);
  ASSERT_TRUE(r);
  EXPECT_EQ(hex(r->early), hex(reg));
  EXPECT_NE(hex(response), hex(ex("handshake-resp"))) << "h covers the early data";
}

TEST_F(ProtocolDoc, HandshakeRespAuthenticatesAgainstTheDocumentedInitiatorState) {
  Bytes m1 = ex("handshake-init"), m2 = ex("handshake-resp");
  ASSERT_EQ(m1.size(), 148u);
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
  EXPECT_EQ(hex(ByteView(m1).subspan(116)), std::string(64, '0'))
      << "create_init leaves mac1 and mac2 zero for CookieGenerator::add_macs";
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
  EXPECT_FALSE(ini.consume_response(m2)) << "a second message 2 for one message 1";
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
// MACs and cookies (§3.8).

TEST_F(ProtocolDoc, MacKeysAndMac1FollowTheText) {
  Key dc_pub = derived_key("dc_static_public");
  EXPECT_EQ(reference::label_key("mac1----", dc_pub), derived_key("mac1_key"));
  EXPECT_EQ(reference::label_key("cookie--", dc_pub), derived_key("cookie_key"));
  crypto::CookieChecker dc(dc_pub);
  for (const char* name : {"handshake-init", "handshake-init-retry"}) {
    SCOPED_TRACE(name);
    Bytes m = ex(name);
    ASSERT_EQ(m.size(), 148u);
    EXPECT_EQ(reference::mac1(dc_pub, m), mac_at(m, 116));
    EXPECT_EQ(reference::mac(derived_key("mac1_key"), ByteView(m).first(116)), mac_at(m, 116));
    EXPECT_TRUE(dc.check_mac1(m)) << "the DC's real check accepts the documented mac1";
    for (size_t off : {0u, 8u, 115u, 116u, 131u}) {
      Bytes bad = m;
      bad[off] ^= 1;
      EXPECT_FALSE(dc.check_mac1(bad)) << "flipped byte " << off;
    }
    Bytes other_mac2 = m;
    other_mac2[140] ^= 1;
    EXPECT_TRUE(dc.check_mac1(other_mac2)) << "mac1 does not cover mac2";
    EXPECT_FALSE(dc.check_mac1(ByteView(m).first(147)));
  }
  // A DC with another static key rejects it: mac1 proves knowledge of S_dc.
  crypto::CookieChecker other(crypto::public_key(in_key("alice_static_private")));
  EXPECT_FALSE(other.check_mac1(ex("handshake-init")));
}

TEST_F(ProtocolDoc, CookieReplyAndMac2FollowTheText) {
  Key dc_pub = derived_key("dc_static_public");
  Bytes init = ex("handshake-init"), reply = ex("cookie-reply"), retry = ex("handshake-init-retry");
  ASSERT_EQ(reply.size(), 64u);
  EXPECT_EQ(reply[0], 0x06);
  EXPECT_EQ(reply[1] | reply[2] | reply[3], 0);
  EXPECT_EQ(proto::get_u32(&reply[4]), proto::get_u32(&init[4])) << "receiver = sender index";
  EXPECT_EQ(hex(ByteView(reply).subspan(8, 24)), kv(doc_inputs(), "cookie_nonce"));
  // cookie = MAC(R, address || port BE) for 198.51.100.7:40000.
  EXPECT_EQ(kv(doc_inputs(), "alice_source"), "198.51.100.7:40000");
  crypto::Mac cookie = reference::cookie(in_key("cookie_secret"), ip4("198.51.100.7"), 40000);
  EXPECT_EQ(cookie, mac_of(kv(doc_derived(), "cookie")));
  EXPECT_EQ(hex(reference::cookie_reply(dc_pub, 0x0a11ce00, mac_at(init, 116),
                                        ByteView(reply).subspan(8, 24), cookie)),
            hex(reply));
  crypto::Mac opened{};
  ASSERT_TRUE(reference::open_cookie_reply(dc_pub, mac_at(init, 116), reply, opened));
  EXPECT_EQ(opened, cookie);
  EXPECT_FALSE(reference::open_cookie_reply(dc_pub, mac_at(retry, 116), reply, opened))
      << "the reply is bound to the mac1 of the message it answers";
  EXPECT_EQ(reference::mac2(cookie, retry), mac_at(retry, 132));

  // The node's real code: mac1 on send, the reply consumed, mac2 on the retry.
  crypto::CookieGenerator node(dc_pub);
  EXPECT_FALSE(node.consume_reply(reply)) << "nothing sent yet";
  Bytes m = with_zero_macs(init);
  node.add_macs(m);
  EXPECT_EQ(hex(m), hex(init));
  EXPECT_FALSE(node.has_cookie());
  for (size_t off : {1u, 8u, 32u, 63u}) {
    Bytes bad = reply;
    bad[off] ^= 1;
    EXPECT_FALSE(node.consume_reply(bad)) << "flipped byte " << off;
  }
  EXPECT_FALSE(node.consume_reply(ByteView(reply).first(63)));
  ASSERT_TRUE(node.consume_reply(reply));
  EXPECT_TRUE(node.has_cookie());
  Bytes r = with_zero_macs(retry);
  node.add_macs(r);
  EXPECT_EQ(hex(r), hex(retry)) << "mac1 and mac2 of the retry";
}

TEST_F(ProtocolDoc, LiveCookieRoundTripProvesTheSourceAddress) {
  Key dc_pub = derived_key("dc_static_public");
  crypto::CookieChecker dc(dc_pub);
  crypto::CookieGenerator node(dc_pub);
  auto from = endpoint("198.51.100.7:40000");
  Bytes m1 = with_zero_macs(ex("handshake-init"));
  node.add_macs(m1);
  EXPECT_FALSE(dc.check_mac2(m1, from)) << "a zero mac2";
  Bytes reply = dc.create_reply(m1, from);
  ASSERT_EQ(reply.size(), crypto::kCookieReplySize);
  EXPECT_EQ(reply[0], 0x06);
  EXPECT_EQ(reply[1] | reply[2] | reply[3], 0);
  EXPECT_EQ(proto::get_u32(&reply[4]), 0x0a11ce00u);
  ASSERT_TRUE(node.consume_reply(reply));
  Bytes m2 = with_zero_macs(ex("handshake-init-retry"));
  node.add_macs(m2);
  EXPECT_TRUE(dc.check_mac1(m2));
  EXPECT_TRUE(dc.check_mac2(m2, from));
  EXPECT_FALSE(dc.check_mac2(m2, endpoint("198.51.100.7:40001"))) << "another port";
  EXPECT_FALSE(dc.check_mac2(m2, endpoint("198.51.100.8:40000"))) << "another address";
  Bytes bad = m2;
  bad[20] ^= 1;
  EXPECT_FALSE(dc.check_mac2(bad, from)) << "mac2 covers bytes 0..131";
}

TEST_F(ProtocolDoc, HandshakeRateLimiterKeysOnIpv4AddressesAndIpv6Slash64) {
  auto t0 = server::Clock::now();
  server::SourceRateLimiter limiter(1, 2);  // 1 per second, burst 2
  auto a = endpoint("198.51.100.7:1"), a_other_port = endpoint("198.51.100.7:2");
  EXPECT_TRUE(limiter.allow(a, t0));
  EXPECT_TRUE(limiter.allow(a_other_port, t0)) << "one bucket per address, any port";
  EXPECT_FALSE(limiter.allow(a, t0));
  EXPECT_TRUE(limiter.allow(endpoint("198.51.100.8:1"), t0)) << "another IPv4 address";
  EXPECT_TRUE(limiter.allow(a, t0 + std::chrono::seconds(1))) << "refilled at `rate`";
  EXPECT_TRUE(limiter.allow(endpoint("[2001:db8:1:2::1]:1"), t0));
  EXPECT_TRUE(limiter.allow(endpoint("[2001:db8:1:2:ffff::9]:7"), t0));
  EXPECT_FALSE(limiter.allow(endpoint("[2001:db8:1:2::3]:1"), t0)) << "same /64";
  EXPECT_TRUE(limiter.allow(endpoint("[2001:db8:1:3::1]:1"), t0)) << "another /64";
  server::TokenBucket per_node(10, 20);
  int allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += per_node.allow(t0);
  EXPECT_EQ(allowed, 20) << "a burst of `burst`";
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
                           {0x0008, be32(0x5a17c0d3)},
                           {0x0013, kb(derived_key("bob_static_public"))}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_u32(AttrType::kDirectionId), 0x5a17c0d3u);
  EXPECT_EQ(m->get_key(AttrType::kPeerStaticKey), derived_key("bob_static_public"));
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
                           {0x0013, kb(derived_key("alice_static_public"))},
                           {0x0011, ip4("100.64.0.2")},
                           {0x0012, ip6("fd00:6e74:6d::2")},
                           {0x0016, cand(2, ep(4, ip4("198.51.100.7"), 40000))}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_key(AttrType::kTemporalKey), T);
  EXPECT_EQ(m->get_u8(AttrType::kRole), uint8_t(proto::Role::kInitiator));
  EXPECT_EQ(m->get_candidates().at(0).endpoint.to_string(), "198.51.100.7:40000");
  EXPECT_EQ(m->get_candidates().at(0).kind, proto::CandidateKind::kPublic);
  EXPECT_FALSE(proto::is_response(m->type));
  auto m2 = check_message("route-direction-responder", ex("route-direction-responder"),
                          {0x05,
                           0x4c3b0002,
                           {{0x0008, be32(0x5a17c0d3)},
                            {0x0009, kb(T)},
                            {0x000A, {2}},
                            {0x0010, str("bob.dc.ntm.test")},
                            {0x0013, kb(derived_key("bob_static_public"))},
                            {0x0011, ip4("100.64.0.3")},
                            {0x0012, ip6("fd00:6e74:6d::3")},
                            {0x0016, cand(3, ep(4, ip4("203.0.113.9"), 61001))}}});
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->get_u8(AttrType::kRole), uint8_t(proto::Role::kResponder));
  // Each node is told the other's identity: the key its tunnel handshake will demand.
  EXPECT_EQ(m->get_key(AttrType::kPeerStaticKey), derived_key("alice_static_public"));
  EXPECT_EQ(m2->get_key(AttrType::kPeerStaticKey), derived_key("bob_static_public"));
  check_message("route-direction-ack", ex("route-direction-ack"),
                {0x06, 0x4c3b0001, {{0x0008, be32(0x5a17c0d3)}}});
}

// ---------------------------------------------------------------------------------------------
// §7.9 and §12: path candidates, relays, punches.

/// §12.3 written out with libsodium only: KDF(key, label, data) = BLAKE2b-256 keyed with `key`
/// over label ‖ data.
Key ref_kdf(const Key& key, const std::string& label, ByteView data = {}) {
  Bytes in(label.begin(), label.end());
  in.insert(in.end(), data.begin(), data.end());
  Key out;
  crypto_generichash(out.data(), out.size(), in.data(), in.size(), key.data(), key.size());
  return out;
}
/// The last 16 bytes of `d` are MAC(key, the rest) (keyed BLAKE2b, 16-byte output).
bool ref_mac_ok(ByteView d, const Key& key) {
  if (d.size() < 16) return false;
  auto m = reference::mac(ByteView(key.data(), key.size()), d.first(d.size() - 16));
  return std::equal(m.begin(), m.end(), d.end() - 16);
}

TEST_F(ProtocolDoc, RelayKeysFollowTheText) {
  Key K = in_key("relay_key");
  EXPECT_EQ(ref_kdf(K, "ntm relay ticket"), derived_key("relay_ticket_key"));
  EXPECT_EQ(ref_kdf(K, "ntm relay status"), derived_key("relay_status_key"));
  Bytes ticket = example_relay_ticket();
  for (uint8_t side : {1, 2}) {
    Bytes in = {side};
    in.insert(in.end(), ticket.begin(), ticket.end());
    EXPECT_EQ(ref_kdf(K, "ntm relay side", in),
              derived_key(side == 1 ? "relay_side_key_1" : "relay_side_key_2"));
  }
  uint8_t id[4];
  proto::put_u32(id, 0x5a17c0d3);
  EXPECT_EQ(ref_kdf(in_key("temporal_key"), "ntm punch", ByteView(id, 4)),
            derived_key("punch_key"));
}

TEST_F(ProtocolDoc, RouteDirectionWithCandidatesAndARelay) {
  Bytes b = ex("route-direction-relayed");
  proto::DecodeError err;
  auto m = ControlMessage::decode(b, err);
  ASSERT_TRUE(m) << proto::to_string(err);
  EXPECT_EQ(m->type, proto::MessageType::kRouteDirection);
  auto c = m->get_candidates();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].kind, proto::CandidateKind::kLan);
  EXPECT_EQ(c[0].endpoint.to_string(), "192.168.1.20:40000");
  EXPECT_EQ(c[1].kind, proto::CandidateKind::kMapped);
  EXPECT_EQ(c[1].endpoint.to_string(), "198.51.100.7:40000");
  // The candidate attribute's value: kind (u8) then the §5.1 endpoint: 8 bytes for IPv4.
  for (auto& a : m->attrs)
    if (a.type == AttrType::kCandidate) {
      EXPECT_EQ(a.value.size(), 8u);
    }
  EXPECT_EQ(m->get_endpoint(AttrType::kRelayEndpoint)->to_string(), "192.0.2.20:7300");
  EXPECT_EQ(m->get_key(AttrType::kRelayKey), derived_key("relay_side_key_1"));
  EXPECT_EQ(m->get_u8(AttrType::kRelaySide), 1);
  auto* t = m->find(AttrType::kRelayTicket);
  ASSERT_TRUE(t);
  proto::RelayTicket ticket;
  ASSERT_TRUE(proto::RelayTicket::decode(t->value, ticket));
  EXPECT_EQ(ticket.session_id, 0x5e55a001u);
  EXPECT_EQ(ticket.expiry, 1767312000u);
  EXPECT_EQ(Key(ticket.identity_a), derived_key("bob_static_public"));
  EXPECT_EQ(Key(ticket.identity_b), derived_key("alice_static_public"));
  EXPECT_TRUE(ref_mac_ok(t->value, derived_key("relay_ticket_key")));
  EXPECT_TRUE(crypto::RelayKeys(in_key("relay_key")).verify_ticket(t->value));
}

TEST_F(ProtocolDoc, RelayBindAckDataNoticeAndPunch) {
  Bytes bind = ex("relay-bind");
  proto::RelayBind b;
  ASSERT_TRUE(proto::parse_relay_bind(bind, b));
  EXPECT_EQ(bind.size(), 116u);
  EXPECT_EQ(b.side, 1);
  EXPECT_EQ(b.counter, 1u);
  EXPECT_EQ(b.ticket.session_id, 0x5e55a001u);
  EXPECT_TRUE(ref_mac_ok(bind, derived_key("relay_side_key_1")));
  EXPECT_FALSE(ref_mac_ok(bind, derived_key("relay_side_key_2")));  // side keys differ
  EXPECT_TRUE(crypto::verify_relay_bind(bind, derived_key("relay_side_key_1")));

  Bytes ack = ex("relay-bind-ack");
  proto::RelayBindAck a;
  ASSERT_TRUE(proto::parse_relay_bind_ack(ack, a));
  EXPECT_EQ(a.side, 1);
  EXPECT_EQ(a.session_id, 0x5e55a001u);
  EXPECT_EQ(a.counter, 1u);
  EXPECT_TRUE(ref_mac_ok(ack, derived_key("relay_side_key_1")));

  Bytes data = ex("relay-data");
  uint32_t session = 0;
  ByteView inner;
  ASSERT_TRUE(proto::parse_relay_header(data, session, inner));
  EXPECT_EQ(session, 0x5e55a001u);
  EXPECT_EQ(hex(inner), hex(ex("data")));  // the tunnel packet, unchanged

  Bytes notice = ex("relay-notice");
  ASSERT_TRUE(proto::parse_relay_notice(notice, session));
  EXPECT_EQ(session, 0x5e55a001u);

  Bytes punch = ex("punch");
  proto::Punch p;
  ASSERT_TRUE(proto::parse_punch(punch, p));
  EXPECT_EQ(p.direction_id, 0x5a17c0d3u);
  EXPECT_EQ(p.counter, 3u);
  EXPECT_TRUE(ref_mac_ok(punch, derived_key("punch_key")));

  // Reserved bytes must be zero; sizes are exact.
  for (Bytes* d : {&bind, &ack, &punch, &notice}) {
    Bytes bad = *d;
    bad[2] = 1;
    proto::RelayBind b2;
    proto::RelayBindAck a2;
    proto::Punch p2;
    uint32_t s2;
    EXPECT_FALSE(proto::parse_relay_bind(bad, b2) || proto::parse_relay_bind_ack(bad, a2) ||
                 proto::parse_punch(bad, p2) || proto::parse_relay_notice(bad, s2));
    bad = *d;
    bad.push_back(0);
    EXPECT_FALSE(proto::parse_relay_bind(bad, b2) || proto::parse_relay_bind_ack(bad, a2) ||
                 proto::parse_punch(bad, p2) || proto::parse_relay_notice(bad, s2));
  }
}

TEST_F(ProtocolDoc, RelayStatusRequestAndStatus) {
  Key status_key = derived_key("relay_status_key");
  Bytes req = ex("relay-status-request");
  proto::RelayStatusRequest r;
  ASSERT_TRUE(proto::parse_relay_status_request(req, r));
  EXPECT_EQ(r.sequence, 0x11u);
  EXPECT_TRUE(ref_mac_ok(req, status_key));
  Bytes st = ex("relay-status");
  proto::RelayStatus s;
  ASSERT_TRUE(proto::parse_relay_status(st, s));
  EXPECT_EQ(s.sequence, 0x11u);
  EXPECT_EQ(s.sessions, 12u);
  EXPECT_EQ(s.packets, 123456u);
  EXPECT_TRUE(ref_mac_ok(st, status_key));
  crypto::RelayKeys keys(in_key("relay_key"));
  EXPECT_TRUE(keys.verify_status_request(req));
  EXPECT_TRUE(keys.verify_status(st));
}

TEST_F(ProtocolDoc, TunnelRequestAndResponsePayloads) {
  auto req = check_message("tunnel-request", ex("tunnel-request"),
                           {0x07, 0x7e570001, {{0x000D, be32(0xb0b00001)}, {0x0015, be32(0)}}});
  auto resp = check_message("tunnel-response", ex("tunnel-response"),
                            {0x08, 0x7e570001, {{0x000D, be32(0xa11c0001)}, {0x0015, be32(0)}}});
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

TEST_F(ProtocolDoc, PathChallengeAndResponse) {
  Bytes token = from_hex(kv(doc_inputs(), "dc_path_token"));
  auto c =
      check_message("path-challenge", ex("path-challenge"), {0x0C, 0x4c3b0003, {{0x0014, token}}});
  auto r =
      check_message("path-response", ex("path-response"), {0x0D, 0x4c3b0003, {{0x0014, token}}});
  ASSERT_TRUE(c && r);
  EXPECT_FALSE(proto::is_response(c->type)) << "the DC's request";
  EXPECT_TRUE(proto::is_response(r->type));
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
  for (uint8_t t : {0x00, 0x10, 0xFF}) {
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
  // 0x000C (once EphemeralKey) is unused: like an unknown type, any length passes.
  for (size_t len : {0u, 5u, 32u}) {
    Bytes old = ka;
    old.insert(old.end(), {0x00, 0x0C, 0x00, uint8_t(len)});
    old.resize(old.size() + len, 0xee);
    EXPECT_TRUE(decode(old)) << len;
  }
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
// ---------------------------------------------------------------------------------------------
// Sealed packets (§2.2, §3.5, §8).

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

// ---------------------------------------------------------------------------------------------
// Tunnel handshake (§7.4-7.6).

crypto::TunnelHandshakeParams alice_params(const Key& psk) {
  // What alice holds after her route direction (§10.12): T, bob's static key, the direction ID.
  proto::DecodeError err;
  auto rd = ControlMessage::decode(ex("route-direction-responder"), err);
  crypto::TunnelHandshakeParams p;
  p.local_static_private = in_key("alice_static_private");
  if (rd) {
    p.peer_static_public = rd->get_key(AttrType::kPeerStaticKey).value_or(Key{});
    p.direction_id = rd->get_u32(AttrType::kDirectionId).value_or(0);
  }
  p.psk = psk;
  p.role = proto::Role::kResponder;
  return p;
}

TEST_F(ProtocolDoc, TunnelHandshakeMessagesHaveTheDocumentedLayout) {
  for (const char* name : {"tunnel-handshake-request", "tunnel-handshake-response"}) {
    SCOPED_TRACE(name);
    Bytes m = ex(name);
    ASSERT_GE(m.size(), proto::kTunnelHandshakeMinSize);
    EXPECT_EQ(m[0], 0x04);
    EXPECT_EQ(m[1] | m[2] | m[3], 0);
    uint32_t id = 0;
    EXPECT_TRUE(crypto::parse_tunnel_handshake(m, id));
    EXPECT_EQ(id, 0x5a17c0d3u) << "the direction ID at offset 4";
    EXPECT_EQ(m.size(), 40u + 24u + 16u) << "header 40, payload 24, tag 16";
    Bytes bad = m;
    bad[3] = 1;
    EXPECT_FALSE(crypto::parse_tunnel_handshake(bad, id)) << "reserved byte";
    bad = m;
    bad[0] = 0x03;
    EXPECT_FALSE(crypto::parse_tunnel_handshake(bad, id)) << "type";
    EXPECT_FALSE(crypto::parse_tunnel_handshake(ByteView(m).first(63), id)) << "below 64";
    Bytes big = m;
    big.resize(512);
    EXPECT_TRUE(crypto::parse_tunnel_handshake(big, id));
    big.resize(513);
    EXPECT_FALSE(crypto::parse_tunnel_handshake(big, id)) << "above 512";
  }
  Key e;
  std::copy_n(ex("tunnel-handshake-request").begin() + 8, 32, e.begin());
  EXPECT_EQ(e, derived_key("bob_tunnel_ephemeral_public"));
  std::copy_n(ex("tunnel-handshake-response").begin() + 8, 32, e.begin());
  EXPECT_EQ(e, derived_key("alice_tunnel_ephemeral_public"));
}

TEST_F(ProtocolDoc, TunnelRequestIsConsumedByTheRealResponder) {
  Bytes m1 = ex("tunnel-handshake-request");
  proto::DecodeError err;
  auto rd = ControlMessage::decode(ex("route-direction-responder"), err);
  ASSERT_TRUE(rd);
  Key T = *rd->get_key(AttrType::kTemporalKey);
  crypto::TunnelHandshake alice(alice_params(T));
  auto payload = alice.consume_request(m1);
  ASSERT_TRUE(payload) << "alice's real TunnelHandshake rejects the documented message 1";
  EXPECT_EQ(hex(*payload), hex(ex("tunnel-request")));
  EXPECT_EQ(alice.initiator_ephemeral(), derived_key("bob_tunnel_ephemeral_public"));
  // Message 2 from alice's side (random ephemeral key) has the layout of §7.5.
  Bytes m2 = alice.create_response(ex("tunnel-response"));
  ASSERT_EQ(m2.size(), m1.size());
  EXPECT_EQ(hex(ByteView(m2).first(8)), hex(ByteView(m1).first(8)));
  EXPECT_TRUE(alice.complete());

  // Everything the handshake binds: T (psk), both static keys, the direction ID (prologue),
  // and every byte of the message.
  Key wrong_t = T;
  wrong_t[0] ^= 1;
  EXPECT_FALSE(crypto::TunnelHandshake(alice_params(wrong_t)).consume_request(m1)) << "T";
  auto p = alice_params(T);
  p.peer_static_public = derived_key("alice_static_public");  // not bob
  EXPECT_FALSE(crypto::TunnelHandshake(p).consume_request(m1)) << "the initiator's static key";
  p = alice_params(T);
  p.local_static_private = in_key("dc_static_private");  // not alice
  EXPECT_FALSE(crypto::TunnelHandshake(p).consume_request(m1)) << "the responder's static key";
  p = alice_params(T);
  p.direction_id ^= 2;
  EXPECT_FALSE(crypto::TunnelHandshake(p).consume_request(m1)) << "another negotiation";
  Bytes renamed = m1;
  renamed[7] ^= 2;  // the same message under another direction ID: the prologue differs
  p = alice_params(T);
  p.direction_id = proto::get_u32(&renamed[4]);
  EXPECT_FALSE(crypto::TunnelHandshake(p).consume_request(renamed)) << "direction ID in prologue";
  for (size_t off : {size_t(8), size_t(39), size_t(40), m1.size() - 1}) {
    Bytes bad = m1;
    bad[off] ^= 1;
    EXPECT_FALSE(crypto::TunnelHandshake(alice_params(T)).consume_request(bad)) << off;
  }
}

TEST_F(ProtocolDoc, TunnelResponseAuthenticatesAgainstTheDocumentedInitiatorState) {
  // bob's side of §7.5 with the library's SymmetricState, from the documented private keys.
  Bytes m1 = ex("tunnel-handshake-request"), m2 = ex("tunnel-handshake-response");
  Key s = in_key("bob_static_private"), e = in_key("bob_tunnel_ephemeral_private");
  Key Si = derived_key("bob_static_public"), Sr = derived_key("alice_static_public");
  Key T = in_key("temporal_key"), shared;
  auto v = [](const Key& k) { return ByteView(k.data(), k.size()); };
  Bytes prologue = str("NTM tunnel v1");
  Bytes id = be32(0x5a17c0d3);
  prologue.insert(prologue.end(), id.begin(), id.end());
  crypto::SymmetricState ss("Noise_KKpsk0_25519_ChaChaPoly_SHA256", prologue);
  ss.mix_hash(v(Si));
  ss.mix_hash(v(Sr));
  ss.mix_key_and_hash(v(T));
  ss.mix_hash(ByteView(m1).subspan(8, 32));
  ss.mix_key(ByteView(m1).subspan(8, 32));
  ASSERT_TRUE(crypto::dh(e, Sr, shared));
  ss.mix_key(v(shared));
  ASSERT_TRUE(crypto::dh(s, Sr, shared));
  ss.mix_key(v(shared));
  Bytes again;
  ss.encrypt_and_hash(ex("tunnel-request"), again);
  EXPECT_EQ(hex(again), hex(ByteView(m1).subspan(40))) << "message 1's payload";
  auto consume_m2 = [&](crypto::SymmetricState st, const Bytes& msg) -> std::optional<Bytes> {
    Key er;
    std::copy_n(msg.begin() + 8, 32, er.begin());
    st.mix_hash(v(er));
    st.mix_key(v(er));
    if (!crypto::dh(e, er, shared)) return std::nullopt;  // ee
    st.mix_key(v(shared));
    if (!crypto::dh(s, er, shared)) return std::nullopt;  // se
    st.mix_key(v(shared));
    Bytes plain(msg.size() - 40 - 16);
    if (!st.decrypt_and_hash(ByteView(msg).subspan(40), plain.data())) return std::nullopt;
    Key k1, k2;
    st.split(k1, k2);
    EXPECT_EQ(k1, derived_key("data_i2r")) << "the initiator sends with k1";
    EXPECT_EQ(k2, derived_key("data_r2i"));
    EXPECT_EQ(st.derive("ntm rekey"), derived_key("rekey_secret"));
    return plain;
  };
  auto payload = consume_m2(ss, m2);
  ASSERT_TRUE(payload) << "message 2 does not authenticate";
  EXPECT_EQ(hex(*payload), hex(ex("tunnel-response")));
  for (size_t off : {size_t(8), size_t(39), size_t(40), m2.size() - 1}) {
    Bytes bad = m2;
    bad[off] ^= 1;
    EXPECT_FALSE(consume_m2(ss, bad)) << "flipped byte " << off;
  }
}

TEST_F(ProtocolDoc, LiveTunnelHandshakeAndRekeyPairKeysAsDocumented) {
  Key bob = in_key("bob_static_private"), alice = in_key("alice_static_private");
  Key T = in_key("temporal_key");
  auto params = [&](proto::Role role, const Key& psk) {
    crypto::TunnelHandshakeParams p;
    p.local_static_private = role == proto::Role::kInitiator ? bob : alice;
    p.peer_static_public = crypto::public_key(role == proto::Role::kInitiator ? alice : bob);
    p.psk = psk;
    p.direction_id = 0x5a17c0d3;
    p.role = role;
    return p;
  };
  auto run = [&](const Key& psk_i, const Key& psk_r, Key* rekey) {
    crypto::TunnelHandshake i(params(proto::Role::kInitiator, psk_i));
    crypto::TunnelHandshake r(params(proto::Role::kResponder, psk_r));
    Bytes m1 = i.create_request(ex("tunnel-request"));
    EXPECT_EQ(m1.size(), 40 + ex("tunnel-request").size() + 16);
    if (!r.consume_request(m1)) return false;
    EXPECT_EQ(r.initiator_ephemeral(), i.initiator_ephemeral()) << "duplicates are told by e";
    Bytes m2 = r.create_response(ex("tunnel-response"));
    if (!i.consume_response(m2)) return false;
    EXPECT_FALSE(i.consume_response(m2)) << "completes once";
    EXPECT_EQ(i.keys().send, r.keys().recv);  // initiator → responder: k1
    EXPECT_EQ(i.keys().recv, r.keys().send);
    EXPECT_NE(i.keys().send, i.keys().recv);
    EXPECT_EQ(i.rekey_secret(), r.rekey_secret());
    if (rekey) *rekey = i.rekey_secret();
    return true;
  };
  Key R;
  ASSERT_TRUE(run(T, T, &R));
  EXPECT_NE(R, T);
  Key R2;
  EXPECT_TRUE(run(R, R, &R2)) << "a rekey: psk = the previous handshake's rekey secret";
  EXPECT_NE(R2, R);
  EXPECT_FALSE(run(R, T, nullptr)) << "T does not open a rekey";
  EXPECT_FALSE(run(T, R, nullptr));
}

TEST_F(ProtocolDoc, DataPacketOpensWithTheKkDataKeyAndCarriesThePeersVip) {
  proto::DecodeError err;
  auto rd = ControlMessage::decode(ex("route-direction-responder"), err);  // what alice holds
  auto tresp = ControlMessage::decode(ex("tunnel-response"), err);
  ASSERT_TRUE(rd && tresp);
  uint32_t alice_tunnel_id = *tresp->get_u32(AttrType::kTunnelId);
  Bytes inner = open_sealed("data", derived_key("data_i2r"), {0x05, alice_tunnel_id, 0x107});
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

TEST_F(ProtocolDoc, TunnelMessageIsAPathChallengeInsideADataPacket) {
  proto::DecodeError err;
  auto treq = ControlMessage::decode(ex("tunnel-request"), err);
  ASSERT_TRUE(treq);
  uint32_t bob_tunnel_id = *treq->get_u32(AttrType::kTunnelId);
  uint64_t counter = num_of(kv(doc_inputs(), "tunnel_message_counter"));
  Bytes plain =
      open_sealed("tunnel-message", derived_key("data_r2i"), {0x05, bob_tunnel_id, counter});
  ASSERT_EQ(plain.size(), proto::kTunnelMessageSize);
  EXPECT_EQ(plain[0], proto::kTunnelMessageMarker) << "never the first byte of an IP packet";
  EXPECT_EQ(plain[1], uint8_t(proto::TunnelMessage::kPathChallenge));
  EXPECT_EQ(proto::get_u64(&plain[2]), num_of(kv(doc_inputs(), "tunnel_path_token")));
  EXPECT_EQ(hex(plain), hex(hex_blocks("plaintext")["tunnel-message"]));
  EXPECT_EQ(hex(plain), hex(reference::tunnel_message(1, proto::get_u64(&plain[2]))));
}

TEST_F(ProtocolDoc, OnlyTheNewestCounterMayMoveAnEndpoint) {
  // §8.3 / §4.5: Session::open reports whether a packet carries the highest counter so far.
  Key k = derived_key("data_i2r");
  crypto::Session tx(k, k, 7), rx(k, k, 7);
  std::vector<Bytes> sent;
  for (int i = 0; i < 3; ++i) {
    Bytes out(32);
    tx.seal(proto::PacketType::kData, {}, out.data());
    sent.push_back(out);
  }
  auto open = [&](const Bytes& p) {
    crypto::SealedHeader h;
    EXPECT_TRUE(crypto::parse_sealed_header(p, h));
    bool newest = false;
    uint8_t none[1];
    EXPECT_EQ(rx.open(h, p, none, &newest), crypto::Session::OpenStatus::kOk);
    return newest;
  };
  EXPECT_TRUE(open(sent[1])) << "the first accepted counter";
  EXPECT_FALSE(open(sent[0])) << "held back: accepted, but older than the highest";
  EXPECT_TRUE(open(sent[2]));
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
// ---------------------------------------------------------------------------------------------
// Tables.

TEST_F(ProtocolDoc, PacketTypeTable) {
  const std::map<uint8_t, std::pair<proto::PacketType, std::string>> want = {
      {0x01, {proto::PacketType::kHandshakeInit, "handshake initiation"}},
      {0x02, {proto::PacketType::kHandshakeResp, "handshake response"}},
      {0x03, {proto::PacketType::kControl, "control"}},
      {0x04, {proto::PacketType::kTunnelHandshake, "tunnel handshake"}},
      {0x05, {proto::PacketType::kData, "data"}},
      {0x06, {proto::PacketType::kCookieReply, "cookie reply"}},
      {0x07, {proto::PacketType::kRelayData, "relay data"}},
      {0x08, {proto::PacketType::kRelayBind, "relay bind"}},
      {0x09, {proto::PacketType::kRelayBindAck, "relay bind ack"}},
      {0x0A, {proto::PacketType::kPunch, "punch"}},
      {0x0B, {proto::PacketType::kRelayStatusRequest, "relay status request"}},
      {0x0C, {proto::PacketType::kRelayStatus, "relay status"}},
      {0x0D, {proto::PacketType::kRelayNotice, "relay notice"}},
      {0x0E, {proto::PacketType::kDcHello, "DC hello"}},
      {0x0F, {proto::PacketType::kDcCertificate, "DC certificate"}},
      {0x10, {proto::PacketType::kDcHandshakeInit, "DC key distribution"}},
      {0x11, {proto::PacketType::kDcHandshakeResp, "DC key distribution ack"}},
      {0x12, {proto::PacketType::kDcControl, "DC control"}},
  };
  auto rows = table("packet-types");
  ASSERT_EQ(rows.size(), want.size());
  std::map<uint8_t, std::string> length;
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 4u);
    uint8_t code = uint8_t(std::stoul(r[0], nullptr, 16));
    ASSERT_TRUE(want.count(code)) << r[0];
    EXPECT_EQ(uint8_t(want.at(code).first), code);
    EXPECT_EQ(r[1], want.at(code).second);
    length[code] = r[3];
  }
  EXPECT_EQ(length[0x01], std::to_string(proto::kHandshakeInitSize) + ", or " +
                              std::to_string(proto::kHandshakeInitSize + crypto::kEarlyDataMin +
                                             proto::kTagSize) +
                              " to " + std::to_string(crypto::kHandshakeInitMaxSize));
  EXPECT_EQ(length[0x02], "exactly " + std::to_string(proto::kHandshakeRespSize));
  EXPECT_EQ(length[0x03], "≥ " + std::to_string(proto::kSealedOverhead));
  EXPECT_EQ(length[0x04], std::to_string(proto::kTunnelHandshakeMinSize) + " to " +
                              std::to_string(proto::kTunnelHandshakeMaxSize));
  EXPECT_EQ(length[0x05], "≥ " + std::to_string(proto::kSealedOverhead));
  EXPECT_EQ(length[0x06], "exactly " + std::to_string(crypto::kCookieReplySize));
  EXPECT_EQ(length[0x07], "≥ " + std::to_string(proto::kRelayHeaderSize + 1));
  EXPECT_EQ(length[0x08], "exactly " + std::to_string(proto::kRelayBindSize));
  EXPECT_EQ(length[0x09], "exactly " + std::to_string(proto::kRelayBindAckSize));
  EXPECT_EQ(length[0x0A], "exactly " + std::to_string(proto::kPunchSize));
  EXPECT_EQ(length[0x0B], "exactly " + std::to_string(proto::kRelayStatusRequestSize));
  EXPECT_EQ(length[0x0C], "exactly " + std::to_string(proto::kRelayStatusSize));
  EXPECT_EQ(length[0x0D], "exactly " + std::to_string(proto::kRelayNoticeSize));
  EXPECT_EQ(length[0x0E], "exactly " + std::to_string(dc::kDcHelloSize));
  EXPECT_EQ(length[0x0F], std::to_string(4 + server::kCertMinSize) + " to " +
                              std::to_string(4 + server::kCertMaxSize));
  EXPECT_EQ(length[0x10],
            std::to_string(proto::kHandshakeInitSize + proto::kTagSize + server::kCertMinSize) +
                " to " +
                std::to_string(proto::kHandshakeInitSize + proto::kTagSize + server::kCertMaxSize));
  EXPECT_EQ(length[0x11], "exactly " + std::to_string(proto::kHandshakeRespSize));
  EXPECT_EQ(length[0x12], "≥ " + std::to_string(proto::kSealedOverhead));
}

TEST_F(ProtocolDoc, MessageTypeTable) {
  auto rows = table("message-types");
  ASSERT_EQ(rows.size(), 15u);
  std::set<int> seen;
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 5u);
    int code = int(std::stoul(r[0], nullptr, 16));
    seen.insert(code);
    auto t = proto::MessageType(code);
    EXPECT_EQ(r[1], proto::to_string(t)) << r[0];
    EXPECT_EQ(r[4] == "response", proto::is_response(t)) << r[0];
    EXPECT_TRUE(r[4] == "response" || r[4] == "request") << r[0];
    EXPECT_EQ(r[3], (code == 0x07 || code == 0x08)   ? "0x04"
                    : (code == 0x0E || code == 0x0F) ? "0x12"
                                                     : "0x03")
        << r[0];
  }
  EXPECT_EQ(seen.size(), 15u);
  EXPECT_EQ(*seen.begin(), 0x01);
  EXPECT_EQ(*seen.rbegin(), 0x0F);
  EXPECT_STREQ(proto::to_string(proto::MessageType(0x10)), "unknown") << "new type: document it";
}

TEST_F(ProtocolDoc, AttributeTable) {
  const std::map<uint16_t, std::string> want = {
      {0x0001, "NodeName"},      {0x0002, "Fqdn"},          {0x0003, "Vip4"},
      {0x0004, "Vip6"},          {0x0005, "RealAddress"},   {0x0006, "NatAddress"},
      {0x0007, "Lifetime"},      {0x0008, "DirectionId"},   {0x0009, "TemporalKey"},
      {0x000A, "Role"},          {0x000B, "PeerEndpoint"},  {0x000C, "(unused)"},
      {0x000D, "TunnelId"},      {0x000E, "ErrorCode"},     {0x000F, "ErrorText"},
      {0x0010, "PeerFqdn"},      {0x0011, "PeerVip4"},      {0x0012, "PeerVip6"},
      {0x0013, "PeerStaticKey"}, {0x0014, "PathToken"},     {0x0015, "HandshakeSeq"},
      {0x0016, "Candidate"},     {0x0017, "RelayEndpoint"}, {0x0018, "RelayTicket"},
      {0x0019, "RelayKey"},      {0x001A, "RelaySide"},     {0x001B, "FailedRelay"},
      {0x001C, "Account"},       {0x001D, "Password"},      {0x001E, "Notification"},
      {0x001F, "NsAddress"},     {0x0020, "NsKey"},
  };
  // The code's names, where the enum has the value (0x000C has none any more).
  EXPECT_EQ(uint16_t(AttrType::kPeerStaticKey), 0x0013);
  EXPECT_EQ(uint16_t(AttrType::kPathToken), 0x0014);
  EXPECT_EQ(uint16_t(AttrType::kHandshakeSeq), 0x0015);
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
    EXPECT_EQ(r[1], want.at(code));
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
    } else if (rule == "8 or 20") {
      EXPECT_TRUE(accepts(code, 8));
      EXPECT_TRUE(accepts(code, 20));
      EXPECT_FALSE(accepts(code, 7));
      EXPECT_FALSE(accepts(code, 19));
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
  ASSERT_EQ(rows.size(), 14u);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_GE(rows[i].size(), 2u);
    EXPECT_EQ(std::stoi(rows[i][0]), int(i + 1));
    EXPECT_EQ(rows[i][1], proto::to_string(proto::ErrorCode(i + 1)));
  }
  EXPECT_EQ(uint16_t(proto::ErrorCode::kRateLimited), 9);
  EXPECT_EQ(uint16_t(proto::ErrorCode::kTunnelRefused), 10);
  EXPECT_EQ(uint16_t(proto::ErrorCode::kAuthRequired), 11);
  EXPECT_EQ(uint16_t(proto::ErrorCode::kAuthUnavailable), 14);
  EXPECT_STREQ(proto::to_string(proto::ErrorCode(15)), "unknown error") << "new code: document it";
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
      {"proto::kTunnelHandshakeHeaderSize", proto::kTunnelHandshakeHeaderSize},
      {"proto::kTunnelHandshakeMinSize", proto::kTunnelHandshakeMinSize},
      {"proto::kTunnelHandshakeMaxSize", proto::kTunnelHandshakeMaxSize},
      {"proto::kTunnelMessageMarker", proto::kTunnelMessageMarker},
      {"proto::kTunnelMessageSize", proto::kTunnelMessageSize},
      {"proto::kMaxDatagram", proto::kMaxDatagram},
      {"proto::kTunnelMtu", proto::kTunnelMtu},
      {"proto::kFlagRetransmission", proto::kFlagRetransmission},
      {"proto::ControlMessage::kMaxAttributes", ControlMessage::kMaxAttributes},
      {"crypto::kMac1Offset", crypto::kMac1Offset},
      {"crypto::kMac2Offset", crypto::kMac2Offset},
      {"crypto::kCookieReplySize", crypto::kCookieReplySize},
      {"crypto::kCookieSecretLifetime", uint64_t(crypto::kCookieSecretLifetime.count())},
      {"crypto::kCookieLifetime", uint64_t(crypto::kCookieLifetime.count())},
      {"crypto::ReplayWindow::kBits", crypto::ReplayWindow::kBits},
      {"crypto::ReplayWindow::kWindowSize", crypto::ReplayWindow::kWindowSize},
      {"crypto::Session::kRekeyAfterMessages", crypto::Session::kRekeyAfterMessages},
      {"crypto::Session::kRejectAfterMessages", crypto::Session::kRejectAfterMessages},
      {"packet::Tunnel::kAmplificationFactor", packet::Tunnel::kAmplificationFactor},
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

TEST_F(ProtocolDoc, DcLimitsTable) {
  const dc::DcConfig c;
  const std::map<std::string, double> code = {
      {"registration-lifetime", c.registration_lifetime_s},
      {"vip-reclaim-after", c.vip_reclaim_after_s},
      {"handshake-load-threshold", c.handshake_load_threshold},
      {"handshake-rate", c.handshake_rate},
      {"handshake-burst", c.handshake_burst},
      {"request-rate", c.request_rate},
      {"request-burst", c.request_burst},
      {"direction-rate", c.direction_rate},
      {"direction-burst", c.direction_burst},
      {"max-sessions", double(c.max_sessions)},
  };
  auto rows = table("dc-limits");
  std::set<std::string> seen;
  for (auto& r : rows) {
    ASSERT_GE(r.size(), 2u);
    ASSERT_TRUE(code.count(r[0])) << "unknown option " << r[0];
    seen.insert(r[0]);
    EXPECT_EQ(std::stod(r[1]), code.at(r[0])) << r[0];
  }
  EXPECT_EQ(seen.size(), code.size());
}

// ---------------------------------------------------------------------------------------------
// Server certificates (§15).

TEST_F(ProtocolDoc, ServerCertificateExampleOfSection15) {
  auto certs = hex_blocks("certificate");
  ASSERT_EQ(certs.size(), 1u) << "one ```hex certificate= block";
  ASSERT_TRUE(certs.count("server-cert"));
  const Bytes& b = certs["server-cert"];
  // What sign_cert makes today from the documented inputs, which are the generator's.
  EXPECT_EQ(hex(b), hex(server_cert_example().bytes))
      << "docs/protocol.md §15 is stale: run protocol_doc_generate --update docs/protocol.md";
  auto in = key_values("cert-inputs");
  EXPECT_EQ(in, cert_input_values());

  // The documented inputs, read from the document, independently of the generator.
  Bytes seed = from_hex(kv(in, "as_ed25519_seed"));
  ASSERT_EQ(seed.size(), 32u);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(seed[i], uint8_t(1 + i)) << "seed 0x01..0x20";
  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, seed.data());
  EXPECT_EQ(hex(ByteView(pk, 32)), kv(in, "as_verify_key (derived)"));
  Key dc_key = key_of(kv(in, "dc_static_public"));
  EXPECT_EQ(dc_key, sequential_key(0x21));
  const std::string zone = kv(in, "zone");
  EXPECT_EQ(zone, "dc1.ntm.test");
  const uint64_t nb = std::stoull(kv(in, "not_before")), na = std::stoull(kv(in, "not_after"));
  EXPECT_EQ(nb, 1700000000u);
  EXPECT_EQ(na, 1731536000u);

  // The layout table, byte by byte.
  const size_t L = zone.size();
  ASSERT_EQ(b.size(), 147 + L);
  EXPECT_EQ(b[0], 0x01);
  EXPECT_EQ(b[1], 0x01);
  EXPECT_EQ(b[2], L);
  EXPECT_EQ(std::string(b.begin() + 3, b.begin() + 3 + long(L)), zone);
  EXPECT_EQ(hex(ByteView(b).subspan(3 + L, 32)), hex(kb(dc_key)));
  EXPECT_EQ(proto::get_u64(&b[35 + L]), nb);
  EXPECT_EQ(proto::get_u64(&b[43 + L]), na);
  EXPECT_EQ(hex(ByteView(b).subspan(51 + L, 32)), hex(ByteView(pk, 32)));
  // The signature: Ed25519 over the 25-byte prefix ‖ bytes 0 .. 82+L, checked with libsodium
  // alone.
  Bytes m = str("NTM server certificate v1");
  ASSERT_EQ(m.size(), 25u);
  m.insert(m.end(), b.begin(), b.begin() + long(83 + L));
  EXPECT_EQ(crypto_sign_verify_detached(&b[83 + L], m.data(), m.size(), pk), 0);

  // The real parser and verifier, and the order of the checks.
  server::VerifyKey signer;
  std::copy_n(pk, 32, signer.begin());
  server::ServerCert c;
  ASSERT_EQ(server::verify_cert(b, {signer}, nb, &c), server::CertError::kOk);
  EXPECT_EQ(c.name, zone);
  EXPECT_EQ(c.static_key, dc_key);
  EXPECT_EQ(c.not_before, nb);
  EXPECT_EQ(c.not_after, na);
  EXPECT_EQ(server::verify_cert(b, {signer}, na, nullptr), server::CertError::kOk);
  EXPECT_EQ(server::verify_cert(b, {signer}, nb - 1, nullptr), server::CertError::kNotYetValid);
  EXPECT_EQ(server::verify_cert(b, {signer}, na + 1, nullptr), server::CertError::kExpired);
  // 2 before 3 before 4: an untrusted signer is reported before a bad signature, and a bad
  // signature before the time.
  EXPECT_EQ(server::verify_cert(b, {}, nb - 1, nullptr), server::CertError::kUnknownSigner);
  Bytes forged = b;
  forged.back() ^= 1;
  EXPECT_EQ(server::verify_cert(forged, {signer}, nb - 1, nullptr),
            server::CertError::kBadSignature);
  // 1 before 2: a malformed certificate is malformed whoever signed it.
  Bytes bad = b;
  bad[1] = 2;  // role RS: reserved
  EXPECT_EQ(server::verify_cert(bad, {}, nb, nullptr), server::CertError::kMalformed);
  EXPECT_EQ(server::kCertMinSize, 148u);
  EXPECT_EQ(server::kCertMaxSize, 400u);
  EXPECT_EQ(server::kCertFixedSize + 253, server::kCertMaxSize);
}

}  // namespace
}  // namespace ntm::protocol_doc
