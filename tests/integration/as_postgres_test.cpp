// Two real ntm-as processes on one PostgreSQL database (docs/admin.md "Several AS hosts on one
// PostgreSQL database"): each has its own state dir, keys and admin port, both are given the
// same `postgres = CONNINFO`. An account added through one is listed, re-passworded, logged
// in and deleted through the other; a restarted AS finds the accounts again; the node limit
// holds across both, also when both attach nodes to one account at the same time (the
// store's row lock, servers/as/postgres_store.cpp attach_node). The database server is a
// throwaway one (tests/unit/servers/as/pg_test_server.h); without PostgreSQL's programs the
// tests skip and say why.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <latch>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "admin_run.h"
#include "crypto/static_key.h"
#include "dc_fixture.h"  // number()
#include "process.h"
#include "servers/as/pg_test_server.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;
using as::AdminStatus;
using as::testing::PgTestServer;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// A node identity: 32 bytes of `i`, in base64.
std::string node(int i) {
  crypto::Key k{};
  k.fill(uint8_t(i));
  return crypto::key_to_base64(k);
}

/// The account names in the table `ntm-admin account list` prints (the header skipped).
std::vector<std::string> listed_names(const std::string& table) {
  std::vector<std::string> names;
  std::istringstream in(table);
  std::string line;
  std::getline(in, line);  // NAME  NODE LIMIT  CREATED
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string name;
    row >> name;
    names.push_back(name);
  }
  return names;
}

class AsPostgresTest : public ::testing::Test {
 protected:
  /// One ntm-as process: its directory (config, state dir, port file, log) and, once
  /// started, its admin port and public key.
  struct As {
    std::string dir;
    uint16_t port = 0;
    std::string key;
    std::unique_ptr<Process> process;
    std::string log() const { return dir + "/as.log"; }
  };

  void SetUp() override {
    auto& pg = PgTestServer::get();
    if (!pg.skip_reason().empty()) GTEST_SKIP() << "no PostgreSQL server: " << pg.skip_reason();
    ASSERT_TRUE(pg.error().empty()) << pg.error();
    std::string error;
    conninfo_ = pg.create_database(error);
    ASSERT_FALSE(conninfo_.empty()) << error;
    dc_ = key(dir_.path() + "/dc", "dc.key");
    admin_key_ = key(dir_.path() + "/admin", "admin.key");
    for (int i = 0; i < 2; ++i) {
      as_[i].dir = dir_.path() + "/as" + std::to_string(i + 1);
      std::filesystem::create_directories(as_[i].dir);
      write_config(as_[i]);
    }
  }
  void TearDown() override {
    if (HasFailure())
      for (auto& a : as_) std::cerr << "---- " << a.log() << " ----\n" << read_file(a.log());
  }

  crypto::StaticKeyPair key(const std::string& dir, const std::string& name) {
    std::string error;
    auto k = crypto::load_or_create_key(dir, name, error);
    EXPECT_TRUE(k) << error;
    return k.value_or(crypto::StaticKeyPair{});
  }

  /// The same database, admin key and dc-key for both; cheap hashes (the tests add many).
  void write_config(const As& a) {
    std::ofstream f(a.dir + "/as.conf");
    f << "state-dir = " << a.dir << "/state\n"
      << "admin-listen = 127.0.0.1:0\n"  // the port file says which port
      << "port-file = " << a.dir << "/as.port\n"
      << "postgres = " << conninfo_ << "\n"
      << "pwhash-ops = 1\npwhash-mem-mib = 8\n"
      << "admin-key = " << crypto::key_to_base64(admin_key_.public_key) << "\n"
      << "dc-key = " << crypto::key_to_base64(dc_.public_key) << "\n";
  }

