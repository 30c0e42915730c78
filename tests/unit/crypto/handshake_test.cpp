// Noise IK between a node (initiator, DC key pinned) and its DC (responder). What both sides
// rely on: a completed handshake gives mirrored transport keys and the node's identity at the
// DC; nothing else completes it — not a wrong pinned key, not a changed byte of either message,
// not a response meant for another handshake — and a forged response does not spoil the
// genuine one that follows.
#include "crypto/handshake.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <vector>

#include "crypto/session.h"
#include "proto/messages.h"

namespace ntm::crypto {
namespace {

using proto::Bytes;

struct Party {
  Key priv, pub;
  static Party make() {
    Party p;
    p.priv = random_private_key();
    p.pub = public_key(p.priv);
    return p;
  }
};

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override { init(); }

  Party node_ = Party::make(), dc_ = Party::make();
  HandshakeInitiator initiator_{node_.priv, dc_.pub};
  HandshakeResponder responder_{dc_.priv};
};

TEST_F(HandshakeTest, MessagesHaveTheDocumentedLayout) {
  Bytes m1 = initiator_.create_init(0x01020304);
  ASSERT_EQ(m1.size(), proto::kHandshakeInitSize);
  EXPECT_EQ(m1.size(), 148u);  // 116 bytes of Noise IK, then mac1 and mac2 (zero here)
  EXPECT_EQ(m1[0], uint8_t(proto::PacketType::kHandshakeInit));
  EXPECT_EQ(m1[1] | m1[2] | m1[3], 0);
  EXPECT_EQ(proto::get_u32(&m1[4]), 0x01020304u);

  Bytes m2;
  auto r = responder_.consume_init(m1, 0x0a0b0c0d, m2);
  ASSERT_TRUE(r);
  ASSERT_EQ(m2.size(), proto::kHandshakeRespSize);
  EXPECT_EQ(m2.size(), 60u);
  EXPECT_EQ(m2[0], uint8_t(proto::PacketType::kHandshakeResp));
  EXPECT_EQ(m2[1] | m2[2] | m2[3], 0);
  EXPECT_EQ(proto::get_u32(&m2[4]), 0x0a0b0c0du);  // sender: the DC's index
  EXPECT_EQ(proto::get_u32(&m2[8]), 0x01020304u);  // receiver: the node's index
}

TEST_F(HandshakeTest, BothSidesDeriveMirroredKeysAndLearnEachOther) {
  Bytes m1 = initiator_.create_init(11), m2;
  auto at_dc = responder_.consume_init(m1, 22, m2);
  ASSERT_TRUE(at_dc);
  auto at_node = initiator_.consume_response(m2);
  ASSERT_TRUE(at_node);

  EXPECT_EQ(at_node->send_key, at_dc->recv_key);
  EXPECT_EQ(at_node->recv_key, at_dc->send_key);
  EXPECT_NE(at_node->send_key, at_node->recv_key);
  EXPECT_EQ(at_node->local_index, 11u);
  EXPECT_EQ(at_node->remote_index, 22u);
  EXPECT_EQ(at_dc->local_index, 22u);
  EXPECT_EQ(at_dc->remote_index, 11u);
  EXPECT_EQ(at_dc->remote_static, node_.pub);  // the node identity, learnt from message 1
  EXPECT_EQ(at_node->remote_static, dc_.pub);
  EXPECT_EQ(responder_.public_key(), dc_.pub);
}

TEST_F(HandshakeTest, EarlyDataReachesTheDcAndBelongsToTheTranscript) {
  // docs/protocol.md §3.2, §3.3 step 8a: the registration request rides in message 1.
  Bytes early(40, 0x5a), m2;
  Bytes m1 = initiator_.create_init(11, early);
  ASSERT_EQ(m1.size(), proto::kHandshakeInitSize + early.size() + proto::kTagSize);
  EXPECT_EQ(std::search(m1.begin(), m1.end(), early.begin(), early.end()), m1.end())
      << "early data is encrypted";
  auto at_dc = responder_.consume_init(m1, 22, m2);
  ASSERT_TRUE(at_dc);
  EXPECT_EQ(at_dc->early, early);
  auto at_node = initiator_.consume_response(m2);
  ASSERT_TRUE(at_node) << "both sides hashed the same early data";
  EXPECT_EQ(at_node->send_key, at_dc->recv_key);

  // Flipping a bit of it fails message 1; cutting it off leaves a message 1 whose message 2
  // the node refuses (its transcript has the early data, the DC's does not).
  HandshakeInitiator other(node_.priv, dc_.pub);
  Bytes tampered = other.create_init(12, early);
  tampered[proto::kHandshakeInitSize + 3] ^= 0x80;
  EXPECT_FALSE(responder_.consume_init(tampered, 23, m2));
  tampered[proto::kHandshakeInitSize + 3] ^= 0x80;
  tampered.resize(proto::kHandshakeInitSize);
  auto cut = responder_.consume_init(tampered, 24, m2);
  ASSERT_TRUE(cut);
  EXPECT_TRUE(cut->early.empty());
  EXPECT_FALSE(other.consume_response(m2));

  // Outside 8..1024 bytes no early data is sent; the responder refuses such sizes.
  EXPECT_EQ(initiator_.create_init(13, Bytes(7, 1)).size(), proto::kHandshakeInitSize);
  EXPECT_EQ(initiator_.create_init(14, Bytes(kEarlyDataMax + 1, 1)).size(),
            proto::kHandshakeInitSize);
  EXPECT_EQ(initiator_.create_init(15, Bytes(kEarlyDataMax, 1)).size(), kHandshakeInitMaxSize);
  Bytes short_early = initiator_.create_init(16);
  short_early.resize(short_early.size() + kEarlyDataMin + proto::kTagSize - 1, 0);
  EXPECT_FALSE(responder_.consume_init(short_early, 25, m2));
}

TEST_F(HandshakeTest, TransportKeysCarryControlPacketsBothWays) {
  Bytes m1 = initiator_.create_init(1), m2;
  auto at_dc = responder_.consume_init(m1, 2, m2);
  ASSERT_TRUE(at_dc);
  auto at_node = initiator_.consume_response(m2);
  ASSERT_TRUE(at_node);
  Session node(at_node->send_key, at_node->recv_key, at_node->remote_index);
  Session dc(at_dc->send_key, at_dc->recv_key, at_dc->remote_index);

  Bytes req = {1, 2, 3}, packet(3 + proto::kSealedOverhead), out(3);
  ASSERT_EQ(node.seal(proto::PacketType::kControl, req, packet.data()), Session::SealStatus::kOk);
  SealedHeader h;
  ASSERT_TRUE(parse_sealed_header(packet, h));
  EXPECT_EQ(h.receiver_index, 2u);  // addressed to the DC's index
  ASSERT_EQ(dc.open(h, packet, out.data()), Session::OpenStatus::kOk);
  EXPECT_EQ(out, req);

  ASSERT_EQ(dc.seal(proto::PacketType::kControl, req, packet.data()), Session::SealStatus::kOk);
  ASSERT_TRUE(parse_sealed_header(packet, h));
  EXPECT_EQ(h.receiver_index, 1u);
  EXPECT_EQ(node.open(h, packet, out.data()), Session::OpenStatus::kOk);
}

TEST_F(HandshakeTest, EachHandshakeGivesFreshKeys) {
  Bytes m2a, m2b;
  Bytes m1a = initiator_.create_init(1);
  auto a = responder_.consume_init(m1a, 2, m2a);
  Bytes m1b = initiator_.create_init(1);
  auto b = responder_.consume_init(m1b, 2, m2b);
  ASSERT_TRUE(a && b);
  EXPECT_NE(m1a, m1b);
  EXPECT_NE(a->send_key, b->send_key);
  EXPECT_NE(a->recv_key, b->recv_key);
}

TEST_F(HandshakeTest, DistinctNodesAreDistinctIdentities) {
  Party other = Party::make();
  HandshakeInitiator other_init(other.priv, dc_.pub);
  Bytes m2;
  auto r1 = responder_.consume_init(initiator_.create_init(1), 5, m2);
  auto r2 = responder_.consume_init(other_init.create_init(1), 6, m2);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->remote_static, node_.pub);
  EXPECT_EQ(r2->remote_static, other.pub);
}

