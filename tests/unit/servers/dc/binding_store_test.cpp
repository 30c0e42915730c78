// vIP bindings that survive a DC restart (servers/dc/binding_store.*, vip_pool.*).
#include "dc/binding_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <filesystem>

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
  ASSERT_TRUE(s->put(AF_INET, id(1), a));
  ASSERT_TRUE(s->put(AF_INET, id(1), b));  // id 1 moves to b
  ASSERT_TRUE(s->put(AF_INET, id(2), a));
  ASSERT_TRUE(s->put(AF_INET, id(3), a));  // a moves from id 2 to id 3
  ASSERT_TRUE(s->put(AF_INET6, id(1), a));
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
  ASSERT_TRUE(s->put(AF_INET, id(9), outside));
  VipPool pool(*server::Cidr::parse("100.64.0.0/30"), s.get());
  auto a = pool.acquire(id(9));
  ASSERT_TRUE(a);
  EXPECT_NE(*a, outside) << "a binding from another pool configuration is not handed out";
}

TEST_F(BindingStoreTest, AnUnwritableLocationIsAClearError) {
  std::string error;
  EXPECT_FALSE(BindingStore::open(dir_ + "/missing/dir/dc.sqlite3", error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

}  // namespace
}  // namespace ntm::dc