  /// Starts `a` with its as.conf; waits (up to 10 s) for its port file.
  void start(As& a) {
    {
      Process p({bin("ntm-as"), "--state-dir", a.dir + "/state", "--print-public-key"});
      a.key = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    ASSERT_EQ(a.key.size(), 44u);
    std::string port_file = a.dir + "/as.port";
    std::filesystem::remove(port_file);
    a.process = std::make_unique<Process>(
        std::vector<std::string>{bin("ntm-as"), "--config", a.dir + "/as.conf"},
        std::map<std::string, std::string>{}, a.log());
    for (int i = 0; i < 500; ++i) {  // up to 10 s on a busy machine
      if (std::filesystem::exists(port_file)) {
        std::ifstream f(port_file);
        f >> a.port;
        if (a.port) return;
      }
      if (a.process->wait(0ms)) break;  // exited: the log says why
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "ntm-as did not start:\n" << read_file(a.log());
  }

  /// SIGTERM; the counters line the AS logs as it stops ("" if none).
  std::string stop(As& a) {
    a.process->signal(SIGTERM);
    EXPECT_EQ(a.process->wait(10s), 0);
    a.process.reset();
    std::string log = read_file(a.log());
    auto at = log.rfind("stopping on signal");
    if (at == std::string::npos) return "";
    return log.substr(at, log.find('\n', at) - at);
  }

  /// ntm-admin against `a` with `args`; `input` goes to its stdin (the password).
  AdminRun admin(const As& a, std::vector<std::string> args, const std::string& input = "") {
    return run_admin(dir_.path(), a.port, a.key, std::move(args), input);
  }

  /// A session with `a` under the DC's key, as a DC opens it to relay logins.
  std::unique_ptr<admin::AdminClient> session(const As& a) {
    auto c = std::make_unique<admin::AdminClient>(
        dc_, *crypto::key_from_base64(a.key),
        *proto::Endpoint::parse("127.0.0.1:" + std::to_string(a.port)), 30s);
    std::string error;
    EXPECT_TRUE(c->connect(error)) << error;
    return c;
  }

  /// A login as a DC relays it (docs/protocol.md §14, op 0x10): the AS's answer with this ID
  /// (nullopt and a failure when none comes within 30 s).
  static std::optional<as::AdminMessage> login(admin::AdminClient& c, uint32_t id,
                                               const std::string& name, const std::string& password,
                                               const std::string& node_id,
                                               const std::string& source = "127.0.0.1") {
    as::AdminMessage m;
    m.op = uint8_t(as::AdminOp::kNodeLogin);
    m.id = id;
    m.fields = {name, password, node_id, source};
    std::string error;
    if (!c.send(m, error)) {
      ADD_FAILURE() << error;
      return std::nullopt;
    }
    for (int i = 0; i < 10; ++i) {  // bounded: answers to other IDs are skipped
      auto r = c.next_response(30s);
      if (!r) break;
      if (r->id == id) return r;
    }
    ADD_FAILURE() << "no answer to login " << id;
    return std::nullopt;
  }
  static AdminStatus login_status(admin::AdminClient& c, uint32_t id, const std::string& name,
                                  const std::string& password, const std::string& node_id) {
    auto r = login(c, id, name, password, node_id);
    return r ? r->status : AdminStatus(255);
  }

  TempDir dir_;
  std::string conninfo_;
  crypto::StaticKeyPair dc_, admin_key_;
  As as_[2];
};

TEST_F(AsPostgresTest, TwoProcessesShareAccountsPasswordsAndTheNodeLimit) {
  As& as1 = as_[0];
  As& as2 = as_[1];
  start(as1);
  start(as2);
  ASSERT_NE(as1.key, as2.key) << "each AS has its own key in its own state dir";

  // Added at AS 1, listed by AS 2 (table and JSON).
  auto r = admin(as1, {"account", "add", "alice", "--node-limit", "2"}, "alice-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "account alice added\n");
  r = admin(as2, {"account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listed_names(r.out), std::vector<std::string>{"alice"}) << r.out;
  std::istringstream table(r.out);
  std::string header, row, name, limit;
  std::getline(table, header);
  std::getline(table, row);
  std::istringstream(row) >> name >> limit;
  EXPECT_EQ(name + " " + limit, "alice 2") << r.out;
  r = admin(as2, {"--json", "account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"ok\":true,\"accounts\":[{\"name\":\"alice\",\"node_limit\":2,", 0), 0u)
      << r.out;
  r = admin(as2, {"account", "add", "alice"}, "another-password\n");
  EXPECT_EQ(r.code, 1) << "AS 2 sees AS 1's alice";
  EXPECT_NE(r.err.find("account exists"), std::string::npos) << r.err;

  // A new password set at AS 2 is the one AS 1 checks.
  r = admin(as2, {"account", "passwd", "alice"}, "alice-new-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  auto c1 = session(as1);
  auto c2 = session(as2);
  EXPECT_EQ(login_status(*c1, 1, "alice", "alice-password", node(1)), AdminStatus::kBadCredentials);
  auto ok = login(*c1, 2, "alice", "alice-new-password", node(1));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AdminStatus::kOk);
  EXPECT_EQ(ok->fields, (std::vector<std::string>{"2", "1"})) << "node limit, nodes counted";

  // The node limit across the two: node 1 (again) at AS 1, node 2 at AS 2, node 3 at neither.
  ok = login(*c1, 3, "alice", "alice-new-password", node(1));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AdminStatus::kOk);
  EXPECT_EQ(ok->fields, (std::vector<std::string>{"2", "1"})) << "node 1 is counted once";
  ok = login(*c2, 1, "alice", "alice-new-password", node(2));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AdminStatus::kOk);
  EXPECT_EQ(ok->fields, (std::vector<std::string>{"2", "2"})) << "AS 2 counts AS 1's node";
  EXPECT_EQ(login_status(*c1, 4, "alice", "alice-new-password", node(3)), AdminStatus::kNodeLimit);
  EXPECT_EQ(login_status(*c2, 2, "alice", "alice-new-password", node(3)), AdminStatus::kNodeLimit);
  r = admin(as1, {"account", "nodes", "alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(node(1)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(node(2)), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << "header and two nodes: " << r.out;

  // Node 1 released at AS 2 makes room at AS 1.
  r = admin(as2, {"account", "release", "alice", node(1)});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "node " + node(1) + " of account alice released\n");
  ok = login(*c1, 5, "alice", "alice-new-password", node(3));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AdminStatus::kOk);
  EXPECT_EQ(ok->fields, (std::vector<std::string>{"2", "2"}));
  EXPECT_EQ(login_status(*c2, 3, "alice", "alice-new-password", node(1)), AdminStatus::kNodeLimit)
      << "the released node is a new one now, and the account is full again";

  // bob, added at AS 2 with a node logged in at AS 1, outlives alice and AS 2's restart.
  r = admin(as2, {"account", "add", "bob", "--node-limit", "4"}, "bob-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(login_status(*c1, 6, "bob", "bob-password", node(7)), AdminStatus::kOk);

  // Deleted at AS 1: AS 2 neither logs it in nor lists it.
  r = admin(as1, {"account", "del", "alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(login_status(*c2, 4, "alice", "alice-new-password", node(2)),
            AdminStatus::kBadCredentials)
      << "a deleted account is refused as an unknown one";
  r = admin(as2, {"account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listed_names(r.out), std::vector<std::string>{"bob"}) << r.out;
  r = admin(as2, {"account", "del", "alice"});
  EXPECT_EQ(r.code, 1) << "deleted already, by AS 1";
  r = admin(as2, {"account", "nodes", "alice"});
  EXPECT_EQ(r.code, 1) << "its nodes went with it";

  // AS 2 restarts on the same database: bob and his node are still there, alice still gone.
  c2.reset();
  auto counters = stop(as2);
  EXPECT_EQ(number(counters, "accounts_added"), 1) << counters;
  EXPECT_EQ(number(counters, "passwords_changed"), 1) << counters;
  EXPECT_EQ(number(counters, "nodes_released"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_ok"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_node_limit"), 2) << counters;
  EXPECT_EQ(number(counters, "logins_refused"), 1) << counters;
  start(as2);
  r = admin(as2, {"--json", "account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"ok\":true,\"accounts\":[{\"name\":\"bob\",\"node_limit\":4,", 0), 0u)
      << r.out;
  EXPECT_EQ(r.out.find("alice"), std::string::npos) << r.out;
  r = admin(as2, {"account", "nodes", "bob"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(node(7)), std::string::npos) << r.out;
  c2 = session(as2);
  ok = login(*c2, 1, "bob", "bob-password", node(8));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AdminStatus::kOk);
  EXPECT_EQ(ok->fields, (std::vector<std::string>{"4", "2"}));

  counters = stop(as1);
  EXPECT_EQ(number(counters, "accounts_added"), 1) << counters;
  EXPECT_EQ(number(counters, "accounts_removed"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_ok"), 4) << counters;
  EXPECT_EQ(number(counters, "logins_refused"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_node_limit"), 1) << counters;
}

TEST_F(AsPostgresTest, ConcurrentLoginsAtTwoProcessesNeverPassTheNodeLimit) {
  start(as_[0]);
  start(as_[1]);
  std::unique_ptr<admin::AdminClient> clients[2] = {session(as_[0]), session(as_[1])};
  // Two DCs' worth of logins at once: one session to each AS, 20 distinct nodes each
  // (interleaved identities), each from its own source address (the per-source limit stays
  // out of the way). Each session sends its 20 logins without waiting, as a DC relays them,
  // so that both AS keep attaching nodes to the account during the same milliseconds. Four
  // rounds, each on a new account. With the row lock left out of attach_node (SELECT ...
  // FOR UPDATE), 4 of 5 runs of this test failed: 6 nodes attached, or one count given twice.
  constexpr int kPerAs = 20, kRounds = 4;
  int ok_at[2] = {0, 0};
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string account = "carol" + std::to_string(round);
    auto r =
        admin(as_[round % 2], {"account", "add", account, "--node-limit", "5"}, "carol-password\n");
    ASSERT_EQ(r.code, 0) << r.err;
    std::vector<std::optional<as::AdminMessage>> answers[2];
    std::latch go(2);
    std::vector<std::thread> threads;
    uint32_t first_id = uint32_t(round * kPerAs + 1);
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&, t] {
        answers[t].resize(kPerAs);
        go.arrive_and_wait();
        for (int i = 0; i < kPerAs; ++i) {
          as::AdminMessage m;
          m.op = uint8_t(as::AdminOp::kNodeLogin);
          m.id = first_id + uint32_t(i);
          m.fields = {account, "carol-password", node(10 + 2 * i + t),
                      "10." + std::to_string(round) + "." + std::to_string(t) + "." +
                          std::to_string(i + 1)};
          std::string error;
          EXPECT_TRUE(clients[t]->send(m, error)) << error;
        }
        for (int got = 0; got < kPerAs;) {
          auto a = clients[t]->next_response(30s);
          if (!a) break;  // the missing answers fail below
          if (a->id < first_id || a->id >= first_id + kPerAs || answers[t][a->id - first_id]) {
            ADD_FAILURE() << "an unexpected answer, id " << a->id;
            continue;
          }
          answers[t][a->id - first_id] = std::move(a);
          ++got;
        }
      });
    for (auto& th : threads) th.join();

    std::vector<int> counted;  // the "nodes counted" of every ok, from both AS
    int limited = 0, ok[2] = {0, 0};
    for (int t = 0; t < 2; ++t) {
      for (auto& a : answers[t]) {
        ASSERT_TRUE(a) << "a login at AS " << t + 1 << " was not answered";
        if (a->status == AdminStatus::kOk) {
          ++ok[t];
          ASSERT_EQ(a->fields.size(), 2u);
          EXPECT_EQ(a->fields[0], "5");
          counted.push_back(std::stoi(a->fields[1]));
        } else {
          EXPECT_EQ(a->status, AdminStatus::kNodeLimit);
          limited += a->status == AdminStatus::kNodeLimit;
        }
      }
      ok_at[t] += ok[t];
    }
    EXPECT_EQ(ok[0] + ok[1], 5) << "AS 1: " << ok[0] << ", AS 2: " << ok[1];
    EXPECT_EQ(limited, 2 * kPerAs - 5);
    // One attach at a time across both processes: each ok saw the ones before it.
    std::sort(counted.begin(), counted.end());
    EXPECT_EQ(counted, (std::vector<int>{1, 2, 3, 4, 5}));
    r = admin(as_[1 - round % 2], {"account", "nodes", account});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 6) << "header and 5 nodes: " << r.out;
  }

  clients[0].reset();
  clients[1].reset();
  long long logins_ok = 0, node_limit = 0;
  for (int t = 0; t < 2; ++t) {
    auto counters = stop(as_[t]);
    EXPECT_EQ(number(counters, "logins_ok"), ok_at[t]) << counters;
    logins_ok += number(counters, "logins_ok");
    node_limit += number(counters, "logins_node_limit");
  }
  EXPECT_EQ(logins_ok, 5 * kRounds);
  EXPECT_EQ(node_limit, (2 * kPerAs - 5) * kRounds);
}

}  // namespace
}  // namespace ntm::test
