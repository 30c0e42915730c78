// The Account Server's store and passwords: accounts survive reopening the database (an AS
// restart), names are unique, and only the right password verifies against its Argon2id hash;
// nodes attach to accounts up to their limit, stop counting after the release window or when
// released, go with their account, and an old file gains the nodes table.
#include "as/account_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "crypto/static_key.h"

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

// Nodes per account: each identity that logs in is attached; a node counts against the
// account's limit until it is released or not seen for the release window.
constexpr int64_t kWindow = 1000;  // seconds

std::string node(int i) {
  crypto::Key k{};
  k.fill(uint8_t(i));
  return crypto::key_to_base64(k);
}

TEST_F(AccountStoreTest, AttachCountsNodesUpToTheLimit) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 2, 0}), AccountStore::Result::kOk);
  auto a = s->attach_node("alice", node(1), 100, kWindow);
  EXPECT_EQ(a.result, AccountStore::Result::kOk);
  EXPECT_EQ(a.node_limit, 2u);
  EXPECT_EQ(a.counted, 1u);
  a = s->attach_node("alice", node(2), 110, kWindow);
  EXPECT_EQ(a.result, AccountStore::Result::kOk);
  EXPECT_EQ(a.counted, 2u);
  a = s->attach_node("alice", node(3), 120, kWindow);
  EXPECT_EQ(a.result, AccountStore::Result::kLimitReached) << "two other nodes are counted";
  EXPECT_EQ(a.counted, 2u);
  a = s->attach_node("alice", node(1), 130, kWindow);
  EXPECT_EQ(a.result, AccountStore::Result::kOk) << "an attached node logs in again";
  EXPECT_EQ(a.counted, 2u);
  auto nodes = s->list_nodes("alice", "", 10);
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 2u);
  std::map<std::string, NodeRecord> by_node;
  for (auto& n : *nodes) by_node[n.node] = n;
  EXPECT_EQ(by_node[node(1)].first_login, 100);
  EXPECT_EQ(by_node[node(1)].last_login, 130);
  EXPECT_EQ(by_node[node(2)].last_login, 110);
  EXPECT_EQ(s->attach_node("nobody", node(1), 100, kWindow).result,
            AccountStore::Result::kNotFound);
  ASSERT_EQ(s->add({"zero", "h", 0, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("zero", node(1), 100, kWindow).result,
            AccountStore::Result::kLimitReached);
}

TEST_F(AccountStoreTest, ANodeStopsCountingAfterTheReleaseWindow) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 2, 0}), AccountStore::Result::kOk);
  ASSERT_EQ(s->attach_node("alice", node(1), 0, kWindow).result, AccountStore::Result::kOk);
  ASSERT_EQ(s->attach_node("alice", node(2), 500, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("alice", node(3), kWindow, kWindow).result,
            AccountStore::Result::kLimitReached)
      << "node 1 was seen exactly one window ago: it still counts";
  auto a = s->attach_node("alice", node(3), kWindow + 1, kWindow);
  EXPECT_EQ(a.result, AccountStore::Result::kOk) << "node 1 no longer counts";
  EXPECT_EQ(a.counted, 2u);
  // Node 1 comes back while nodes 2 and 3 fill the limit: it is a new node again.
  EXPECT_EQ(s->attach_node("alice", node(1), kWindow + 2, kWindow).result,
            AccountStore::Result::kLimitReached);
  auto nodes = s->list_nodes("alice", "", 10);
  ASSERT_TRUE(nodes);
  EXPECT_EQ(nodes->size(), 2u) << "node 1, no longer counted, was forgotten";
}

TEST_F(AccountStoreTest, ReleasingANodeFreesItsPlace) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  ASSERT_EQ(s->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("alice", node(2), 101, kWindow).result,
            AccountStore::Result::kLimitReached);
  EXPECT_EQ(s->release_node("alice", node(2)), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->release_node("nobody", node(1)), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->release_node("alice", node(1)), AccountStore::Result::kOk);
  EXPECT_EQ(s->release_node("alice", node(1)), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->attach_node("alice", node(2), 102, kWindow).result, AccountStore::Result::kOk);
}

TEST_F(AccountStoreTest, ANodeMayBelongToSeveralAccounts) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  ASSERT_EQ(s->add({"bob", "h", 1, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("bob", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->release_node("bob", node(1)), AccountStore::Result::kOk);
  EXPECT_EQ(s->list_nodes("alice", "", 10)->size(), 1u) << "alice's is another attachment";
}

TEST_F(AccountStoreTest, NodesGoWithTheirAccount) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 5, 0}), AccountStore::Result::kOk);
  ASSERT_EQ(s->add({"bob", "h", 5, 0}), AccountStore::Result::kOk);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(s->attach_node("alice", node(i), 100, kWindow).result, AccountStore::Result::kOk);
    ASSERT_EQ(s->attach_node("bob", node(i), 100, kWindow).result, AccountStore::Result::kOk);
  }
  ASSERT_EQ(s->remove("alice"), AccountStore::Result::kOk);
  EXPECT_FALSE(s->list_nodes("alice", "", 10)) << "no account, no listing";
  ASSERT_EQ(s->add({"alice", "h", 5, 0}), AccountStore::Result::kOk);
  ASSERT_TRUE(s->list_nodes("alice", "", 10));
  EXPECT_TRUE(s->list_nodes("alice", "", 10)->empty()) << "a new alice starts with no nodes";
  EXPECT_EQ(s->list_nodes("bob", "", 10)->size(), 3u);
}

TEST_F(AccountStoreTest, NodeListPagesInIdentityOrder) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 100, 0}), AccountStore::Result::kOk);
  std::vector<std::string> all;
  for (int i = 1; i <= 25; ++i) {
    ASSERT_EQ(s->attach_node("alice", node(i), 100 + i, kWindow).result, AccountStore::Result::kOk);
    all.push_back(node(i));
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    auto p = s->list_nodes("alice", after, 10);
    ASSERT_TRUE(p);
    for (auto& n : *p) seen.push_back(n.node);
    if (p->size() < 10) break;
    after = p->back().node;
  }
  EXPECT_EQ(seen, all);
}

TEST_F(AccountStoreTest, AFileOfTheFirstFormatIsUpgradedInPlace) {
  {  // the format before nodes: the accounts table only
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA journal_mode=WAL;"
                           "CREATE TABLE accounts(name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
                           " node_limit INTEGER NOT NULL, created INTEGER NOT NULL);"
                           "INSERT INTO accounts VALUES('alice', 'h', 1, 42);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto a = s->find("alice");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->created, 42);
    EXPECT_EQ(s->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  }
  auto s = open();  // and it opens again, its nodes kept
  auto nodes = s->list_nodes("alice", "", 10);
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].node, node(1));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1) << "the file says its format";
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace ntm::as
