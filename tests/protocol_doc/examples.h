// Fixed-input examples of every NTM wire message, built with the real encoders (ntm_proto,
// ntm_crypto). Shared by the generator (which prints them into docs/protocol.md §10) and by
// the test (which checks the document against them and against the parsers).
//
// Scenario (paper 002 Fig. 3 with one DC): alice (MN, global address) and bob (CN, behind a
// NAT) are registered with the DC of dc.ntm.test; alice asks for a tunnel to bob, the DC makes
// bob the initiator, bob sends the tunnel request (Noise KKpsk0 message 1) to alice, alice
// answers with the tunnel response (message 2), bob sends data.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "crypto/aead.h"
#include "crypto/handshake.h"
#include "proto/bytes.h"
#include "proto/control_message.h"

namespace ntm::protocol_doc {

using proto::Bytes;
using proto::ByteView;
using Key = crypto::Key;

/// A key whose bytes are first, first+1, ..., first+31 (easy to recognise in the document).
Key sequential_key(uint8_t first);

/// Every fixed input of the examples. Nothing random: the examples are reproducible.
struct Inputs {
  Key alice_static = sequential_key(0x01);              ///< alice's identity (X25519 private)
  Key dc_static = sequential_key(0x21);                 ///< DC static key (X25519 private)
  Key alice_hs_ephemeral = sequential_key(0x41);        ///< handshake ephemeral of alice
  Key alice_hs_ephemeral_retry = sequential_key(0x51);  ///< ... of the retry after the cookie
  Key dc_hs_ephemeral = sequential_key(0x61);           ///< handshake ephemeral of the DC
  Key temporal_key = sequential_key(0x81);              ///< T from the route direction
  Key cookie_secret = sequential_key(0x91);             ///< the DC's cookie secret R
  Key bob_tunnel_ephemeral = sequential_key(0xa1);      ///< initiator's tunnel ephemeral
  Key alice_tunnel_ephemeral = sequential_key(0xc1);    ///< responder's tunnel ephemeral
  Key bob_static = sequential_key(0xe1);                ///< bob's identity (X25519 private)
  uint8_t cookie_nonce_first = 0xb1;  ///< the cookie reply's 24-byte nonce: b1 b2 ... c8
  uint32_t alice_index = 0x0a11ce00;  ///< alice's sender index in handshake message 1
  uint32_t dc_index = 0xd0c00001;     ///< the DC's sender index in handshake message 2
  uint64_t ts_seconds = 1767225600;   ///< 2026-01-01T00:00:00Z
  uint32_t ts_nanos = 123456789;
  uint32_t ts_nanos_retry = 223456789;  ///< the retry is sent 100 ms later
  uint32_t direction_id = 0x5a17c0d3;
  uint32_t bob_tunnel_id = 0xb0b00001;
  uint32_t alice_tunnel_id = 0xa11c0001;
  uint64_t data_counter = 0x107;  ///< counter of the data packet example
  uint64_t tunnel_message_counter = 0x2a;
  uint64_t dc_path_token = 0x70a7c4a11e9e0001;
  uint64_t tunnel_path_token = 0x70a7c4a11e9e0002;
  // Relays and punches (§7.9, §12).
  Key relay_key = sequential_key(0x71);  ///< shared by the DC and its relay servers
  uint32_t relay_session_id = 0x5e55a001;
  uint32_t relay_expiry = 1767312000;  ///< 2026-01-02T00:00:00Z
  uint64_t relay_bind_counter = 1;
  uint64_t punch_counter = 3;
  uint64_t status_sequence = 0x11;
};
/// The relay ticket of the examples (88 bytes): session relay_session_id between bob (A, the
/// initiator) and alice (B), valid until relay_expiry.
Bytes example_relay_ticket();
const Inputs& inputs();

/// The node ⇄ DC handshake with fixed ephemeral keys, built with crypto::SymmetricState (the
/// same primitives HandshakeInitiator/HandshakeResponder use; their own entry points draw
/// random ephemeral keys). msg1 is the 148-byte message 1 with mac1 and mac2 zero.
struct Handshake {
  Bytes msg1, msg2;
  Key k1, k2;  ///< Split(): node sends with k1, DC sends with k2
};
/// With `early`, message 1 carries it as early data (§3.2) after the 148 bytes.
Handshake build_handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                          const Key& dc_e, uint32_t node_index, uint32_t dc_index,
                          const crypto::Timestamp& ts, ByteView early = {});
crypto::Timestamp example_timestamp(uint32_t nanos);

/// The tunnel handshake (Noise KKpsk0) with fixed ephemeral keys, built with
/// crypto::SymmetricState as crypto::TunnelHandshake does (which draws random ephemeral keys).
struct TunnelHandshake {
  Bytes msg1, msg2;  ///< whole type-0x04 packets
  Key k1, k2;        ///< the initiator sends with k1
  Key rekey_secret;
};
TunnelHandshake build_tunnel_handshake(const Key& initiator_static, const Key& responder_static,
                                       const Key& initiator_e, const Key& responder_e,
                                       const Key& psk, uint32_t direction_id, ByteView payload1,
                                       ByteView payload2);

/// One example: its name (the ```hex example=NAME marker), a heading, a paragraph and its bytes.
struct Example {
  std::string name, title, caption;
  Bytes bytes;
  std::string listing;  ///< field-by-field breakdown (offset, bytes, meaning)
};
std::vector<Example> build_examples();

/// "name = hex" lines of the fixed inputs and of the values derived from them.
std::vector<std::pair<std::string, std::string>> input_values();
std::vector<std::pair<std::string, std::string>> derived_values();

/// The inner IPv4 ICMP echo request of the data packet example.
Bytes example_inner_packet();
/// The 24-byte nonce of the cookie reply example.
Bytes cookie_nonce();
/// alice's address as the DC sees it: the cookie's input (address || port).
Bytes alice_source_address();
uint16_t alice_source_port();

/// docs/protocol.md §15: the fixed inputs of the server certificate example. The AS's
/// Ed25519 key pair comes from the seed (RFC 8032 §5.1.5); the static key is the DC's X25519
/// public key as it appears in the certificate.
struct CertInputs {
  std::array<uint8_t, 32> as_seed = sequential_key(0x01);
  std::string zone = "dc1.ntm.test";
  Key dc_static_public = sequential_key(0x21);
  uint64_t not_before = 1700000000;  ///< 2023-11-14T22:13:20Z
  uint64_t not_after = 1731536000;   ///< 2024-11-13T22:13:20Z
};
const CertInputs& cert_inputs();
/// "name = value" lines of the certificate inputs and the AS's verify key derived from them.
std::vector<std::pair<std::string, std::string>> cert_input_values();
/// The certificate, signed with servers/common/server_cert's sign_cert, and its listing.
Example server_cert_example();

std::string hex(ByteView b);                              ///< "0a1b..." (no spaces)
std::string hex_block(ByteView b, size_t per_line = 16);  ///< "0a 1b ..." wrapped
const char* attr_name(uint16_t type);

}  // namespace ntm::protocol_doc