TEST_F(HandshakeTest, TimestampIsMonotonicAndReplayKeepsIt) {
  // The DC refuses a message 1 whose timestamp is not newer than the last one from that node.
  Bytes m2;
  Bytes first = initiator_.create_init(1);
  Bytes second = initiator_.create_init(1);
  auto r1 = responder_.consume_init(first, 2, m2);
  auto r2 = responder_.consume_init(second, 2, m2);
  auto replay = responder_.consume_init(first, 3, m2);  // the responder itself is stateless
  ASSERT_TRUE(r1 && r2 && replay);
  EXPECT_LT(r1->timestamp, r2->timestamp);
  EXPECT_EQ(replay->timestamp, r1->timestamp);
  Timestamp now = now_timestamp();
  EXPECT_LE(r2->timestamp, now);
}

TEST_F(HandshakeTest, WrongPinnedDcKeyFails) {
  Party impostor = Party::make();
  HandshakeInitiator misconfigured(node_.priv, impostor.pub);
  Bytes m2;
  EXPECT_FALSE(responder_.consume_init(misconfigured.create_init(1), 2, m2));
  // ...and an impostor DC cannot answer a node that pinned the real key.
  HandshakeResponder fake_dc(impostor.priv);
  EXPECT_FALSE(fake_dc.consume_init(initiator_.create_init(1), 2, m2));
}

