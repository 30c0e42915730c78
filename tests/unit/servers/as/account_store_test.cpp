// The Account Server's stores and passwords: accounts survive reopening the database (an AS
// restart), names are unique, and only the right password verifies against its Argon2id hash;
// nodes attach to accounts up to their limit, stop counting after the release window or when
// released, go with their account, and an old file gains the nodes table. Every store test runs
// against both stores (SQLite; PostgreSQL on a server of its own, pg_test_server.h), each with
// a fresh database; two stores on one database (two AS processes) share their accounts and,
// attaching at once, never exceed a node limit.
#include "as/account_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "as/postgres_store.h"
#include "crypto/static_key.h"
#include "servers/as/pg_test_server.h"

namespace ntm::as {
namespace {

enum class Backend { kSqlite, kPostgres };
void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "SQLite" : "PostgreSQL");
}

// A fresh database per test: a new SQLite file, or a new PostgreSQL database.
class StoreFixture : public ::testing::Test {
 protected:
  explicit StoreFixture(Backend backend) : backend_(backend) {
    char tmpl[] = "/tmp/ntm-as-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/accounts.sqlite3";
  }
  ~StoreFixture() override { std::filesystem::remove_all(dir_); }
  void SetUp() override {
    if (backend_ != Backend::kPostgres) return;
    auto& pg = testing::PgTestServer::get();
    if (!pg.skip_reason().empty())
      GTEST_SKIP() << "PostgreSQL store not tested: " << pg.skip_reason();
    ASSERT_EQ(pg.error(), "") << "the test PostgreSQL server did not start";
    std::string error;
    conninfo_ = pg.create_database(error);
    ASSERT_NE(conninfo_, "") << error;
  }
  std::unique_ptr<AccountStore> open() {
    std::string error;
    auto s = backend_ == Backend::kSqlite ? open_sqlite_store(path_, error)
                                          : open_postgres_store(conninfo_, error);
    EXPECT_TRUE(s) << error;
    return s;
  }
  Backend backend_;
  std::string dir_, path_, conninfo_;
};

class AccountStoreTest : public StoreFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  AccountStoreTest() : StoreFixture(GetParam()) {}
};

INSTANTIATE_TEST_SUITE_P(Stores, AccountStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

class SqliteAccountStoreTest : public StoreFixture {
 protected:
  SqliteAccountStoreTest() : StoreFixture(Backend::kSqlite) {}
};

class PostgresAccountStoreTest : public StoreFixture {
 protected:
  PostgresAccountStoreTest() : StoreFixture(Backend::kPostgres) {}
};

// A cheap cost for tests: verify_password reads the cost from the hash.
const PasswordCost kTestCost{1, 8u << 20};

TEST_P(AccountStoreTest, AccountsSurviveReopening) {
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

TEST_P(AccountStoreTest, NamesAreUniqueAndMissingOnesAreReported) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->add({"alice", "h2", 2, 0}), AccountStore::Result::kExists);
  EXPECT_EQ(s->remove("nobody"), AccountStore::Result::kNotFound);
  EXPECT_EQ(s->set_password_hash("nobody", "h"), AccountStore::Result::kNotFound);
  AccountStore::Result found = AccountStore::Result::kError;
  EXPECT_TRUE(s->find("alice", &found));
  EXPECT_EQ(found, AccountStore::Result::kOk);
  EXPECT_EQ(s->remove("alice"), AccountStore::Result::kOk);
  EXPECT_FALSE(s->find("alice", &found));
  EXPECT_EQ(found, AccountStore::Result::kNotFound) << "missing, not a store failure";
}

