// Prints the generated parts of docs/protocol.md (§10: fixed inputs, derived keys, handshake
// trace and one hex example per message; §15: the server certificate example), built with the
// real encoders from fixed inputs.
//
//   protocol_doc_generate                 print both parts to stdout
//   protocol_doc_generate --update FILE   replace the text between each pair of BEGIN/END
//                                         markers in FILE
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "crypto/aead.h"
#include "examples.h"
#include "reference.h"

namespace {

constexpr const char* kBegin =
    "<!-- BEGIN GENERATED EXAMPLES (tests/protocol_doc/generate_examples.cpp) -->";
constexpr const char* kEnd = "<!-- END GENERATED EXAMPLES -->";
constexpr const char* kCertBegin =
    "<!-- BEGIN GENERATED SERVER CERTIFICATE (tests/protocol_doc/generate_examples.cpp) -->";
constexpr const char* kCertEnd = "<!-- END GENERATED SERVER CERTIFICATE -->";

std::string key_value_block(const char* tag,
                            const std::vector<std::pair<std::string, std::string>>& kv) {
  size_t width = 0;
  for (auto& [k, v] : kv) width = std::max(width, k.size());
  std::string s = std::string("```text ") + tag + "\n";
  for (auto& [k, v] : kv) s += k + std::string(width - k.size(), ' ') + " = " + v + "\n";
  return s + "```\n";
}

ntm::proto::Bytes example_payload(const std::string& name) {
  for (auto& e : ntm::protocol_doc::build_examples())
    if (e.name == name) return e.bytes;
  return {};
}

std::string generate() {
  using namespace ntm::protocol_doc;
  const Inputs& in = inputs();
  std::ostringstream o;
  o << kBegin << "\n\n";
  o << "### 10.1 Fixed inputs, derived keys and handshake traces\n\n";
  o << "Every example below is built from these inputs; nothing is random. Private keys are "
       "X25519 scalars as stored (libsodium clamps them when used). Indices, IDs and counters "
       "are shown as big-endian hex.\n\n";
  o << key_value_block("inputs", input_values()) << "\n";
  o << "Values derived from them by the library itself (`crypto::public_key`, Split() of the "
       "node ⇄ DC handshake, the BLAKE2b keys and cookie of §3.8, Split() and the rekey secret "
       "of the tunnel handshake):\n\n";
  o << key_value_block("derived", derived_values()) << "\n";
  auto ref =
      reference::handshake(in.alice_static, in.dc_static, in.alice_hs_ephemeral, in.dc_hs_ephemeral,
                           in.alice_index, in.dc_index, example_timestamp(in.ts_nanos));
  std::vector<std::pair<std::string, std::string>> trace;
  for (auto& [label, value] : ref.trace) trace.push_back({label, hex(value)});
  o << "The symmetric state while the example node ⇄ DC handshake runs (§3.3), as computed by "
       "the independent reference implementation in `tests/protocol_doc/reference.cpp`:\n\n";
  o << key_value_block("handshake-trace", trace) << "\n";
  auto tref = reference::tunnel_handshake(in.bob_static, in.alice_static, in.bob_tunnel_ephemeral,
                                          in.alice_tunnel_ephemeral, in.temporal_key,
                                          in.direction_id, example_payload("tunnel-request"),
                                          example_payload("tunnel-response"));
  trace.clear();
  for (auto& [label, value] : tref.trace) trace.push_back({label, hex(value)});
  o << "The symmetric state while the example tunnel handshake runs (§7.5; bob is the "
       "initiator, alice the responder, psk = temporal_key), from the same reference "
       "implementation:\n\n";
  o << key_value_block("tunnel-handshake-trace", trace) << "\n";

  int n = 2;
  for (auto& e : build_examples()) {
    o << "### 10." << n++ << " " << e.title << "\n\n";
    o << e.caption << "\n\n";
    o << "```hex example=" << e.name << "\n" << hex_block(e.bytes) << "\n```\n\n";
    o << "```text\n" << e.listing << "```\n\n";
    if (e.name == "data") {
      o << "The inner packet (the plaintext of the data packet):\n\n";
      o << "```hex plaintext=data\n" << hex_block(example_inner_packet()) << "\n```\n\n";
    }
    if (e.name == "tunnel-message") {
      o << "Its plaintext: marker 0x00, kind 1 (path challenge), the token (u64 BE):\n\n";
      o << "```hex plaintext=tunnel-message\n"
        << hex_block(reference::tunnel_message(1, in.tunnel_path_token)) << "\n```\n\n";
    }
  }
  o << kEnd << "\n";
  return o.str();
}

std::string generate_cert() {
  using namespace ntm::protocol_doc;
  std::ostringstream o;
  o << kCertBegin << "\n\n";
  o << key_value_block("cert-inputs", cert_input_values()) << "\n";
  Example e = server_cert_example();
  o << "The certificate (" << e.bytes.size() << " bytes), as `ntm-as --sign-dc` would print it "
    << "in base64 with these inputs:\n\n";
  o << "```hex certificate=" << e.name << "\n" << hex_block(e.bytes) << "\n```\n\n";
  o << "```text\n" << e.listing << "```\n\n";
  o << kCertEnd << "\n";
  return o.str();
}

/// Replaces the text from `begin` to the line of `end` in `doc`; false when a marker is missing.
bool replace_region(std::string& doc, const char* begin, const char* end, const std::string& text) {
  size_t b = doc.find(begin), e = doc.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) return false;
  doc.replace(b, e + std::string(end).size() + 1 - b, text);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ntm::crypto::init();
  std::string section = generate(), cert = generate_cert();
  if (argc == 1) {
    std::cout << section << "\n" << cert;
    return 0;
  }
  if (argc != 3 || std::string(argv[1]) != "--update") {
    std::cerr << "usage: protocol_doc_generate [--update docs/protocol.md]\n";
    return 2;
  }
  std::ifstream f(argv[2]);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string doc = ss.str();
  if (!f || !replace_region(doc, kBegin, kEnd, section) ||
      !replace_region(doc, kCertBegin, kCertEnd, cert)) {
    std::cerr << "protocol_doc_generate: markers not found in " << argv[2] << "\n";
    return 1;
  }
  std::ofstream(argv[2]) << doc;
  return 0;
}
