// AdminServer::handle, the AS's requests after the session is open (docs/protocol.md §14):
// who may send which op (admin keys administer, dc keys log nodes in, a key in both lists
// does both, any other key nothing), field validation, node login's outcomes (ok with the
// node count, bad credentials, rate limited, node limit) and the node listing and release.
// Password hashing runs on the server's worker pool; each call runs the io_context until the
// one answer is in.
#include "as/admin_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <filesystem>

namespace ntm::as {
namespace {

std::string node(int i) {
  crypto::Key k{};
  k.fill(uint8_t(i));
  return crypto::key_to_base64(k);
}

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() {
    char tmpl[] = "/tmp/ntm-as-server-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string error;
    store_ = open_sqlite_store(dir_ + "/accounts.sqlite3", error);
    admin_.fill(1);
    dc_.fill(2);
    both_.fill(3);
    stranger_.fill(4);
    cfg_.password_cost = {1, 8u << 20};
    cfg_.admin_keys = {admin_, both_};
    cfg_.dc_keys = {dc_, both_};
    server_ = std::make_unique<AdminServer>(io_, cfg_, crypto::StaticKeyPair{}, *store_);
  }
  ~AdminServerTest() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// The one answer of the server to `m` from `peer`.
  AdminMessage call(const crypto::Key& peer, uint8_t op, std::vector<std::string> fields,
                    uint32_t id = 9) {
    AdminMessage m;
    m.op = op;
    m.id = id;
    m.fields = std::move(fields);
    int replies = 0;
    AdminMessage out;
    server_->handle(peer, m, [&](const AdminMessage& r) {
      ++replies;
      out = r;
    });
    io_.restart();
    io_.run();
    EXPECT_EQ(replies, 1);
    EXPECT_EQ(out.id, id);
    EXPECT_EQ(out.op, op | 0x80);
    return out;
  }
  AdminStatus status(const crypto::Key& peer, uint8_t op, std::vector<std::string> fields) {
    return call(peer, op, std::move(fields)).status;
  }
  AdminMessage login(const std::string& name, const std::string& password, const std::string& n,
                     const std::string& source = "192.0.2.1") {
    return call(dc_, uint8_t(AdminOp::kNodeLogin), {name, password, n, source});
  }
  void add(const std::string& name, const std::string& limit) {
    ASSERT_EQ(status(admin_, uint8_t(AdminOp::kAccountAdd), {name, name + "-password", limit}),
              AdminStatus::kOk);
  }

