// Fuzz target: HandshakeResponder::consume_init — the DC's handling of Noise IK message 1, the
// one message the DC processes from anybody on the Internet.
//
// Input: a mode byte, then bytes.
//   mode bit 0 clear: the bytes are message 1 as received.
//   mode bit 0 set:   the bytes are XORed over a genuine message 1 from node A (made once per
//                     process), so all-zero bytes are the genuine message and every other input
//                     is a targeted forgery of it.
//
// Invariants: the DC accepts only a message made by a holder of node A's key (the seeds and the
// fuzzer hold no other) — in XOR mode exactly the genuine message, up to the sender index,
// which Noise does not authenticate, and the MACs (bytes 116..147, the DC's cheaper check in
// crypto/cookie.h, fuzzed in cookie_fuzz.cpp); its response has the documented layout; and for the
// genuine message that response completes node A's handshake with mirrored keys.
#include <cstdint>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "fuzz_support.h"

using namespace ntm;
using proto::Bytes;

namespace {

constexpr uint32_t kNodeIndex = 0x11223344, kDcIndex = 0x55667788;

struct Setup {
  crypto::Key node_pub = crypto::public_key(fuzz::fixed_key(fuzz::kNodeAStatic));
  crypto::HandshakeInitiator node{fuzz::fixed_key(fuzz::kNodeAStatic),
                                  crypto::public_key(fuzz::fixed_key(fuzz::kDcStatic))};
  crypto::HandshakeResponder dc{fuzz::fixed_key(fuzz::kDcStatic)};
  Bytes genuine = node.create_init(kNodeIndex);
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  static Setup* s = new Setup;  // built once, after the randomness is deterministic
  if (size == 0) return 0;
  bool xor_mode = data[0] & 1;
  Bytes msg = fuzz::raw_or_xored(s->genuine, data, size);

  Bytes response;
  auto r = s->dc.consume_init(msg, kDcIndex, response);
  if (!r) return 0;
  FUZZ_CHECK(msg.size() == proto::kHandshakeInitSize);
  FUZZ_CHECK(r->remote_static == s->node_pub);
  FUZZ_CHECK(r->remote_index == proto::get_u32(&msg[4]) && r->local_index == kDcIndex);
  FUZZ_CHECK(response.size() == proto::kHandshakeRespSize);
  FUZZ_CHECK(response[0] == uint8_t(proto::PacketType::kHandshakeResp));
  FUZZ_CHECK((response[1] | response[2] | response[3]) == 0);
  FUZZ_CHECK(proto::get_u32(&response[4]) == kDcIndex);
  FUZZ_CHECK(proto::get_u32(&response[8]) == r->remote_index);
  if (xor_mode) {
    for (size_t i = 0; i < msg.size(); ++i)
      if (i < 4 || (i >= 8 && i < crypto::kMac1Offset)) FUZZ_CHECK(msg[i] == s->genuine[i]);
  }
  if (msg == s->genuine) {
    crypto::HandshakeInitiator node = s->node;  // completing wipes the ephemeral key
    auto at_node = node.consume_response(response);
    FUZZ_CHECK(at_node);
    FUZZ_CHECK(at_node->send_key == r->recv_key && at_node->recv_key == r->send_key);
  }
  return 0;
}
