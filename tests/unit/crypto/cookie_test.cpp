// DoS protection of the node ⇄ DC handshake (docs/protocol.md §3.8): the DC can tell, with one
// BLAKE2b and no X25519, a message 1 from someone who knows its public key (mac1), and — once it
// handed out a cookie — one from someone who receives at the source address (mac2).
#include "crypto/cookie.h"

#include <gtest/gtest.h>

#include "crypto/handshake.h"

namespace ntm::crypto {
namespace {

class CookieTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init();
    dc_priv_ = random_private_key();
    dc_pub_ = public_key(dc_priv_);
  }
  proto::Bytes init_msg() {
    HandshakeInitiator i(random_private_key(), dc_pub_);
    return i.create_init(7);
  }
  Key dc_priv_, dc_pub_;
  proto::Endpoint from_ = *proto::Endpoint::parse("192.0.2.7:4000");
};

TEST_F(CookieTest, Mac1ProvesKnowledgeOfTheDcKey) {
  CookieChecker checker(dc_pub_);
  CookieGenerator node(dc_pub_);
  proto::Bytes m = init_msg();
  ASSERT_EQ(m.size(), proto::kHandshakeInitSize);
  EXPECT_FALSE(checker.check_mac1(m)) << "zero mac1";
  node.add_macs(m);
  EXPECT_TRUE(checker.check_mac1(m));
  CookieGenerator other(public_key(random_private_key()));  // someone with another DC's key
  proto::Bytes m2 = init_msg();
  other.add_macs(m2);
  EXPECT_FALSE(checker.check_mac1(m2));
  m[20] ^= 1;  // mac1 covers the message
  EXPECT_FALSE(checker.check_mac1(m));
}

TEST_F(CookieTest, Mac2NeedsACookieForThatAddress) {
  CookieChecker checker(dc_pub_);
  CookieGenerator node(dc_pub_);
  proto::Bytes m = init_msg();
  node.add_macs(m);
  EXPECT_FALSE(node.has_cookie());
  EXPECT_FALSE(checker.check_mac2(m, from_)) << "no cookie yet: mac2 is zero";
  proto::Bytes reply = checker.create_reply(m, from_);
  ASSERT_EQ(reply.size(), kCookieReplySize);
  EXPECT_EQ(reply[0], uint8_t(proto::PacketType::kCookieReply));
  EXPECT_EQ(proto::get_u32(&reply[4]), 7u);
  ASSERT_TRUE(node.consume_reply(reply));
  EXPECT_TRUE(node.has_cookie());
  proto::Bytes again = init_msg();
  node.add_macs(again);
  EXPECT_TRUE(checker.check_mac1(again));
  EXPECT_TRUE(checker.check_mac2(again, from_));
  // The cookie is bound to address and port: from elsewhere, mac2 is worthless.
  EXPECT_FALSE(checker.check_mac2(again, *proto::Endpoint::parse("192.0.2.7:4001")));
  EXPECT_FALSE(checker.check_mac2(again, *proto::Endpoint::parse("192.0.2.8:4000")));
}

TEST_F(CookieTest, ACookieReplyIsBoundToTheInitiationItAnswers) {
  CookieChecker checker(dc_pub_);
  CookieGenerator node(dc_pub_);
  proto::Bytes first = init_msg();
  node.add_macs(first);
  proto::Bytes reply = checker.create_reply(first, from_);
  proto::Bytes second = init_msg();
  node.add_macs(second);  // the node sent another initiation meanwhile: another mac1
  EXPECT_FALSE(node.consume_reply(reply)) << "its AD is the mac1 of the first";
  proto::Bytes tampered = checker.create_reply(second, from_);
  tampered[40] ^= 1;
  EXPECT_FALSE(node.consume_reply(tampered));
  EXPECT_FALSE(node.consume_reply(proto::ByteView(tampered).first(63)));
  EXPECT_FALSE(node.has_cookie());
  EXPECT_TRUE(node.consume_reply(checker.create_reply(second, from_)));
}

TEST_F(CookieTest, ANodeThatSentNothingAcceptsNoCookie) {
  CookieChecker checker(dc_pub_);
  CookieGenerator node(dc_pub_);
  proto::Bytes m = init_msg();
  EXPECT_FALSE(node.consume_reply(checker.create_reply(m, from_)));
}

}  // namespace
}  // namespace ntm::crypto
