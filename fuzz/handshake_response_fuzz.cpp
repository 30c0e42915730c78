// Fuzz target: HandshakeInitiator::consume_response — the node's handling of Noise IK message 2,
// which anyone who sees message 1 can try to answer.
//
// Input: a mode byte, then bytes.
//   mode bit 0 clear: the bytes are message 2 as received.
//   mode bit 0 set:   the bytes are XORed over the DC's genuine answer (made once per process),
//                     so all-zero bytes are the genuine message 2.
//
// Invariants: only the genuine answer completes the handshake (up to the DC's sender index,
// which Noise does not authenticate), with the keys the DC derived; a refused answer leaves the
// initiator able to complete with the genuine one (checked on every input: consume_response
// must not consume state).
#include <cstdint>

#include "crypto/handshake.h"
#include "fuzz_support.h"

using namespace ntm;
using proto::Bytes;

namespace {

constexpr uint32_t kNodeIndex = 0x11223344, kDcIndex = 0x55667788;

struct Setup {
  crypto::HandshakeInitiator node{fuzz::fixed_key(fuzz::kNodeAStatic),
                                  crypto::public_key(fuzz::fixed_key(fuzz::kDcStatic))};
  crypto::HandshakeResponder dc{fuzz::fixed_key(fuzz::kDcStatic)};
  Bytes genuine;
  crypto::HandshakeResult at_dc;
  Setup() {
    Bytes init = node.create_init(kNodeIndex);
    auto r = dc.consume_init(init, kDcIndex, genuine);
    FUZZ_CHECK(r);
    at_dc = *r;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  static Setup* s = new Setup;
  if (size == 0) return 0;
  Bytes msg = fuzz::raw_or_xored(s->genuine, data, size);

  // A completed handshake wipes its ephemeral key, so each input works on a copy of the node
  // state that sent the initiation.
  crypto::HandshakeInitiator node = s->node;
  auto r = node.consume_response(msg);
  if (r) {
    FUZZ_CHECK(msg.size() == proto::kHandshakeRespSize);
    for (size_t i = 0; i < msg.size(); ++i)
      if (i < 4 || i >= 8) FUZZ_CHECK(msg[i] == s->genuine[i]);
    FUZZ_CHECK(r->local_index == kNodeIndex);
    FUZZ_CHECK(r->remote_index == proto::get_u32(&msg[4]));
    FUZZ_CHECK(r->send_key == s->at_dc.recv_key && r->recv_key == s->at_dc.send_key);
  }
  if (!r) {  // a refused message leaves the node able to take the genuine answer
    auto g = node.consume_response(s->genuine);
    FUZZ_CHECK(g && g->send_key == s->at_dc.recv_key);
  }
  return 0;
}
