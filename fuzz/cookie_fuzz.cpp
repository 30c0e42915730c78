// Fuzz target: the DoS guard of the node ⇄ DC handshake (crypto/cookie.h) — the DC's MAC
// checks on every handshake initiation from anybody, and the node's handling of cookie replies.
//
// Input: a mode byte, then bytes.
//   mode bit 1 clear: the bytes are a handshake initiation checked by the DC's CookieChecker
//                     (mac1, and mac2 for a cookie the DC gave this source);
//   mode bit 1 set:   the bytes are a cookie reply consumed by the node's CookieGenerator;
//   mode bit 0: raw bytes (clear) or XORed over the genuine message (set).
//
// Invariants: mac1 holds only if bytes 0..131 are the genuine ones (mac1 covers 0..115 and is
// bytes 116..131); mac2 holds only if bytes 0..147 are the genuine ones (bytes from 148 on are
// early data, which the MACs do not cover: Noise authenticates it, docs/protocol.md §3.2); a
// cookie reply is
// taken only when it is the genuine one (but for the receiver index, which the node's DC link
// checks), and after it the node's next initiation passes mac2.
#include <cstdint>
#include <cstring>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "fuzz_support.h"

using namespace ntm;
using proto::Bytes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  if (size == 0) return 0;
  crypto::Key dc_pub = crypto::public_key(fuzz::fixed_key(fuzz::kDcStatic));
  static const proto::Endpoint from = *proto::Endpoint::parse("192.0.2.1:4000");
  crypto::CookieChecker dc(dc_pub);
  crypto::CookieGenerator node(dc_pub);
  crypto::HandshakeInitiator init(fuzz::fixed_key(fuzz::kNodeAStatic), dc_pub);
  Bytes first = init.create_init(0x11223344);
  node.add_macs(first);
  Bytes reply = dc.create_reply(first, from);
  if (!(data[0] & 2)) {
    FUZZ_CHECK(node.consume_reply(reply));
    Bytes genuine = init.create_init(0x11223344);
    node.add_macs(genuine);  // now with mac2
    Bytes msg = fuzz::raw_or_xored(genuine, data, size);
    bool mac1 = dc.check_mac1(msg), mac2 = dc.check_mac2(msg, from);
    if (mac1)
      FUZZ_CHECK(msg.size() >= genuine.size() &&
                 std::memcmp(msg.data(), genuine.data(), crypto::kMac2Offset) == 0);
    if (mac2)
      FUZZ_CHECK(msg.size() >= genuine.size() &&
                 std::memcmp(msg.data(), genuine.data(), genuine.size()) == 0);
    return 0;
  }
  Bytes msg = fuzz::raw_or_xored(reply, data, size);
  if (!node.consume_reply(msg)) {
    FUZZ_CHECK(!node.has_cookie());
    return 0;
  }
  // Every byte but the receiver index (4..7, which DcLink matches itself) is authenticated.
  FUZZ_CHECK(msg.size() == reply.size());
  for (size_t i = 0; i < msg.size(); ++i)
    if (i < 4 || i >= 8) FUZZ_CHECK(msg[i] == reply[i]);
  Bytes next = init.create_init(0x11223345);
  node.add_macs(next);
  FUZZ_CHECK(dc.check_mac1(next) && dc.check_mac2(next, from));
  return 0;
}