  std::string dir_;
  std::unique_ptr<AccountStore> store_;
  asio::io_context io_;
  AsConfig cfg_;
  crypto::Key admin_{}, dc_{}, both_{}, stranger_{};
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, AdminRequestsNeedAnAdminKeyAndValidFields) {
  const uint8_t kAdd = uint8_t(AdminOp::kAccountAdd);
  std::vector<std::string> carol = {"carol", "carol-password", "2"};
  EXPECT_EQ(status(stranger_, kAdd, carol), AdminStatus::kNotAuthorized);
  EXPECT_EQ(status(dc_, kAdd, carol), AdminStatus::kNotAuthorized) << "a DC administers nothing";
  EXPECT_FALSE(store_->find("carol"));
  EXPECT_EQ(status(admin_, kAdd, carol), AdminStatus::kOk);
  ASSERT_TRUE(store_->find("carol"));
  EXPECT_EQ(store_->find("carol")->node_limit, 2u);
  EXPECT_TRUE(verify_password(store_->find("carol")->password_hash, "carol-password"));
  EXPECT_EQ(status(admin_, kAdd, carol), AdminStatus::kExists);
  for (auto fields :
       std::vector<std::vector<std::string>>{{"Carol", "carol-password", "2"},  // invalid name
                                             {"dave", "short", "2"},          // password too short
                                             {"dave", "dave-password", "x"},  // not a number
                                             {"dave", "dave-password", "99999999"},
                                             {"dave", "dave-password"}}) {  // a field missing
    EXPECT_EQ(status(admin_, kAdd, fields), AdminStatus::kBadRequest) << fields[0];
  }
  // passwd replaces the hash: the new password verifies, the old one no longer does.
  const uint8_t kPasswd = uint8_t(AdminOp::kAccountPasswd);
  EXPECT_EQ(status(admin_, kPasswd, {"carol", "carol-new-password"}), AdminStatus::kOk);
  EXPECT_TRUE(verify_password(store_->find("carol")->password_hash, "carol-new-password"));
  EXPECT_FALSE(verify_password(store_->find("carol")->password_hash, "carol-password"));
  EXPECT_EQ(status(admin_, kPasswd, {"nobody", "some-password"}), AdminStatus::kNotFound);
  EXPECT_EQ(status(admin_, 0x07, {}), AdminStatus::kBadRequest) << "an unknown admin op";
  EXPECT_EQ(status(dc_, 0x42, {}), AdminStatus::kBadRequest) << "an unknown DC op";
  EXPECT_EQ(status(admin_, 0x42, {}), AdminStatus::kNotAuthorized);
  // Removing the key (SIGHUP) takes the rights away.
  server_->set_keys({}, {dc_});
  EXPECT_EQ(status(admin_, uint8_t(AdminOp::kAccountDel), {"carol"}), AdminStatus::kNotAuthorized);
  EXPECT_TRUE(store_->find("carol"));
}

TEST_F(AdminServerTest, EachOpNeedsItsKindOfKey) {
  add("alice", "5");
  struct Op {
    uint8_t op;
    std::vector<std::string> fields;
    bool dc;
  };
  // Requests that change nothing the next row depends on (an unknown account, mostly).
  std::vector<Op> ops = {
      {0x01, {"x", "short", ""}, false},
      {0x02, {"nobody"}, false},
      {0x03, {""}, false},
      {0x04, {"nobody", "a-password"}, false},
      {0x05, {"alice", ""}, false},
      {0x06, {"alice", node(9)}, false},
      {0x10, {"alice", "wrong-pw", node(1), "192.0.2.1"}, true},
  };
  for (auto& o : ops) {
    SCOPED_TRACE(int(o.op));
    EXPECT_EQ(status(stranger_, o.op, o.fields), AdminStatus::kNotAuthorized);
    EXPECT_EQ(status(admin_, o.op, o.fields) == AdminStatus::kNotAuthorized, o.dc);
    EXPECT_EQ(status(dc_, o.op, o.fields) == AdminStatus::kNotAuthorized, !o.dc);
    EXPECT_NE(status(both_, o.op, o.fields), AdminStatus::kNotAuthorized);
  }
  EXPECT_EQ(server_->stats().not_authorized, ops.size() * 2);
}

TEST_F(AdminServerTest, NodeLoginOutcomes) {
  add("alice", "2");
  auto r = login("alice", "alice-password", node(1));
  ASSERT_EQ(r.status, AdminStatus::kOk);
  EXPECT_EQ(r.fields, (std::vector<std::string>{"2", "1"})) << "node limit, nodes counted";
  r = login("alice", "alice-password", node(1));
  EXPECT_EQ(r.fields, (std::vector<std::string>{"2", "1"})) << "the same node again";
  r = login("alice", "alice-password", node(2), "2001:db8::1");
  EXPECT_EQ(r.fields, (std::vector<std::string>{"2", "2"}));
  EXPECT_EQ(login("alice", "alice-password", node(3)).status, AdminStatus::kNodeLimit);
  EXPECT_EQ(login("alice", "wrong-password", node(1)).status, AdminStatus::kBadCredentials);
  EXPECT_EQ(login("nobody", "alice-password", node(1)).status, AdminStatus::kBadCredentials)
      << "an unknown account is the same answer as a wrong password";
  auto& st = server_->stats();
  EXPECT_EQ(st.logins_ok, 3u);
  EXPECT_EQ(st.logins_node_limit, 1u);
  EXPECT_EQ(st.logins_refused, 2u);

  for (auto fields : std::vector<std::vector<std::string>>{
           {"alice", "alice-password", "AAAA", "192.0.2.1"},  // not a key
           {"alice", "alice-password", node(1) + " ", "192.0.2.1"},
           {"alice", "alice-password", std::string(42, 'A') + "==", "192.0.2.1"},  // 31 bytes
           {"alice", "alice-password", node(1), "192.0.2.1:7000"},                 // a port
           {"alice", "alice-password", node(1), "example.org"},
           {"alice", "alice-password", node(1), ""},
           {"Alice", "alice-password", node(1), "192.0.2.1"},
           {"alice", "alice-password", node(1)}}) {
    EXPECT_EQ(status(dc_, uint8_t(AdminOp::kNodeLogin), fields), AdminStatus::kBadRequest)
        << fields[2] << " / " << (fields.size() > 3 ? fields[3] : "(missing)");
  }
}

TEST_F(AdminServerTest, RepeatedFailuresAreRateLimitedBeforeHashing) {
  add("alice", "2");
  // LoginLimits' default: 5 failures per account, then one per 6 s.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(login("alice", "wrong-guess-" + std::to_string(i), node(1),
                    "198.51.100." + std::to_string(i + 1))
                  .status,
              AdminStatus::kBadCredentials);
  EXPECT_EQ(login("alice", "alice-password", node(1), "203.0.113.1").status,
            AdminStatus::kRateLimited)
      << "the account's failures are spent, whatever the source";
  EXPECT_EQ(server_->stats().logins_limited, 1u);
  EXPECT_EQ(server_->stats().logins_refused, 5u);
}

