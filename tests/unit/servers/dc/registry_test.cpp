// Registry: the DC's node database. A direction request finds its CN by FQDN or vIP, so a name
// belongs to one node identity at a time, names are DNS labels, and a node that stopped sending
// keep-alives gives its name back.
#include "dc/registry.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "printers.h"

#include <string>

namespace ntm::dc {
namespace {

using namespace std::chrono_literals;

crypto::Key id(uint8_t n) {
  crypto::Key k{};
  k.fill(n);
  return k;
}

Address v4(const char* text) {
  Address a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
  return a;
}

Address v6(const char* text) {
  Address a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

class RegistryTest : public ::testing::Test {
 protected:
  Registry::Result reg(uint8_t who, const std::string& name, Clock::duration lifetime = 60s,
                       NodeRecord** out = nullptr) {
    NodeRecord* r = nullptr;
    auto res = registry_.register_node(id(who), name, t0_ + lifetime, &r);
    if (out) *out = r;
    return res;
  }

  Clock::time_point t0_ = Clock::now();
  Registry registry_{server::Cidr::parse("100.64.0.0/24"), server::Cidr::parse("fd00:6e74::/112"),
                     "dc1.ntm.test"};
};

TEST_F(RegistryTest, RegisterThenFindByIdentityFqdnAndVip) {
  NodeRecord* r = nullptr;
  ASSERT_EQ(reg(1, "mn1", 60s, &r), Registry::Result::kOk);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->identity, id(1));
  EXPECT_EQ(r->name, "mn1");
  EXPECT_EQ(r->fqdn, "mn1.dc1.ntm.test");
  ASSERT_TRUE(r->vip4 && r->vip6);
  EXPECT_EQ(*r->vip4, v4("100.64.0.1"));
  EXPECT_EQ(*r->vip6, v6("fd00:6e74::1"));
  EXPECT_EQ(r->expires, t0_ + 60s);

  EXPECT_EQ(registry_.find(id(1)), r);
  EXPECT_EQ(registry_.find_fqdn("mn1.dc1.ntm.test"), r);
  EXPECT_EQ(registry_.find_vip(v4("100.64.0.1"), false), r);
  EXPECT_EQ(registry_.find_vip(v6("fd00:6e74::1"), true), r);
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_EQ(registry_.domain(), "dc1.ntm.test");
}

TEST_F(RegistryTest, LookupsOfUnknownKeysFindNothing) {
  ASSERT_EQ(reg(1, "mn1"), Registry::Result::kOk);
  EXPECT_EQ(registry_.find(id(2)), nullptr);
  EXPECT_EQ(registry_.find_fqdn("mn1"), nullptr);  // an FQDN, not a bare name
  EXPECT_EQ(registry_.find_fqdn("mn2.dc1.ntm.test"), nullptr);
  EXPECT_EQ(registry_.find_vip(v4("100.64.0.2"), false), nullptr);
  EXPECT_EQ(registry_.find_vip(v4("100.64.0.1"), true), nullptr);  // the family matters
  EXPECT_EQ(registry_.find_vip(v6("fd00:6e74::2"), true), nullptr);
}

TEST_F(RegistryTest, DistinctNodesGetDistinctVips) {
  NodeRecord *a = nullptr, *b = nullptr;
  ASSERT_EQ(reg(1, "mn1", 60s, &a), Registry::Result::kOk);
  ASSERT_EQ(reg(2, "cn1", 60s, &b), Registry::Result::kOk);
  EXPECT_NE(*a->vip4, *b->vip4);
  EXPECT_NE(*a->vip6, *b->vip6);
  EXPECT_EQ(registry_.find_vip(*b->vip4, false), b);
  EXPECT_EQ(registry_.size(), 2u);
}

TEST_F(RegistryTest, ReRegistrationRefreshesTheSameRecord) {
  NodeRecord *first = nullptr, *again = nullptr;
  ASSERT_EQ(reg(1, "mn1", 60s, &first), Registry::Result::kOk);
  Address vip = *first->vip4;
  ASSERT_EQ(reg(1, "mn1", 120s, &again), Registry::Result::kOk);
  EXPECT_EQ(again, first);
  EXPECT_EQ(*again->vip4, vip);
  EXPECT_EQ(again->expires, t0_ + 120s);
  EXPECT_EQ(registry_.size(), 1u);
}

TEST_F(RegistryTest, NameTakenByAnotherIdentity) {
  ASSERT_EQ(reg(1, "mn1"), Registry::Result::kOk);
  NodeRecord* r = nullptr;
  EXPECT_EQ(reg(2, "mn1", 60s, &r), Registry::Result::kNameTaken);
  EXPECT_EQ(registry_.find_fqdn("mn1.dc1.ntm.test")->identity, id(1));
  EXPECT_EQ(registry_.find(id(2)), nullptr);  // nothing half-registered
  EXPECT_EQ(registry_.size(), 1u);
}

TEST_F(RegistryTest, InvalidLabelsRefused) {
  for (const std::string& name :
       {std::string(), std::string("-mn"), std::string("mn-"), std::string("-"), std::string("MN1"),
        std::string("mn.1"), std::string("mn_1"), std::string("mn 1"), std::string("m\xc3\xa9"),
        std::string("mn1\n"), std::string(64, 'a'), std::string("mn\0", 3)}) {
    EXPECT_FALSE(Registry::valid_label(name)) << "'" << name << "'";
    EXPECT_EQ(reg(1, name), Registry::Result::kInvalidName) << "'" << name << "'";
  }
  EXPECT_EQ(registry_.size(), 0u);
  for (const std::string& name : {std::string("a"), std::string("0"), std::string("mn-1"),
                                  std::string("a--b"), std::string(63, 'z')}) {
    EXPECT_TRUE(Registry::valid_label(name)) << name;
  }
  EXPECT_EQ(reg(1, std::string(63, 'z')), Registry::Result::kOk);
}

TEST_F(RegistryTest, RenameFreesTheOldName) {
  ASSERT_EQ(reg(1, "old"), Registry::Result::kOk);
  Address vip = *registry_.find(id(1))->vip4;
  ASSERT_EQ(reg(1, "new"), Registry::Result::kOk);
  EXPECT_EQ(registry_.find_fqdn("old.dc1.ntm.test"), nullptr);
  ASSERT_NE(registry_.find_fqdn("new.dc1.ntm.test"), nullptr);
  EXPECT_EQ(*registry_.find_fqdn("new.dc1.ntm.test")->vip4, vip);
  EXPECT_EQ(reg(2, "old"), Registry::Result::kOk);
  EXPECT_EQ(registry_.size(), 2u);
}

TEST_F(RegistryTest, ExpiryRemovesTheRecordAndFreesTheName) {
  ASSERT_EQ(reg(1, "mn1", 10s), Registry::Result::kOk);
  ASSERT_EQ(reg(2, "cn1", 100s), Registry::Result::kOk);
  EXPECT_TRUE(registry_.expire(t0_ + 10s).empty());  // not before its lifetime ended

  auto gone = registry_.expire(t0_ + 11s);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].identity, id(1));
  EXPECT_EQ(gone[0].fqdn, "mn1.dc1.ntm.test");
  EXPECT_EQ(registry_.find(id(1)), nullptr);
  EXPECT_EQ(registry_.find_fqdn("mn1.dc1.ntm.test"), nullptr);
  EXPECT_EQ(registry_.find_vip(*gone[0].vip4, false), nullptr);
  EXPECT_NE(registry_.find(id(2)), nullptr);
  EXPECT_EQ(registry_.size(), 1u);

