// The Account Server's store and passwords: accounts survive reopening the database (an AS
// restart), names are unique, and only the right password verifies against its Argon2id hash.
#include "as/account_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <filesystem>

#include "as/admin_server.h"

namespace ntm::as {
namespace {

class AccountStoreTest : public ::testing::Test {
 protected:
  AccountStoreTest() {
    char tmpl[] = "/tmp/ntm-as-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/accounts.sqlite3";
  }
  ~AccountStoreTest() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<AccountStore> open() {
    std::string error;
    auto s = open_sqlite_store(path_, error);
    EXPECT_TRUE(s) << error;
    return s;
  }
  std::string dir_, path_;
};

// A cheap cost for tests: verify_password reads the cost from the hash.
const PasswordCost kTestCost{1, 8u << 20};

TEST_F(AccountStoreTest, AccountsSurviveReopening) {
  {
    auto s = open();
    ASSERT_EQ(s->add({"alice", *hash_password("alice-password", kTestCost), 3, 100}),
              AccountStore::Result::kOk);
    ASSERT_EQ(s->add({"bob", *hash_password("bob-password", kTestCost), 5, 200}),
              AccountStore::Result::kOk);
  }
  auto s = open();
  auto a = s->find("alice");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->node_limit, 3u);
  EXPECT_EQ(a->created, 100);
  EXPECT_TRUE(verify_password(a->password_hash, "alice-password"));
  auto all = s->list("", 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alice");
  EXPECT_EQ(all[1].name, "bob");
}

TEST_F(AccountStoreTest, NamesAreUniqueAndMissingOnesAreReported) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->add({"alice", "h2", 2, 0}), AccountStore::Result::kExists);
  EXPECT_EQ(s->remove("nobody"), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->set_password_hash("nobody", "h"), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->remove("alice"), AccountStore::Result::kOk);
  EXPECT_FALSE(s->find("alice"));
}

TEST_F(AccountStoreTest, ListPagesInNameOrder) {
  auto s = open();
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "user%02d", i);
    ASSERT_EQ(s->add({name, "h", 1, 0}), AccountStore::Result::kOk);
  }
  auto p1 = s->list("", 10);
  ASSERT_EQ(p1.size(), 10u);
  EXPECT_EQ(p1.front().name, "user00");
  auto p3 = s->list("user19", 10);
  ASSERT_EQ(p3.size(), 5u);
  EXPECT_EQ(p3.front().name, "user20");
}

TEST(Passwords, Argon2idVerifiesOnlyTheRightPassword) {
  auto h = hash_password("correct horse", kTestCost);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_TRUE(verify_password(*h, "correct horse"));
  EXPECT_FALSE(verify_password(*h, "correct horsf"));
  EXPECT_FALSE(verify_password(*h, ""));
  EXPECT_FALSE(verify_password("not a hash", "correct horse"));
  auto h2 = hash_password("correct horse", kTestCost);
  EXPECT_NE(*h, *h2) << "a fresh salt per hash";
}

TEST(Passwords, DefaultCostIsStatedInTheHash) {
  auto h = hash_password("a password");
  ASSERT_TRUE(h);
  EXPECT_NE(h->find("m=65536,t=2"), std::string::npos) << *h;
}

TEST(AccountNames, Validity) {
  EXPECT_TRUE(valid_account_name("alice"));
  EXPECT_TRUE(valid_account_name("a.b-c_d9"));
  EXPECT_FALSE(valid_account_name(""));
  EXPECT_FALSE(valid_account_name("-alice"));
  EXPECT_FALSE(valid_account_name("Alice"));
  EXPECT_FALSE(valid_account_name("al ice"));
  EXPECT_FALSE(valid_account_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_password("short"));
  EXPECT_TRUE(valid_password("longenough"));
}

TEST_F(AccountStoreTest, AdminRequestsNeedAListedKeyAndValidFields) {
  auto store = open();
  asio::io_context io;
  AsConfig cfg;
  cfg.password_cost = {1, 8u << 20};
  crypto::Key admin{}, stranger{};
  admin.fill(1);
  stranger.fill(2);
  cfg.admin_keys = {admin};
  crypto::StaticKeyPair key{};
  AdminServer server(io, cfg, key, *store);
  AdminMessage add;
  add.op = uint8_t(AdminOp::kAccountAdd);
  add.id = 9;
  add.fields = {"carol", "carol-password", "2"};
  EXPECT_EQ(server.handle(stranger, add).status, AdminStatus::kNotAuthorized);
  EXPECT_FALSE(store->find("carol"));
  auto r = server.handle(admin, add);
  EXPECT_EQ(r.status, AdminStatus::kOk);
  EXPECT_EQ(r.op, 0x81);
  EXPECT_EQ(r.id, 9u);
  ASSERT_TRUE(store->find("carol"));
  EXPECT_EQ(store->find("carol")->node_limit, 2u);
  EXPECT_EQ(server.handle(admin, add).status, AdminStatus::kExists);
  for (auto fields :
       std::vector<std::vector<std::string>>{{"Carol", "carol-password", "2"},  // invalid name
                                             {"dave", "short", "2"},          // password too short
                                             {"dave", "dave-password", "x"},  // not a number
                                             {"dave", "dave-password", "99999999"},
                                             {"dave", "dave-password"}}) {  // a field missing
    add.fields = fields;
    EXPECT_EQ(server.handle(admin, add).status, AdminStatus::kBadRequest) << fields[0];
  }
  // passwd replaces the hash: the new password verifies, the old one no longer does.
  AdminMessage passwd;
  passwd.op = uint8_t(AdminOp::kAccountPasswd);
  passwd.fields = {"carol", "carol-new-password"};
  EXPECT_EQ(server.handle(admin, passwd).status, AdminStatus::kOk);
  EXPECT_TRUE(verify_password(store->find("carol")->password_hash, "carol-new-password"));
  EXPECT_FALSE(verify_password(store->find("carol")->password_hash, "carol-password"));
  passwd.fields = {"nobody", "some-password"};
  EXPECT_EQ(server.handle(admin, passwd).status, AdminStatus::kNotFound);
  AdminMessage unknown;
  unknown.op = 0x42;
  EXPECT_EQ(server.handle(admin, unknown).status, AdminStatus::kBadRequest);
  // Removing the key (SIGHUP) takes the rights away.
  server.set_admin_keys({});
  AdminMessage del;
  del.op = uint8_t(AdminOp::kAccountDel);
  del.fields = {"carol"};
  EXPECT_EQ(server.handle(admin, del).status, AdminStatus::kNotAuthorized);
  EXPECT_TRUE(store->find("carol"));
}

}  // namespace
}  // namespace ntm::as