TEST_F(AdminServerTest, NodesAreListedInPagesAndReleased) {
  add("alice", "30");
  for (int i = 1; i <= 12; ++i)
    ASSERT_EQ(login("alice", "alice-password", node(i), "10.0.0." + std::to_string(i)).status,
              AdminStatus::kOk);
  const uint8_t kNodes = uint8_t(AdminOp::kAccountNodes);
  auto p1 = call(admin_, kNodes, {"alice", ""});
  ASSERT_EQ(p1.status, AdminStatus::kOk);
  ASSERT_EQ(p1.fields.size(), 1u + 10 * 3);
  EXPECT_EQ(p1.fields[0], p1.fields[28]) << "next = the last node of a full page";
  auto p2 = call(admin_, kNodes, {"alice", p1.fields[0]});
  ASSERT_EQ(p2.fields.size(), 1u + 2 * 3);
  EXPECT_EQ(p2.fields[0], "") << "the last page";
  int64_t first = std::stoll(p2.fields[2]), last = std::stoll(p2.fields[3]);
  EXPECT_GT(first, 1700000000) << "Unix seconds";
  EXPECT_EQ(first, last);
  EXPECT_EQ(status(admin_, kNodes, {"nobody", ""}), AdminStatus::kNotFound);
  EXPECT_EQ(status(admin_, kNodes, {"alice", "short"}), AdminStatus::kBadRequest);

  const uint8_t kRelease = uint8_t(AdminOp::kNodeRelease);
  EXPECT_EQ(status(admin_, kRelease, {"alice", node(1)}), AdminStatus::kOk);
  EXPECT_EQ(status(admin_, kRelease, {"alice", node(1)}), AdminStatus::kNotFound);
  EXPECT_EQ(status(admin_, kRelease, {"nobody", node(2)}), AdminStatus::kNotFound);
  EXPECT_EQ(status(admin_, kRelease, {"alice", "AAAA"}), AdminStatus::kBadRequest);
  EXPECT_EQ(call(admin_, kNodes, {"alice", p1.fields[0]}).fields.size(), 1u + 2 * 3);
  EXPECT_EQ(call(admin_, kNodes, {"alice", ""}).fields.size(), 1u + 10 * 3);
  EXPECT_EQ(server_->stats().nodes_released, 1u);

  // Deleting the account takes its nodes along.
  EXPECT_EQ(status(admin_, uint8_t(AdminOp::kAccountDel), {"alice"}), AdminStatus::kOk);
  add("alice", "1");
  auto empty = call(admin_, kNodes, {"alice", ""});
  EXPECT_EQ(empty.fields, (std::vector<std::string>{""}));
}

TEST_F(AdminServerTest, AFullHashQueueAnswersTryLater) {
  add("alice", "100");
  // No io_context run in between: every login stays queued (16 per worker thread, 2
  // threads): 5 on the pool (the account's failures that they could spend), the others
  // waiting for them. One more is told to try later; the queued ones all log in.
  std::vector<AdminStatus> answers;
  auto record = [&](const AdminMessage& r) { answers.push_back(r.status); };
  const size_t kQueue = AdminServer::kQueuedHashesPerThread * cfg_.hash_threads;
  AdminMessage m;
  m.op = uint8_t(AdminOp::kNodeLogin);
  for (size_t i = 0; i <= kQueue; ++i) {
    m.id = uint32_t(i);
    m.fields = {"alice", "alice-password", node(int(i % 200) + 1),
                "10.0." + std::to_string(i / 200) + "." + std::to_string(i % 200)};
    server_->handle(dc_, m, record);
  }
  ASSERT_EQ(answers.size(), 1u) << "only the one beyond the queue is answered at once";
  EXPECT_EQ(answers[0], AdminStatus::kRateLimited);
  EXPECT_EQ(server_->stats().hash_queue_full, 1u);
  io_.restart();
  io_.run();
  ASSERT_EQ(answers.size(), kQueue + 1);
  EXPECT_EQ(std::count(answers.begin(), answers.end(), AdminStatus::kOk), long(kQueue));
  EXPECT_EQ(server_->stats().logins_ok, kQueue);
}

}  // namespace
}  // namespace ntm::as