  NodeRecord* r = nullptr;
  EXPECT_EQ(reg(3, "mn1", 60s, &r), Registry::Result::kOk);  // the name is free again
  EXPECT_NE(*r->vip4, *gone[0].vip4);  // fresh addresses remain, so no recycling yet
}

TEST_F(RegistryTest, ExpiredNodeComingBackKeepsItsVip) {
  NodeRecord* r = nullptr;
  ASSERT_EQ(reg(1, "mn1", 10s, &r), Registry::Result::kOk);
  Address vip4 = *r->vip4, vip6 = *r->vip6;
  ASSERT_EQ(registry_.expire(t0_ + 20s).size(), 1u);
  ASSERT_EQ(reg(2, "cn1"), Registry::Result::kOk);
  ASSERT_EQ(reg(1, "mn1", 60s, &r), Registry::Result::kOk);
  EXPECT_EQ(*r->vip4, vip4);
  EXPECT_EQ(*r->vip6, vip6);
}

TEST_F(RegistryTest, PoolExhaustionRefusesNewNodesOnly) {
  Registry small(server::Cidr::parse("100.64.0.0/30"), server::Cidr::parse("fd00::/127"),
                 "dc.test");
  NodeRecord* r = nullptr;
  ASSERT_EQ(small.register_node(id(1), "a", t0_ + 60s, &r), Registry::Result::kOk);
  // The IPv4 pool has a second address, the IPv6 pool has none: refused as a whole.
  EXPECT_EQ(small.register_node(id(2), "b", t0_ + 60s, &r), Registry::Result::kPoolExhausted);
  EXPECT_EQ(small.find(id(2)), nullptr);
  EXPECT_EQ(small.find_fqdn("b.dc.test"), nullptr);
  EXPECT_EQ(small.register_node(id(1), "a", t0_ + 90s, &r), Registry::Result::kOk);
  EXPECT_EQ(small.size(), 1u);
}

TEST_F(RegistryTest, SingleFamilyDc) {
  Registry only4(server::Cidr::parse("100.64.0.0/24"), std::nullopt, "dc.test");
  NodeRecord* r = nullptr;
  ASSERT_EQ(only4.register_node(id(1), "a", t0_ + 60s, &r), Registry::Result::kOk);
  EXPECT_TRUE(r->vip4);
  EXPECT_FALSE(r->vip6);
  EXPECT_EQ(only4.find_vip(Address{}, true), nullptr);
}

TEST(NodeRecordTest, ReachableWhenTheDcSeesOneOfItsOwnAddresses) {
  NodeRecord r;
  r.real_addresses = {*proto::Endpoint::parse("10.0.0.5:4500"),
                      *proto::Endpoint::parse("[2001:db8::5]:4500")};
  r.nat_address = *proto::Endpoint::parse("198.51.100.1:61000");
  EXPECT_FALSE(r.reachable());  // behind NAT
  r.nat_address = *proto::Endpoint::parse("[2001:db8::5]:4500");
  EXPECT_TRUE(r.reachable());
  r.nat_address = *proto::Endpoint::parse("10.0.0.5:4501");  // same address, port rewritten
  EXPECT_FALSE(r.reachable());
}

}  // namespace
}  // namespace ntm::dc
