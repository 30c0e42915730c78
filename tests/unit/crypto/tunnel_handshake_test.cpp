// The node ⇄ node tunnel handshake (docs/protocol.md §7): what the nodes rely on is that a
// tunnel comes up only between the two static keys the route direction named and only with
// the route direction's temporal key — so the DC (which knows T and every public key, but no
// private key) cannot impersonate either side — and that each handshake gives fresh keys.
#include "crypto/tunnel_handshake.h"

#include <gtest/gtest.h>

#include "proto/bytes.h"

namespace ntm::crypto {
namespace {

using proto::Bytes;
using proto::Role;

Key filled(uint8_t v) {
  Key k;
  k.fill(v);
  return k;
}

Bytes payload(const char* s) {
  return Bytes(reinterpret_cast<const uint8_t*>(s),
               reinterpret_cast<const uint8_t*>(s) + strlen(s));
}

class TunnelHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init();
    a_ = random_private_key();
    b_ = random_private_key();
  }
  TunnelHandshakeParams params(const Key& self, const Key& peer_private, Role role, const Key& psk,
                               uint32_t id = 0x1234567) {
    TunnelHandshakeParams p;
    p.local_static_private = self;
    p.peer_static_public = public_key(peer_private);
    p.psk = psk;
    p.direction_id = id;
    p.role = role;
    return p;
  }
  /// A whole handshake a → b; returns both sides.
  std::pair<std::unique_ptr<TunnelHandshake>, std::unique_ptr<TunnelHandshake>> run(
      const Key& psk) {
    auto i = std::make_unique<TunnelHandshake>(params(a_, b_, Role::kInitiator, psk));
    auto r = std::make_unique<TunnelHandshake>(params(b_, a_, Role::kResponder, psk));
    Bytes m1 = i->create_request(payload("request1"));
    auto p1 = r->consume_request(m1);
    EXPECT_TRUE(p1);
    Bytes m2 = r->create_response(payload("response"));
    auto p2 = i->consume_response(m2);
    EXPECT_TRUE(p2);
    return {std::move(i), std::move(r)};
  }
  Key a_, b_, t_ = filled(0x7e);
};

TEST_F(TunnelHandshakeTest, BothSidesGetMirroredKeysAndThePayloads) {
  TunnelHandshake i(params(a_, b_, Role::kInitiator, t_));
  TunnelHandshake r(params(b_, a_, Role::kResponder, t_));
  Bytes m1 = i.create_request(payload("tunnel request"));
  ASSERT_EQ(m1[0], uint8_t(proto::PacketType::kTunnelHandshake));
  EXPECT_EQ(proto::get_u32(&m1[4]), 0x1234567u);
  EXPECT_EQ(m1.size(), proto::kTunnelHandshakeHeaderSize + 14 + proto::kTagSize);
  uint32_t id = 0;
  ASSERT_TRUE(parse_tunnel_handshake(m1, id));
  EXPECT_EQ(id, 0x1234567u);
  auto p1 = r.consume_request(m1);
  ASSERT_TRUE(p1);
  EXPECT_EQ(*p1, payload("tunnel request"));
  EXPECT_FALSE(r.complete());
  Bytes m2 = r.create_response(payload("tunnel response"));
  EXPECT_TRUE(r.complete());
  auto p2 = i.consume_response(m2);
  ASSERT_TRUE(p2);
  EXPECT_EQ(*p2, payload("tunnel response"));
  ASSERT_TRUE(i.complete());
  EXPECT_EQ(i.keys().send, r.keys().recv);
  EXPECT_EQ(i.keys().recv, r.keys().send);
  EXPECT_NE(i.keys().send, i.keys().recv);
  EXPECT_EQ(i.rekey_secret(), r.rekey_secret());
  EXPECT_NE(i.rekey_secret(), t_);
  EXPECT_NE(i.rekey_secret(), i.keys().send);
  EXPECT_EQ(i.initiator_ephemeral(), r.initiator_ephemeral());
}

