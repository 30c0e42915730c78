// Fuzz target: the node ⇄ node tunnel handshake (crypto::TunnelHandshake, Noise KKpsk0) — what a
// node does with a tunnel request or response from anybody who knows its address.
//
// Input: a mode byte, then bytes.
//   mode bit 1 clear: the bytes are a tunnel request (message 1) for a responder B expecting
//                     node A under temporal key T and direction D;
//   mode bit 1 set:   the bytes are a tunnel response (message 2) for an initiator A whose
//                     genuine request B answered;
//   mode bit 0: raw bytes (clear) or XORed over the genuine message (set).
//
// Invariants: a message is accepted only when it is byte for byte the genuine one (Noise KK
// authenticates every byte: the header's direction ID through the prologue, e and the payload
// through the transcript); an accepted exchange gives mirrored keys and the genuine payload;
// a refused message leaves the side able to accept the genuine one afterwards.
#include <cstdint>
#include <memory>

#include "crypto/tunnel_handshake.h"
#include "fuzz_support.h"

using namespace ntm;
using proto::Bytes;

namespace {

constexpr uint32_t kDirection = 0x5a17c0d3;

crypto::TunnelHandshakeParams params(uint8_t self, uint8_t peer, proto::Role role) {
  crypto::TunnelHandshakeParams p;
  p.local_static_private = fuzz::fixed_key(self);
  p.peer_static_public = crypto::public_key(fuzz::fixed_key(peer));
  p.psk.fill(0x7e);
  p.direction_id = kDirection;
  p.role = role;
  return p;
}

const Bytes kRequestPayload = {1, 7, 0, 0, 0, 0, 0, 1, 0, 13, 0, 4, 0xb0, 0xb0, 0, 1};
const Bytes kResponsePayload = {1, 8, 0, 0, 0, 0, 0, 1, 0, 13, 0, 4, 0xa1, 0x1c, 0, 1};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  if (size == 0) return 0;
  bool response_mode = data[0] & 2;
  auto a = std::make_unique<crypto::TunnelHandshake>(
      params(fuzz::kNodeAStatic, fuzz::kNodeBStatic, proto::Role::kInitiator));
  auto b = std::make_unique<crypto::TunnelHandshake>(
      params(fuzz::kNodeBStatic, fuzz::kNodeAStatic, proto::Role::kResponder));
  Bytes m1 = a->create_request(kRequestPayload);
  FUZZ_CHECK(!m1.empty());
  if (!response_mode) {
    Bytes msg = fuzz::raw_or_xored(m1, data, size);
    auto p = b->consume_request(msg);
    if (!p) {
      FUZZ_CHECK(b->consume_request(m1));  // the genuine one still works
      return 0;
    }
    FUZZ_CHECK(msg == m1);
    FUZZ_CHECK(*p == kRequestPayload);
    return 0;
  }
  FUZZ_CHECK(b->consume_request(m1));
  Bytes m2 = b->create_response(kResponsePayload);
  Bytes msg = fuzz::raw_or_xored(m2, data, size);
  auto p = a->consume_response(msg);
  if (!p) {
    FUZZ_CHECK(!a->complete());
    FUZZ_CHECK(a->consume_response(m2));
    FUZZ_CHECK(a->keys().send == b->keys().recv);
    return 0;
  }
  FUZZ_CHECK(msg == m2);
  FUZZ_CHECK(*p == kResponsePayload);
  FUZZ_CHECK(a->keys().send == b->keys().recv && a->keys().recv == b->keys().send);
  FUZZ_CHECK(a->rekey_secret() == b->rekey_secret());
  return 0;
}
