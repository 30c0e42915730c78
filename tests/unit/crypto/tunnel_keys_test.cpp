// Tunnel keys (docs/protocol.md §7): the two nodes of a direction derive mirrored control keys
// from the temporal key alone and mirrored data keys from it plus the ephemeral exchange; a
// low-order ephemeral from a hostile peer is refused instead of giving predictable keys.
#include "crypto/tunnel_keys.h"

#include <gtest/gtest.h>

namespace ntm::crypto {
namespace {

using proto::Role;

Key filled(uint8_t v) {
  Key k;
  k.fill(v);
  return k;
}

class TunnelKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init();
    ei_priv_ = random_private_key();
    er_priv_ = random_private_key();
    ei_pub_ = public_key(ei_priv_);
    er_pub_ = public_key(er_priv_);
  }
  Key temporal_ = filled(0x7e);
  Key ei_priv_, ei_pub_, er_priv_, er_pub_;
};

TEST_F(TunnelKeysTest, ControlKeysMirrorBetweenRoles) {
  DirectionalKeys i = tunnel_control_keys(temporal_, Role::kInitiator);
  DirectionalKeys r = tunnel_control_keys(temporal_, Role::kResponder);
  EXPECT_EQ(i.send, r.recv);  // tunnel request
  EXPECT_EQ(i.recv, r.send);  // tunnel response
  EXPECT_NE(i.send, i.recv);
  EXPECT_NE(i.send, temporal_);
}

TEST_F(TunnelKeysTest, ControlKeysDependOnTheTemporalKey) {
  DirectionalKeys a = tunnel_control_keys(temporal_, Role::kInitiator);
  DirectionalKeys b = tunnel_control_keys(filled(0x7f), Role::kInitiator);
  EXPECT_NE(a.send, b.send);
  EXPECT_NE(a.recv, b.recv);
}

TEST_F(TunnelKeysTest, DataKeysMirrorBetweenRoles) {
  DirectionalKeys i, r;
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, er_pub_, i));
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kResponder, er_priv_, er_pub_, ei_pub_, r));
  EXPECT_EQ(i.send, r.recv);  // Di2r
  EXPECT_EQ(i.recv, r.send);  // Dr2i
  EXPECT_NE(i.send, i.recv);
  DirectionalKeys c = tunnel_control_keys(temporal_, Role::kInitiator);
  EXPECT_NE(i.send, c.send);  // data never sealed with control keys
  EXPECT_NE(i.recv, c.recv);
}

TEST_F(TunnelKeysTest, DataKeysNeedTheSameTemporalKeyAndFreshEphemerals) {
  DirectionalKeys a, b, c;
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, er_pub_, a));
  ASSERT_TRUE(tunnel_data_keys(filled(1), Role::kResponder, er_priv_, er_pub_, ei_pub_, b));
  EXPECT_NE(a.send, b.recv);
  Key other_priv = random_private_key(), other_pub = public_key(other_priv);
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, other_pub, c));
  EXPECT_NE(a.send, c.send);
}

TEST_F(TunnelKeysTest, RolesMustDiffer) {
  // Both sides believing they are the initiator (a confused route direction) fails closed.
  DirectionalKeys x, y;
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, er_pub_, x));
  ASSERT_TRUE(tunnel_data_keys(temporal_, Role::kInitiator, er_priv_, er_pub_, ei_pub_, y));
  EXPECT_NE(x.send, y.recv);
}

TEST_F(TunnelKeysTest, LowOrderPeerEphemeralRefused) {
  DirectionalKeys out{filled(0x55), filled(0x66)};
  EXPECT_FALSE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, Key{}, out));
  EXPECT_FALSE(tunnel_data_keys(temporal_, Role::kResponder, er_priv_, er_pub_, Key{}, out));
  Key one{};
  one[0] = 1;
  EXPECT_FALSE(tunnel_data_keys(temporal_, Role::kInitiator, ei_priv_, ei_pub_, one, out));
  EXPECT_EQ(out.send, filled(0x55));  // left as it was
  EXPECT_EQ(out.recv, filled(0x66));
}

}  // namespace
}  // namespace ntm::crypto
