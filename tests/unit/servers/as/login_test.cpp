// LoginChecker: the right password logs in; guessing is slowed per account (whatever the
// source) and per source (whatever the account), before any password is hashed; an unknown
// account looks like a wrong password.
#include "as/login.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace ntm::as {
namespace {

using namespace std::chrono_literals;

const PasswordCost kCheap{1, 8u << 20};

proto::Endpoint ep(const char* text) {
  return *proto::Endpoint::parse(text);
}

class LoginTest : public ::testing::Test {
 protected:
  LoginTest() {
    char tmpl[] = "/tmp/ntm-login-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string error;
    store_ = open_sqlite_store(dir_ + "/a.sqlite3", error);
    store_->add({"alice", *hash_password("alice-password", kCheap), 2, 0});
  }
  ~LoginTest() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::unique_ptr<AccountStore> store_;
  server::Clock::time_point t0_ = server::Clock::now();
};

TEST_F(LoginTest, TheRightPasswordLogsIn) {
  LoginChecker c(*store_, {}, kCheap);
  Account a;
  EXPECT_EQ(c.check("alice", "alice-password", ep("192.0.2.1:1"), t0_, &a),
            LoginChecker::Result::kOk);
  EXPECT_EQ(a.node_limit, 2u);
  EXPECT_EQ(c.check("alice", "wrong-password", ep("192.0.2.1:1"), t0_),
            LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.check("mallory", "alice-password", ep("192.0.2.1:1"), t0_),
            LoginChecker::Result::kBadCredentials)
      << "an unknown account is a bad credential, not a distinct answer";
}

TEST_F(LoginTest, FailuresAreLimitedPerAccountFromAnySource) {
  LoginLimits l;
  l.per_account_burst = 3;
  l.per_account_rate = 0.1;
  LoginChecker c(*store_, l, kCheap);
  for (int i = 0; i < 3; ++i)  // each guess from another source
    EXPECT_EQ(
        c.check("alice", "guess", ep(("192.0.2." + std::to_string(i + 1) + ":1").c_str()), t0_),
        LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.check("alice", "alice-password", ep("198.51.100.1:1"), t0_),
            LoginChecker::Result::kRateLimited)
      << "even the right password waits once the account's failures are spent";
  EXPECT_EQ(c.check("alice", "alice-password", ep("198.51.100.1:1"), t0_ + 10s),
            LoginChecker::Result::kOk)
      << "one failure's worth of time later it works again";
}

TEST_F(LoginTest, AttemptsAreLimitedPerSourceAcrossAccounts) {
  LoginLimits l;
  l.per_source_burst = 4;
  l.per_source_rate = 1;
  LoginChecker c(*store_, l, kCheap);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(c.check("user" + std::to_string(i), "guess", ep("203.0.113.9:5"), t0_),
              LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.check("alice", "alice-password", ep("203.0.113.9:6"), t0_),
            LoginChecker::Result::kRateLimited)
      << "the same address, another port";
  EXPECT_EQ(c.check("alice", "alice-password", ep("203.0.113.10:5"), t0_),
            LoginChecker::Result::kOk)
      << "another source is not affected";
  EXPECT_EQ(c.check("alice", "alice-password", ep("203.0.113.9:6"), t0_ + 1s),
            LoginChecker::Result::kOk);
}

TEST_F(LoginTest, TrackedAccountsAreBounded) {
  LoginLimits l;
  l.max_accounts_tracked = 8;
  l.per_source_burst = 1000;
  LoginChecker c(*store_, l, kCheap);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(c.check("nobody" + std::to_string(i), "guess", ep("192.0.2.1:1"), t0_),
              LoginChecker::Result::kBadCredentials);
    EXPECT_LE(c.tracked_accounts(), 8u);
  }
  EXPECT_EQ(c.check("alice", "alice-password", ep("192.0.2.1:1"), t0_), LoginChecker::Result::kOk);
  EXPECT_LE(c.tracked_accounts(), 8u);
}

// ntm-as splits a check: begin() on its io thread, the hash on a worker, finish() back on
// the io thread. Attempts being verified at the same time cannot overdraw an account's
// failures: once they could spend the last ones, the next attempt waits (kWait) for one of
// them to finish instead.
TEST_F(LoginTest, AttemptsInFlightTogetherCannotOverdrawTheAccount) {
  LoginLimits l;
  l.per_account_burst = 3;
  l.per_account_rate = 0.1;
  LoginChecker c(*store_, l, kCheap);
  using Start = LoginChecker::Start;
  std::vector<LoginChecker::Attempt> a(6);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(c.begin("alice", ep(("192.0.2." + std::to_string(i + 1) + ":1").c_str()), a[i], t0_),
              Start::kGo);
  EXPECT_EQ(c.begin("alice", ep("192.0.2.9:1"), a[3], t0_), Start::kWait)
      << "three attempts being verified could spend all three failures";
  EXPECT_EQ(c.begin("bob", ep("192.0.2.9:1"), a[5], t0_), Start::kGo) << "other accounts go";
  EXPECT_EQ(c.in_flight(), 4u);
  EXPECT_TRUE(a[0].verify("alice-password"));
  EXPECT_EQ(a[0].account.node_limit, 2u);
  EXPECT_EQ(c.finish(a[0], true, t0_), LoginChecker::Result::kOk);
  ASSERT_EQ(c.begin("alice", ep("192.0.2.9:1"), a[3], t0_), Start::kGo)
      << "a success spends nothing: room for the waiting one";
  EXPECT_EQ(c.finish(a[1], a[1].verify("guess-guess"), t0_), LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.begin("alice", ep("192.0.2.9:1"), a[4], t0_), Start::kWait)
      << "2 failures left, 2 attempts being verified";
  EXPECT_EQ(c.finish(a[2], false, t0_), LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.finish(a[3], false, t0_), LoginChecker::Result::kBadCredentials);
  EXPECT_EQ(c.begin("alice", ep("192.0.2.9:1"), a[4], t0_), Start::kRateLimited)
      << "all three failures spent";
  EXPECT_FALSE(a[5].known);
  EXPECT_FALSE(a[5].verify("no account has this password"))
      << "the dummy hash's own password does not log into an unknown account";
  c.finish(a[5], false, t0_);
  EXPECT_EQ(c.in_flight(), 0u);
}

// A store that cannot be read (here: its table gone; in production, the database down) is not
// a wrong password: the login is answered "store error" and nothing counts against the
// account, however often it happens.
TEST_F(LoginTest, AStoreFailureIsNotABadPasswordAndSpendsNoFailures) {
  LoginChecker c(*store_, {}, kCheap);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/a.sqlite3").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "ALTER TABLE accounts RENAME TO accounts_away", nullptr, nullptr, nullptr),
      SQLITE_OK);
  for (int i = 0; i < 10; ++i)  // twice the account's burst of failures
    ASSERT_EQ(c.check("alice", "alice-password", ep("192.0.2.1:1"), t0_),
              LoginChecker::Result::kStoreError)
        << "attempt " << i;
  EXPECT_EQ(c.in_flight(), 0u);
  ASSERT_EQ(
      sqlite3_exec(db, "ALTER TABLE accounts_away RENAME TO accounts", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(c.check("alice", "alice-password", ep("192.0.2.1:1"), t0_), LoginChecker::Result::kOk)
      << "the store is back and no failure was counted";
}

}  // namespace
}  // namespace ntm::as
