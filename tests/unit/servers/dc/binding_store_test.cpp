// vIP bindings that survive a DC restart (servers/dc/binding_store.*, vip_pool.*).
#include "dc/binding_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <filesystem>
#include <map>

#include "dc/vip_pool.h"

namespace ntm::dc {
namespace {

crypto::Key id(uint8_t n) {
  crypto::Key k{};
  k.fill(n);
  return k;
}

class BindingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ntm-bindings.XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<BindingStore> open() {
    std::string error;
    auto s = BindingStore::open(dir_ + "/dc.sqlite3", error);
    EXPECT_TRUE(s) << error;
    return s;
  }
  std::string dir_;
};

TEST_F(BindingStoreTest, PutReplacesTheIdentitysOldVipAndTheVipsOldHolder) {
  auto s = open();
  Address a{1}, b{2};
  s->put(AF_INET, id(1), a);
  s->put(AF_INET, id(1), b);  // id 1 moves to b
  s->put(AF_INET, id(2), a);
  s->put(AF_INET, id(3), a);  // a moves from id 2 to id 3
  s->put(AF_INET6, id(1), a);
  s->flush();
  EXPECT_EQ(s->dropped(), 0u);
  auto v4 = s->load(AF_INET);
  ASSERT_EQ(v4.size(), 2u);
  std::map<crypto::Key, Address> m;
  for (auto& x : v4) m[x.identity] = x.vip;
  EXPECT_EQ(m[id(1)], b);
  EXPECT_EQ(m[id(3)], a);
  EXPECT_EQ(s->load(AF_INET6).size(), 1u);
}

TEST_F(BindingStoreTest, PoolsGiveTheSameVipsAfterARestartAndNeverReuseThemFirst) {
  auto cidr = *server::Cidr::parse("100.64.0.0/29");  // 6 host addresses
  Address first, second;
  {
    auto s = open();
    VipPool pool(cidr, s.get());
    first = *pool.acquire(id(1));
    second = *pool.acquire(id(2));
  }  // the DC stops
  auto s = open();
  VipPool pool(cidr, s.get());
  auto newcomer = pool.acquire(id(3));  // registers first after the restart
  ASSERT_TRUE(newcomer);
  EXPECT_NE(*newcomer, first);
  EXPECT_NE(*newcomer, second);
  EXPECT_EQ(pool.acquire(id(2)), second);
  EXPECT_EQ(pool.acquire(id(1)), first);
}

TEST_F(BindingStoreTest, RowsOutsideThePoolAreIgnored) {
  auto s = open();
  Address outside{};
  inet_pton(AF_INET, "10.0.0.1", outside.data());
  s->put(AF_INET, id(9), outside);
  s->flush();
  VipPool pool(*server::Cidr::parse("100.64.0.0/30"), s.get());
  auto a = pool.acquire(id(9));
  ASSERT_TRUE(a);
  EXPECT_NE(*a, outside) << "a binding from another pool configuration is not handed out";
}

TEST_F(BindingStoreTest, WritesQueuedBeforeStopSurviveIt) {
  {
    auto s = open();
    for (uint8_t i = 1; i <= 200; ++i) s->put(AF_INET, id(i), Address{i});
  }  // no flush: the destructor commits what is queued
  EXPECT_EQ(open()->load(AF_INET).size(), 200u);
}

TEST_F(BindingStoreTest, HandshakeTimestampsAndLastSeenRoundTrip) {
  crypto::Timestamp t1{}, t2{};
  t1[7] = 1;
  t2[7] = 2;
  {
    auto s = open();
    s->touch(id(1), t1, 1000);
    s->touch(id(2), t1, 2000);
    s->touch(id(1), t2, 3000);  // a later handshake replaces the row
    s->touch(id(3), t1, 4000);
    s->forget(id(3));
  }
  auto rows = open()->load_identities();
  ASSERT_EQ(rows.size(), 2u);
  std::map<crypto::Key, BindingStore::IdentityRow> m;
  for (auto& r : rows) m[r.identity] = r;
  ASSERT_TRUE(m[id(1)].handshake);
  EXPECT_EQ(*m[id(1)].handshake, t2);
  EXPECT_EQ(m[id(1)].last_seen, 3000);
  EXPECT_EQ(m[id(2)].last_seen, 2000);
}

TEST_F(BindingStoreTest, UnseenBindingsAreReclaimedAndTheirAddressesReused) {
  auto cidr = *server::Cidr::parse("100.64.0.0/30");  // 2 host addresses
  auto s = open();
  VipPool pool(cidr, s.get());
  Address a1 = *pool.acquire(id(1)), a2 = *pool.acquire(id(2));
  pool.seen(id(1), 1000);
  pool.seen(id(2), 5000);
  EXPECT_TRUE(pool.reclaim(4000).empty()) << "live bindings are never reclaimed";
  pool.release(id(1));
  pool.release(id(2));
  auto gone = pool.reclaim(4000);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], id(1));
  EXPECT_EQ(pool.bindings(), 1u);
  EXPECT_EQ(pool.acquire(id(3)), a1) << "the reclaimed address is free again";
  EXPECT_EQ(pool.acquire(id(2)), a2) << "the recent binding is kept";
  s->flush();
  auto rows = s->load(AF_INET);
  ASSERT_EQ(rows.size(), 2u);  // id 1's row is gone, id 3 holds a1
  for (auto& r : rows) EXPECT_NE(r.identity, id(1));
}

TEST_F(BindingStoreTest, AnIpv6PoolStaysBoundedByReclaiming) {
  // An IPv6 pool never runs out of fresh addresses, so without reclaiming every identity ever
  // seen would keep a binding (finding 6 of issue 6).
  auto s = open();
  VipPool pool(*server::Cidr::parse("fd00:6e74::/64"), s.get());
  for (uint8_t i = 1; i <= 100; ++i) {
    ASSERT_TRUE(pool.acquire(id(i)));
    pool.seen(id(i), 1000);
    pool.release(id(i));
  }
  EXPECT_EQ(pool.bindings(), 100u);
  EXPECT_EQ(pool.reclaim(2000).size(), 100u);
  EXPECT_EQ(pool.bindings(), 0u);
  s->flush();
  EXPECT_TRUE(s->load(AF_INET6).empty());
}

TEST_F(BindingStoreTest, AnUnwritableLocationIsAClearError) {
  std::string error;
  EXPECT_FALSE(BindingStore::open(dir_ + "/missing/dir/dc.sqlite3", error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

}  // namespace
}  // namespace ntm::dc
