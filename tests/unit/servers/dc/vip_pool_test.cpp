// VipPool (paper 002 §2.2: vIPs "without address duplication"): every address handed out lies
// inside the prefix, is never the network or broadcast address, and belongs to one live node at
// a time; a node keeps its vIP across re-registrations; released addresses are recycled only
// when no never-used one is left, oldest release first.
#include "dc/vip_pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <map>
#include <set>
#include <string>

namespace ntm::dc {
namespace {

crypto::Key id(uint32_t n) {
  crypto::Key k{};
  k[0] = uint8_t(n >> 24);
  k[1] = uint8_t(n >> 16);
  k[2] = uint8_t(n >> 8);
  k[3] = uint8_t(n);
  k[31] = 0x5a;
  return k;
}

server::Cidr cidr(const char* text) {
  auto c = server::Cidr::parse(text);
  EXPECT_TRUE(c) << text;
  return c.value_or(server::Cidr{});
}

std::string v4(const Address& a) {
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, a.data(), buf, sizeof buf);
}

bool inside(const server::Cidr& c, const Address& a) {
  for (unsigned bit = 0; bit < c.prefix_len; ++bit) {
    uint8_t mask = uint8_t(0x80 >> (bit % 8));
    if ((a[bit / 8] & mask) != (c.base[bit / 8] & mask)) return false;
  }
  return true;
}

TEST(VipPoolTest, CapacityExcludesNetworkAndBroadcast) {
  EXPECT_EQ(VipPool(cidr("100.64.0.0/24")).capacity(), 254u);
  EXPECT_EQ(VipPool(cidr("100.64.0.0/30")).capacity(), 2u);
  EXPECT_EQ(VipPool(cidr("100.64.0.0/10")).capacity(), (1u << 22) - 2);
  EXPECT_EQ(VipPool(cidr("fd00::/112")).capacity(), 65535u);           // no broadcast in IPv6
  EXPECT_EQ(VipPool(cidr("fd00::/64")).capacity(), (1ull << 62) - 1);  // bounded, no overflow
}

TEST(VipPoolTest, WholePoolWithoutDuplicatesThenExhausted) {
  server::Cidr c = cidr("100.64.4.0/22");
  VipPool pool(c);
  std::set<Address> seen;
  for (uint32_t n = 0; n < pool.capacity(); ++n) {
    auto a = pool.acquire(id(n));
    ASSERT_TRUE(a) << "node " << n;
    ASSERT_TRUE(seen.insert(*a).second) << "duplicate " << v4(*a);
    ASSERT_TRUE(inside(c, *a)) << v4(*a);
  }
  EXPECT_EQ(seen.size(), 1022u);
  EXPECT_FALSE(seen.count(c.at(0))) << "network address handed out";
  EXPECT_FALSE(seen.count(c.at(1023))) << "broadcast address handed out";
  EXPECT_FALSE(pool.acquire(id(5000)));
  EXPECT_FALSE(pool.acquire(id(5001)));
}

TEST(VipPoolTest, Ipv6PoolWithoutDuplicates) {
  server::Cidr c = cidr("fd00:6e74::/118");
  VipPool pool(c);
  std::set<Address> seen;
  for (uint32_t n = 0; n < pool.capacity(); ++n) {
    auto a = pool.acquire(id(n));
    ASSERT_TRUE(a);
    ASSERT_TRUE(seen.insert(*a).second);
    ASSERT_TRUE(inside(c, *a));
  }
  EXPECT_EQ(seen.size(), 1023u);
  EXPECT_TRUE(seen.count(c.at(1023)));  // the last one is an ordinary address in IPv6
  EXPECT_FALSE(pool.acquire(id(9999)));
}

TEST(VipPoolTest, SameIdentityGetsTheSameVip) {
  VipPool pool(cidr("100.64.0.0/24"));
  auto a = pool.acquire(id(1));
  auto b = pool.acquire(id(2));
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pool.acquire(id(1)), a);
  EXPECT_EQ(pool.acquire(id(2)), b);
  EXPECT_EQ(v4(*a), "100.64.0.1");
  EXPECT_EQ(v4(*pool.acquire(id(3))), "100.64.0.3");  // re-acquiring used no address up
}