TEST_F(HandshakeTest, EveryTamperedByteOfMessage1Fails) {
  Bytes m1 = initiator_.create_init(7), m2;
  for (size_t i = 0; i < m1.size(); ++i) {
    if (i >= 4 && i < 8) continue;  // the sender index is not authenticated (as in WireGuard)
    if (i >= 116) continue;         // mac1/mac2: checked by the DC's CookieChecker, before
    Bytes bad = m1;
    bad[i] ^= 0x01;
    EXPECT_FALSE(responder_.consume_init(bad, 2, m2)) << "byte " << i;
  }
  EXPECT_FALSE(responder_.consume_init(Bytes(m1.begin(), m1.end() - 1), 2, m2));
  Bytes longer = m1;
  longer.push_back(0);
  EXPECT_FALSE(responder_.consume_init(longer, 2, m2));
  EXPECT_FALSE(responder_.consume_init({}, 2, m2));
  EXPECT_TRUE(responder_.consume_init(m1, 2, m2));
}

TEST_F(HandshakeTest, EveryTamperedByteOfMessage2FailsAndTheGenuineOneStillWorks) {
  Bytes m1 = initiator_.create_init(7), m2;
  ASSERT_TRUE(responder_.consume_init(m1, 9, m2));
  for (size_t i = 0; i < m2.size(); ++i) {
    if (i >= 4 && i < 8) continue;  // the sender index is not authenticated (as in WireGuard)
    if (i >= 116) continue;         // mac1/mac2: checked by the DC's CookieChecker, before
    Bytes bad = m2;
    bad[i] ^= 0x01;
    EXPECT_FALSE(initiator_.consume_response(bad)) << "byte " << i;
  }
  EXPECT_FALSE(initiator_.consume_response(Bytes(m2.begin(), m2.end() - 1)));
  Bytes longer = m2;
  longer.push_back(0);
  EXPECT_FALSE(initiator_.consume_response(longer));
  EXPECT_FALSE(initiator_.consume_response({}));
  auto r = initiator_.consume_response(m2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->remote_index, 9u);
}

TEST_F(HandshakeTest, ResponseForAnotherIndexFails) {
  Bytes m1 = initiator_.create_init(7), m2;
  ASSERT_TRUE(responder_.consume_init(m1, 9, m2));
  Bytes other = m2;
  proto::put_u32(&other[8], 8);  // receiver index of another handshake
  EXPECT_FALSE(initiator_.consume_response(other));
}

TEST_F(HandshakeTest, ResponseToAnEarlierInitiationFails) {
  // The node retransmitted message 1 with a new ephemeral key; the answer to the first one
  // is stale and must not complete the second.
  Bytes first = initiator_.create_init(7), m2_first;
  ASSERT_TRUE(responder_.consume_init(first, 9, m2_first));
  Bytes second = initiator_.create_init(7), m2_second;
  ASSERT_TRUE(responder_.consume_init(second, 9, m2_second));
  EXPECT_FALSE(initiator_.consume_response(m2_first));
  EXPECT_TRUE(initiator_.consume_response(m2_second));
}

TEST_F(HandshakeTest, ResponseMeantForAnotherNodeFails) {
  Party other = Party::make();
  HandshakeInitiator other_init(other.priv, dc_.pub);
  initiator_.create_init(7);
  Bytes m2;
  ASSERT_TRUE(responder_.consume_init(other_init.create_init(7), 9, m2));  // same index
  EXPECT_FALSE(initiator_.consume_response(m2));
  EXPECT_TRUE(other_init.consume_response(m2));
}