TEST_P(AccountStoreTest, ListPagesInNameOrder) {
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

TEST_P(AccountStoreTest, AttachCountsNodesUpToTheLimit) {
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

TEST_P(AccountStoreTest, ANodeStopsCountingAfterTheReleaseWindow) {
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

TEST_P(AccountStoreTest, ReleasingANodeFreesItsPlace) {
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

TEST_P(AccountStoreTest, ANodeMayBelongToSeveralAccounts) {
  auto s = open();
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  ASSERT_EQ(s->add({"bob", "h", 1, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->attach_node("bob", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  EXPECT_EQ(s->release_node("bob", node(1)), AccountStore::Result::kOk);
  EXPECT_EQ(s->list_nodes("alice", "", 10)->size(), 1u) << "alice's is another attachment";
}

TEST_P(AccountStoreTest, NodesGoWithTheirAccount) {
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

TEST_P(AccountStoreTest, NodeListPagesInIdentityOrder) {
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

TEST_F(SqliteAccountStoreTest, AFileOfTheFirstFormatIsUpgradedInPlace) {
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

TEST_P(AccountStoreTest, ValuesAreDataNotSql) {
  auto s = open();
  const std::string name = "x'); DROP TABLE accounts; --";
  const std::string hash = "$argon2id$v=19$'\"; DELETE FROM nodes; --";
  ASSERT_EQ(s->add({name, hash, 2, 7}), AccountStore::Result::kOk);
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk);
  auto a = s->find(name);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, name);
  EXPECT_EQ(a->password_hash, hash);
  EXPECT_EQ(s->list("", 10).size(), 2u);
  EXPECT_EQ(s->attach_node(name, "' OR 1=1 --", 100, kWindow).result, AccountStore::Result::kOk);
  auto nodes = s->list_nodes(name, "", 10);
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].node, "' OR 1=1 --");
  EXPECT_EQ(s->release_node(name, "' OR 1=1 --"), AccountStore::Result::kOk);
  EXPECT_FALSE(s->find("' OR '1'='1"));
}

// Two AS processes on one database: each has its own store (its own connection).
TEST_P(AccountStoreTest, TwoStoresOnOneDatabaseShareTheAccounts) {
  auto s1 = open();
  auto s2 = open();
  ASSERT_TRUE(s1 && s2);
  ASSERT_EQ(s1->add({"alice", "h1", 2, 0}), AccountStore::Result::kOk);
  auto a = s2->find("alice");
  ASSERT_TRUE(a) << "an account added through one store is found through the other";
  EXPECT_EQ(a->password_hash, "h1");
  EXPECT_EQ(s2->add({"alice", "h2", 2, 0}), AccountStore::Result::kExists);
  ASSERT_EQ(s2->set_password_hash("alice", "h3"), AccountStore::Result::kOk);
  EXPECT_EQ(s1->find("alice")->password_hash, "h3");
  ASSERT_EQ(s1->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk);
  auto b = s2->attach_node("alice", node(2), 101, kWindow);
  EXPECT_EQ(b.result, AccountStore::Result::kOk);
  EXPECT_EQ(b.counted, 2u) << "the other store's node counts";
  EXPECT_EQ(s2->attach_node("alice", node(3), 102, kWindow).result,
            AccountStore::Result::kLimitReached);
  ASSERT_EQ(s1->list_nodes("alice", "", 10)->size(), 2u);
  ASSERT_EQ(s2->remove("alice"), AccountStore::Result::kOk);
  EXPECT_FALSE(s1->find("alice"));
  EXPECT_FALSE(s1->list_nodes("alice", "", 10));
}

// Two threads, each with its own store, attach 20 distinct nodes each to one account of limit
// 5 at once: exactly 5 attach, every other attach is refused (none fails).
TEST_P(AccountStoreTest, ConcurrentAttachesNeverExceedTheLimit) {
  constexpr int kThreads = 2, kNodesEach = 20;
  constexpr uint32_t kLimit = 5;
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_EQ(s->add({"alice", "h", kLimit, 0}), AccountStore::Result::kOk);
  }
  std::vector<std::unique_ptr<AccountStore>> stores;
  for (int t = 0; t < kThreads; ++t) {
    stores.push_back(open());
    ASSERT_TRUE(stores.back());
  }
  std::atomic<int> ready{0};
  std::atomic<int> ok{0}, refused{0}, other{0}, over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kNodesEach; ++i) {
        auto a = stores[t]->attach_node("alice", node(1 + t * kNodesEach + i), 100, kWindow);
        if (a.result == AccountStore::Result::kOk)
          ok.fetch_add(1);
        else if (a.result == AccountStore::Result::kLimitReached)
          refused.fetch_add(1);
        else
          other.fetch_add(1);
        if (a.counted > kLimit) over.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), int(kLimit));
  EXPECT_EQ(refused.load(), kThreads * kNodesEach - int(kLimit));
  EXPECT_EQ(other.load(), 0) << "no attach failed";
  EXPECT_EQ(over.load(), 0) << "no attach counted more nodes than the limit";
  auto nodes = open()->list_nodes("alice", "", 100);
  ASSERT_TRUE(nodes);
  EXPECT_EQ(nodes->size(), size_t(kLimit));
}

// PostgreSQL only: the connection.
TEST_F(PostgresAccountStoreTest, ALostConnectionIsReopenedOnce) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->add({"alice", "h", 2, 0}), AccountStore::Result::kOk);
  std::string db = conninfo_.substr(conninfo_.find("dbname=") + 7);
  db = db.substr(0, db.find(' '));
  auto kill_connections = [&] {
    ASSERT_EQ(
        testing::PgTestServer::get().admin_exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'"),
        "");
  };
  kill_connections();
  auto a = s->find("alice");
  ASSERT_TRUE(a) << "the store reconnected";
  kill_connections();
  EXPECT_EQ(s->attach_node("alice", node(1), 100, kWindow).result, AccountStore::Result::kOk)
      << "a transaction after a lost connection";
  kill_connections();
  ASSERT_EQ(s->add({"bob", "h", 1, 0}), AccountStore::Result::kOk);
  EXPECT_EQ(s->list("", 10).size(), 2u);
  // The database gone: the reconnect fails, and so does every call, without retrying forever.
  ASSERT_EQ(testing::PgTestServer::get().admin_exec("DROP DATABASE " + db + " WITH (FORCE)"), "");
  EXPECT_FALSE(s->find("alice"));
  EXPECT_EQ(s->add({"carol", "h", 1, 0}), AccountStore::Result::kError);
  EXPECT_EQ(s->attach_node("alice", node(2), 100, kWindow).result, AccountStore::Result::kError);
  EXPECT_TRUE(s->list("", 10).empty());
  EXPECT_FALSE(s->list_nodes("alice", "", 10));
  EXPECT_EQ(s->release_node("alice", node(1)), AccountStore::Result::kError);
}

TEST_F(PostgresAccountStoreTest, OpeningFailsClearly) {
  std::string error;
  EXPECT_FALSE(
      open_postgres_store(testing::PgTestServer::get().conninfo("no_such_database"), error));
  EXPECT_NE(error.find("no_such_database"), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  // A table called accounts that is not ours: refused at open, not at the first login.
  {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    PGresult* r = PQexec(c, "CREATE TABLE accounts(id INTEGER PRIMARY KEY)");
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
  }
  error.clear();
  EXPECT_FALSE(open_postgres_store(conninfo_, error));
  EXPECT_NE(error.find("schema"), std::string::npos) << error;
}

// PostgreSQL text holds no NUL byte and, in a UTF-8 database, only UTF-8: such a value is an
// error (SQLite would store it), and the store goes on working.
TEST_F(PostgresAccountStoreTest, AValueWithANulByteOrNotUtf8IsAnError) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->add({std::string("al\0ice", 6), "h", 1, 0}), AccountStore::Result::kError);
  EXPECT_EQ(s->add({"alice", std::string("h\0h", 3), 1, 0}), AccountStore::Result::kError);
  EXPECT_FALSE(s->find("alice")) << "nothing half-stored";
  EXPECT_EQ(s->add({"al\xffice", "h", 1, 0}), AccountStore::Result::kError);
  EXPECT_FALSE(s->find("\xff"));
  EXPECT_TRUE(s->list("\xc3", 10).empty());
  ASSERT_EQ(s->add({"alice", "h", 1, 0}), AccountStore::Result::kOk) << "the store still works";
}

}  // namespace
}  // namespace ntm::as