TEST_F(TunnelHandshakeTest, TheDcCannotImpersonateAPeer) {
  // The DC knows T and both public keys; it can make its own key pair, but not a's or b's.
  Key dc = random_private_key();
  // Posing as a towards b: b expects a's static key.
  TunnelHandshakeParams fake = params(dc, b_, Role::kInitiator, t_);
  TunnelHandshake mallory(fake);
  TunnelHandshake r(params(b_, a_, Role::kResponder, t_));
  EXPECT_FALSE(r.consume_request(mallory.create_request(payload("request1"))));
  // Posing as b towards a: a's message 1 answered by a responder that is not b.
  TunnelHandshake i(params(a_, b_, Role::kInitiator, t_));
  Bytes m1 = i.create_request(payload("request1"));
  TunnelHandshake fake_r(params(dc, a_, Role::kResponder, t_));
  // It cannot even read message 1 (es and ss need b's private key)...
  EXPECT_FALSE(fake_r.consume_request(m1));
  // ...and a message 2 made by another responder does not authenticate at a.
  TunnelHandshake other_i(params(a_, dc, Role::kInitiator, t_));
  TunnelHandshake other_r(params(dc, a_, Role::kResponder, t_));
  ASSERT_TRUE(other_r.consume_request(other_i.create_request(payload("request1"))));
  EXPECT_FALSE(i.consume_response(other_r.create_response(payload("response"))));
  EXPECT_FALSE(i.complete());
}

TEST_F(TunnelHandshakeTest, NeedsTheTemporalKeyAndTheDirection) {
  TunnelHandshake i(params(a_, b_, Role::kInitiator, t_));
  Bytes m1 = i.create_request(payload("request1"));
  TunnelHandshake wrong_psk(params(b_, a_, Role::kResponder, filled(0x7f)));
  EXPECT_FALSE(wrong_psk.consume_request(m1));
  TunnelHandshake wrong_id(params(b_, a_, Role::kResponder, t_, 0x1234568));
  EXPECT_FALSE(wrong_id.consume_request(m1));
  // The header's direction ID is bound through the prologue: rewriting it breaks the message.
  Bytes moved = m1;
  proto::put_u32(&moved[4], 0x1234568);
  EXPECT_FALSE(wrong_id.consume_request(moved));
}

TEST_F(TunnelHandshakeTest, TamperedOrTruncatedMessagesAreRefused) {
  TunnelHandshake i(params(a_, b_, Role::kInitiator, t_));
  Bytes m1 = i.create_request(payload("request1"));
  for (size_t at : {size_t(1), size_t(8), size_t(39), size_t(40), m1.size() - 1}) {
    TunnelHandshake r(params(b_, a_, Role::kResponder, t_));
    Bytes bad = m1;
    bad[at] ^= 0x01;
    EXPECT_FALSE(r.consume_request(bad)) << "byte " << at;
  }
  TunnelHandshake r(params(b_, a_, Role::kResponder, t_));
  EXPECT_FALSE(r.consume_request(proto::ByteView(m1).first(proto::kTunnelHandshakeMinSize - 1)));
  // The untouched message still works after the failures: they left no state behind.
  ASSERT_TRUE(r.consume_request(m1));
}

TEST_F(TunnelHandshakeTest, AForgedResponseDoesNotSpoilTheRealOne) {
  TunnelHandshake i(params(a_, b_, Role::kInitiator, t_));
  TunnelHandshake r(params(b_, a_, Role::kResponder, t_));
  ASSERT_TRUE(r.consume_request(i.create_request(payload("request1"))));
  Bytes m2 = r.create_response(payload("response"));
  Bytes forged = m2;
  forged.back() ^= 1;
  EXPECT_FALSE(i.consume_response(forged));
  EXPECT_TRUE(i.consume_response(m2));
  EXPECT_FALSE(i.consume_response(m2)) << "a handshake completes once";
}

TEST_F(TunnelHandshakeTest, EveryHandshakeGivesFreshKeysAndRekeyChains) {
  auto [i1, r1] = run(t_);
  auto [i2, r2] = run(t_);  // the same T again (a replayed route direction): new keys anyway
  EXPECT_NE(i1->keys().send, i2->keys().send);
  EXPECT_NE(i1->rekey_secret(), i2->rekey_secret());
  // A rekey uses the previous rekey secret as its psk; T no longer works for it.
  auto [i3, r3] = run(i1->rekey_secret());
  EXPECT_EQ(i3->keys().send, r3->keys().recv);
  EXPECT_NE(i3->keys().send, i1->keys().send);
  TunnelHandshake stale(params(b_, a_, Role::kResponder, t_));
  TunnelHandshake rekey(params(a_, b_, Role::kInitiator, i1->rekey_secret()));
  EXPECT_FALSE(stale.consume_request(rekey.create_request(payload("request1"))));
}

TEST_F(TunnelHandshakeTest, ALowOrderPeerKeyMakesNoMessage) {
  TunnelHandshakeParams p = params(a_, b_, Role::kInitiator, t_);
  p.peer_static_public = Key{};  // the all-zero point
  TunnelHandshake i(p);
  EXPECT_TRUE(i.create_request(payload("request1")).empty());
}

}  // namespace
}  // namespace ntm::crypto
