// Fixed-input examples of every NTM wire message, built with the real encoders (ntm_proto,
// ntm_crypto). Shared by the generator (which prints them into docs/protocol.md §10) and by
// the test (which checks the document against them and against the parsers).
//
// Scenario (paper 002 Fig. 3 with one DC): alice (MN, global address) and bob (CN, behind a
// NAT) are registered with the DC of dc.ntm.test; alice asks for a tunnel to bob, the DC makes
// bob the initiator, bob sends the tunnel request to alice, alice answers, bob sends data.
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
  Key alice_static = sequential_key(0x01);            ///< node identity (X25519 private)
  Key dc_static = sequential_key(0x21);               ///< DC static key (X25519 private)
  Key alice_hs_ephemeral = sequential_key(0x41);      ///< handshake ephemeral of alice
  Key dc_hs_ephemeral = sequential_key(0x61);         ///< handshake ephemeral of the DC
  Key temporal_key = sequential_key(0x81);            ///< T from the route direction
  Key bob_tunnel_ephemeral = sequential_key(0xa1);    ///< initiator's tunnel ephemeral
  Key alice_tunnel_ephemeral = sequential_key(0xc1);  ///< responder's tunnel ephemeral
  uint32_t alice_index = 0x0a11ce00;  ///< alice's sender index in handshake message 1
  uint32_t dc_index = 0xd0c00001;     ///< the DC's sender index in handshake message 2
  uint64_t ts_seconds = 1767225600;   ///< 2026-01-01T00:00:00Z
  uint32_t ts_nanos = 123456789;
  uint32_t direction_id = 0x5a17c0d3;
  uint32_t bob_tunnel_id = 0xb0b00001;
  uint32_t alice_tunnel_id = 0xa11c0001;
  uint64_t data_counter = 0x107;  ///< counter of the data packet example
};
const Inputs& inputs();

/// The handshake with fixed ephemeral keys, built with crypto::SymmetricState (the same
/// primitives HandshakeInitiator/HandshakeResponder use; their own entry points draw random
/// ephemeral keys).
struct Handshake {
  Bytes msg1, msg2;
  Key k1, k2;  ///< Split(): node sends with k1, DC sends with k2
};
Handshake build_handshake(const Key& node_static, const Key& dc_static, const Key& node_e,
                          const Key& dc_e, uint32_t node_index, uint32_t dc_index,
                          const crypto::Timestamp& ts);
crypto::Timestamp example_timestamp();

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

std::string hex(ByteView b);                              ///< "0a1b..." (no spaces)
std::string hex_block(ByteView b, size_t per_line = 16);  ///< "0a 1b ..." wrapped
const char* attr_name(uint16_t type);

}  // namespace ntm::protocol_doc