TEST(VipPoolTest, ReleasedVipComesBackToItsOwner) {
  VipPool pool(cidr("100.64.0.0/24"));
  auto a = pool.acquire(id(1));
  pool.release(id(1));
  pool.acquire(id(2));
  EXPECT_EQ(pool.acquire(id(1)), a);  // sticky across an expired registration
}

TEST(VipPoolTest, ReleasedVipsReusedOnlyAfterFreshOnesRunOut) {
  VipPool pool(cidr("100.64.0.0/29"));  // 6 addresses
  std::map<uint32_t, Address> got;
  for (uint32_t n = 1; n <= 4; ++n) got[n] = *pool.acquire(id(n));
  pool.release(id(1));
  auto fresh5 = pool.acquire(id(5));
  auto fresh6 = pool.acquire(id(6));
  ASSERT_TRUE(fresh5 && fresh6);
  for (uint32_t n = 1; n <= 4; ++n) {
    EXPECT_NE(*fresh5, got[n]);
    EXPECT_NE(*fresh6, got[n]);
  }
  auto recycled = pool.acquire(id(7));
  ASSERT_TRUE(recycled);
  EXPECT_EQ(*recycled, got[1]);
  // Node 1 lost its binding; with nothing left it gets nothing rather than node 7's address.
  EXPECT_FALSE(pool.acquire(id(1)));
}

TEST(VipPoolTest, OldestReleaseRecycledFirst) {
  VipPool pool(cidr("100.64.0.0/29"));
  std::map<uint32_t, Address> got;
  for (uint32_t n = 1; n <= 6; ++n) got[n] = *pool.acquire(id(n));
  pool.release(id(3));
  pool.release(id(1));
  pool.release(id(5));
  EXPECT_EQ(pool.acquire(id(10)), got[3]);
  EXPECT_EQ(pool.acquire(id(11)), got[1]);
  EXPECT_EQ(pool.acquire(id(12)), got[5]);
  EXPECT_FALSE(pool.acquire(id(13)));
}

TEST(VipPoolTest, LiveOwnersVipIsNeverHandedOut) {
  VipPool pool(cidr("100.64.0.0/29"));
  std::set<Address> all;
  for (uint32_t n = 1; n <= 6; ++n) all.insert(*pool.acquire(id(n)));
  EXPECT_FALSE(pool.acquire(id(7)));  // full and nobody released

  pool.release(id(2));
  pool.acquire(id(2));  // node 2 registered again before anyone needed its address
  EXPECT_FALSE(pool.acquire(id(7)));

  pool.release(id(4));
  pool.release(id(4));  // a double release must not free the address twice
  auto a7 = pool.acquire(id(7));
  ASSERT_TRUE(a7);
  EXPECT_FALSE(pool.acquire(id(8)));
  // Still one owner per address.
  std::set<Address> owned;
  for (uint32_t n : {1, 2, 3, 5, 6, 7}) EXPECT_TRUE(owned.insert(*pool.acquire(id(n))).second);
  EXPECT_EQ(owned, all);
}

TEST(VipPoolTest, ReleaseOfUnknownIdentityIsHarmless) {
  VipPool pool(cidr("100.64.0.0/30"));
  pool.release(id(42));
  auto a = pool.acquire(id(1)), b = pool.acquire(id(2));
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(pool.acquire(id(3)));
}

TEST(VipPoolTest, PoolWithoutHostAddressesIsEmpty) {
  VipPool p31(cidr("100.64.0.0/31"));
  EXPECT_EQ(p31.capacity(), 0u);
  EXPECT_FALSE(p31.acquire(id(1)));
  VipPool p128(cidr("fd00::/128"));
  EXPECT_EQ(p128.capacity(), 0u);
  EXPECT_FALSE(p128.acquire(id(1)));
}

TEST(VipPoolTest, Ipv4Slash32HasNoAddressesToGive) {
  server::Cidr c = cidr("100.64.0.0/32");
  VipPool pool(c);
  EXPECT_EQ(pool.capacity(), 0u);
  auto a = pool.acquire(id(1));
  EXPECT_FALSE(a) << "handed out " << v4(*a) << " outside " << c.to_string();
}

}  // namespace
}  // namespace ntm::dc