TEST_F(HandshakeTest, LowOrderEphemeralRefused) {
  Bytes m1 = initiator_.create_init(7), m2;
  std::fill(m1.begin() + 8, m1.begin() + 40, 0);  // e = 0
  EXPECT_FALSE(responder_.consume_init(m1, 9, m2));
  Bytes good = initiator_.create_init(7);
  ASSERT_TRUE(responder_.consume_init(good, 9, m2));
  std::fill(m2.begin() + 12, m2.begin() + 44, 0);
  EXPECT_FALSE(initiator_.consume_response(m2));
}

// The DC ⇄ DC variant (kDcDcHandshake): the same pattern, with its own prologue and types.
TEST_F(HandshakeTest, DcVariantWithEarlyDataCompletes) {
  Party dc_mn = Party::make(), dc_cn = Party::make();
  HandshakeInitiator init(dc_mn.priv, dc_cn.pub, kDcDcHandshake);
  HandshakeResponder resp(dc_cn.priv, kDcDcHandshake);
  Bytes early(40);
  for (size_t i = 0; i < early.size(); ++i) early[i] = uint8_t(i * 7);
  Bytes m1 = init.create_init(0x0d0c0001, early), m2;
  ASSERT_EQ(m1.size(), proto::kHandshakeInitSize + early.size() + proto::kTagSize);
  EXPECT_EQ(m1[0], uint8_t(proto::PacketType::kDcHandshakeInit));
  EXPECT_EQ(m1[0], 0x10);
  auto at_cn = resp.consume_init(m1, 0x0d0c0002, m2);
  ASSERT_TRUE(at_cn);
  EXPECT_EQ(at_cn->early, early);
  EXPECT_EQ(at_cn->remote_static, dc_mn.pub);
  ASSERT_EQ(m2.size(), proto::kHandshakeRespSize);
  EXPECT_EQ(m2[0], uint8_t(proto::PacketType::kDcHandshakeResp));
  EXPECT_EQ(m2[0], 0x11);
  auto at_mn = init.consume_response(m2);
  ASSERT_TRUE(at_mn);
  EXPECT_EQ(at_mn->send_key, at_cn->recv_key);
  EXPECT_EQ(at_mn->recv_key, at_cn->send_key);
  EXPECT_EQ(at_mn->remote_index, 0x0d0c0002u);
}

TEST_F(HandshakeTest, VariantsDoNotCompleteWithEachOther) {
  // Same keys on both sides; only the variant differs.
  HandshakeInitiator node_init(node_.priv, dc_.pub, kNodeDcHandshake);
  HandshakeInitiator dc_init(node_.priv, dc_.pub, kDcDcHandshake);
  HandshakeResponder node_resp(dc_.priv, kNodeDcHandshake);
  HandshakeResponder dc_resp(dc_.priv, kDcDcHandshake);
  Bytes m2;
  // As sent: the type byte alone refuses them.
  EXPECT_FALSE(dc_resp.consume_init(node_init.create_init(1), 2, m2));
  EXPECT_FALSE(node_resp.consume_init(dc_init.create_init(1), 2, m2));
  // With the type byte rewritten to the other variant's: the prologue refuses them.
  Bytes m1 = node_init.create_init(1);
  m1[0] = uint8_t(proto::PacketType::kDcHandshakeInit);
  EXPECT_FALSE(dc_resp.consume_init(m1, 2, m2));
  m1 = dc_init.create_init(1);
  m1[0] = uint8_t(proto::PacketType::kHandshakeInit);
  EXPECT_FALSE(node_resp.consume_init(m1, 2, m2));
  // Message 2 of one variant does not complete an initiator of the other.
  ASSERT_TRUE(node_resp.consume_init(node_init.create_init(3), 4, m2));
  m2[0] = uint8_t(proto::PacketType::kDcHandshakeResp);
  dc_init.create_init(3);
  EXPECT_FALSE(dc_init.consume_response(m2));
  // Each variant still completes with its own kind.
  Bytes good = dc_init.create_init(5);
  ASSERT_TRUE(dc_resp.consume_init(good, 6, m2));
  EXPECT_TRUE(dc_init.consume_response(m2));
}

}  // namespace
}  // namespace ntm::crypto
