// Cidr: the vIP pools in the DC configuration. A typo in a prefix must be refused at start-up
// rather than become a pool that hands out addresses outside the operator's network.
#include "common/cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

namespace ntm::server {
namespace {

std::string address(const Cidr& c, const std::array<uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(c.family, a.data(), buf, sizeof buf);
}

TEST(CidrTest, ParsesIpv4) {
  auto c = Cidr::parse("100.64.0.0/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->family, AF_INET);
  EXPECT_EQ(c->prefix_len, 24u);
  EXPECT_EQ(c->address_bits(), 32u);
  EXPECT_EQ(c->host_bits(), 8u);
  EXPECT_EQ(c->to_string(), "100.64.0.0/24");
}

TEST(CidrTest, ParsesIpv6) {
  auto c = Cidr::parse("fd00:6e74::/112");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->family, AF_INET6);
  EXPECT_EQ(c->prefix_len, 112u);
  EXPECT_EQ(c->address_bits(), 128u);
  EXPECT_EQ(c->host_bits(), 16u);
  EXPECT_EQ(c->to_string(), "fd00:6e74::/112");
}

TEST(CidrTest, AcceptsTheWholeLengthRange) {
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0"));
  EXPECT_TRUE(Cidr::parse("10.1.2.3/32"));
  EXPECT_TRUE(Cidr::parse("::/0"));
  EXPECT_TRUE(Cidr::parse("fd00::1/128"));
  EXPECT_TRUE(Cidr::parse("10.0.0.0/008"));  // leading zeros are still a number
}

TEST(CidrTest, RefusesBadSyntax) {
  for (const char* text :
       {"", "/", "10.0.0.0", "10.0.0.0/", "/24", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/1000", "10.0.0/8", "10.0.0.256/32", "fd00::/129",
        "fd00:::/64", "[fd00::]/64", "example.com/24", "10.0.0.0 /8"}) {
    EXPECT_FALSE(Cidr::parse(text)) << "'" << text << "'";
  }
}

TEST(CidrTest, RefusesHostBitsSet) {
  EXPECT_FALSE(Cidr::parse("100.64.0.1/24"));
  EXPECT_FALSE(Cidr::parse("100.64.0.129/25"));
  EXPECT_TRUE(Cidr::parse("100.64.0.128/25"));
  EXPECT_FALSE(Cidr::parse("100.64.1.0/23"));
  EXPECT_FALSE(Cidr::parse("128.0.0.0/0"));
  EXPECT_FALSE(Cidr::parse("fd00:6e74::1/112"));
  EXPECT_FALSE(Cidr::parse("fd00:6e74::8000/112"));
  EXPECT_TRUE(Cidr::parse("fd00:6e74::1:0/112"));
  EXPECT_FALSE(Cidr::parse("fd00:6e74::1:0/111"));
  EXPECT_TRUE(Cidr::parse("fd00:6e74::2:0/111"));
}

TEST(CidrTest, AtAddsTheOffsetInNetworkByteOrder) {
  auto c = *Cidr::parse("100.64.0.0/16");
  EXPECT_EQ(address(c, c.at(0)), "100.64.0.0");
  EXPECT_EQ(address(c, c.at(1)), "100.64.0.1");
  EXPECT_EQ(address(c, c.at(255)), "100.64.0.255");
  EXPECT_EQ(address(c, c.at(256)), "100.64.1.0");  // carries into the next byte
  EXPECT_EQ(address(c, c.at(0xfffe)), "100.64.255.254");
  auto unaligned = *Cidr::parse("10.0.0.192/26");
  EXPECT_EQ(address(unaligned, unaligned.at(63)), "10.0.0.255");
}

TEST(CidrTest, AtOnIpv6) {
  auto c = *Cidr::parse("fd00:6e74::/64");
  EXPECT_EQ(address(c, c.at(1)), "fd00:6e74::1");
  EXPECT_EQ(address(c, c.at(0x10000)), "fd00:6e74::1:0");
  EXPECT_EQ(address(c, c.at(0xffffffffffffffffull)), "fd00:6e74::ffff:ffff:ffff:ffff");
  auto small = *Cidr::parse("fd00::ff00/120");
  EXPECT_EQ(address(small, small.at(0xff)), "fd00::ffff");
}

}  // namespace
}  // namespace ntm::server
