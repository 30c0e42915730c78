// The Account Server and ntm-admin as an operator uses them: real ntm-as and ntm-admin
// processes on loopback. Accounts are added, listed (table and JSON), re-passworded and
// deleted; they survive an AS restart; an admin key the AS does not list is refused, and
// SIGHUP makes a newly listed key work; an AS that does not answer is a clean error; hostile
// datagrams leave the AS serving. Node logins as a DC relays them (docs/protocol.md §14, op
// 0x10, spoken here with ntm-admin's AdminClient and a dc-key): ok up to the node limit, bad
// credentials, rate limits, keys of the wrong kind, repeated request IDs answered from the
// AS's store, and a login being hashed does not hold up other requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "admin_run.h"
#include "common/server_cert.h"
#include "crypto/static_key.h"
#include "dc_fixture.h"  // fields(), number()
#include "process.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;
using as::AdminStatus;

class AsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- as.log ----\n" << read_file(dir_.path() + "/as.log");
  }
  static std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  /// This admin's public key (ntm-admin key, creating it in `key_dir`).
  std::string admin_key(const std::string& key_dir) {
    auto r = admin({"--key-dir", key_dir, "key"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  void write_config(const std::vector<std::string>& admin_keys,
                    const std::vector<std::string>& dc_keys = {},
                    const std::string& cost = "pwhash-ops = 1\npwhash-mem-mib = 8\n") {
    std::ofstream f(dir_.path() + "/as.conf");
    f << "state-dir = " << dir_.path() << "/as\n"
      << "admin-listen = 127.0.0.1:0\n"  // the port file says which port
      << "port-file = " << dir_.path() << "/as.port\n"
      << cost;  // by default cheap hashes: the tests add many
    for (auto& k : admin_keys) f << "admin-key = " << k << "\n";
    for (auto& k : dc_keys) f << "dc-key = " << k << "\n";
  }

  /// A key of this test's (a DC's, or the admin's when `name` is admin.key in admin/).
  crypto::StaticKeyPair key(const std::string& dir, const std::string& name) {
    std::string error;
    auto k = crypto::load_or_create_key(dir, name, error);
    EXPECT_TRUE(k) << error;
    return k.value_or(crypto::StaticKeyPair{});
  }
  std::string public_key(const crypto::StaticKeyPair& k) {
    return crypto::key_to_base64(k.public_key);
  }
  /// A session with the running AS under `own`, as a DC (or ntm-admin) opens it.
  std::unique_ptr<admin::AdminClient> session(const crypto::StaticKeyPair& own) {
    auto c = std::make_unique<admin::AdminClient>(
        own, *crypto::key_from_base64(as_key_),
        *proto::Endpoint::parse("127.0.0.1:" + std::to_string(port_)), 10s);
    std::string error;
    EXPECT_TRUE(c->connect(error)) << error;
    return c;
  }
  static as::AdminMessage request(uint8_t op, uint32_t id, std::vector<std::string> fields) {
    as::AdminMessage m;
    m.op = op;
    m.id = id;
    m.fields = std::move(fields);
    return m;
  }
  static as::AdminMessage login_request(uint32_t id, const std::string& name,
                                        const std::string& password, const std::string& node,
                                        const std::string& source = "127.0.0.1") {
    return request(uint8_t(as::AdminOp::kNodeLogin), id, {name, password, node, source});
  }
  /// Sends `m` and returns the answer carrying its ID (nullopt: none within 30 s).
  std::optional<as::AdminMessage> ask(admin::AdminClient& c, const as::AdminMessage& m) {
    std::string error;
    EXPECT_TRUE(c.send(m, error)) << error;
    for (int i = 0; i < 10; ++i)  // bounded: answers to other IDs are skipped
      if (auto r = c.next_response(30s)) {
        if (r->id == m.id) return r;
      } else {
        break;
      }
    ADD_FAILURE() << "no answer to request " << m.id;
    return std::nullopt;
  }
  AdminStatus login_status(admin::AdminClient& c, uint32_t id, const std::string& name,
                           const std::string& password, const std::string& node) {
    auto r = ask(c, login_request(id, name, password, node));
    return r ? r->status : AdminStatus(255);
  }
  static std::string node(int i) {
    crypto::Key k{};
    k.fill(uint8_t(i));
    return crypto::key_to_base64(k);
  }

  /// Starts ntm-as with as.conf (write_config first); waits for its port file.
  void start_as() {
    std::string state = dir_.path() + "/as";
    {
      Process p({bin("ntm-as"), "--state-dir", state, "--print-public-key"});
      as_key_ = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    ASSERT_EQ(as_key_.size(), 44u);
    std::filesystem::remove(dir_.path() + "/as.port");
    as_ = std::make_unique<Process>(
        std::vector<std::string>{bin("ntm-as"), "--config", dir_.path() + "/as.conf"},
        std::map<std::string, std::string>{}, dir_.path() + "/as.log");
    for (int i = 0; i < 500; ++i) {  // up to 10 s on a busy machine
      if (std::filesystem::exists(dir_.path() + "/as.port")) {
        std::ifstream f(dir_.path() + "/as.port");
        f >> port_;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "ntm-as did not start:\n" << read_file(dir_.path() + "/as.log");
  }

  /// ntm-admin with `args`; `input` goes to its stdin (the password).
  AdminRun admin(std::vector<std::string> args, const std::string& input = "") {
    return run_admin(dir_.path(), port_, as_key_, std::move(args), input);
  }

  size_t count_in_log(const std::string& text) {
    std::string log = read_file(dir_.path() + "/as.log");
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  bool wait_for_log(const std::string& text, size_t times, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count_in_log(text) < times) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  /// The AS's counters line, printed when it stops.
  std::string stop_as() {
    as_->signal(SIGTERM);
    EXPECT_EQ(as_->wait(10s), 0);
    std::string log = read_file(dir_.path() + "/as.log");
    auto at = log.find("stopping on signal");
    if (at == std::string::npos) return "";
    return log.substr(at, log.find('\n', at) - at);
  }

  TempDir dir_;
  uint16_t port_ = free_udp_port();  ///< the AS's admin port once started; before, a free one
  std::string as_key_;
  std::unique_ptr<Process> as_;
};

TEST_F(AsTest, AccountsAreAddedListedChangedDeletedAndSurviveARestart) {
  write_config({admin_key(dir_.path() + "/admin")});
  start_as();
  auto r = admin({"account", "add", "alice", "--node-limit", "3"}, "alice-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "account alice added\n");
  r = admin({"account", "add", "bob"}, "bob-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  r = admin({"account", "add", "bob"}, "bob-password\n");
  EXPECT_EQ(r.code, 1) << "a second bob is refused";
  EXPECT_NE(r.err.find("account exists"), std::string::npos) << r.err;
  r = admin({"account", "add", "carol"}, "short\n");
  EXPECT_EQ(r.code, 2) << "a password under 8 bytes is a usage error";
  EXPECT_NE(r.err.find("8 to 256 bytes"), std::string::npos) << r.err;

  r = admin({"account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream table(r.out);
  std::string header, l1, l2, extra;
  std::getline(table, header);
  std::getline(table, l1);
  std::getline(table, l2);
  EXPECT_FALSE(std::getline(table, extra)) << r.out;
  EXPECT_EQ(header.rfind("NAME", 0), 0u) << r.out;
  std::istringstream row1(l1), row2(l2);
  std::string name, limit;
  row1 >> name >> limit;
  EXPECT_EQ(name + " " + limit, "alice 3");
  row2 >> name >> limit;
  EXPECT_EQ(name + " " + limit, "bob 5") << "the AS's default node limit";

  r = admin({"--json", "account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"ok\":true,\"accounts\":[{\"name\":\"alice\",\"node_limit\":3,", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("{\"name\":\"bob\",\"node_limit\":5,"), std::string::npos) << r.out;

  r = admin({"account", "passwd", "bob"}, "bob-new-password\n");
  EXPECT_EQ(r.code, 0) << r.err;
  r = admin({"account", "passwd", "nobody"}, "whatever-password\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no such account"), std::string::npos) << r.err;
  r = admin({"--json", "account", "del", "alice"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ok\":true,\"account\":\"alice\",\"action\":\"del\"}\n");
  r = admin({"account", "del", "alice"});
  EXPECT_EQ(r.code, 1);

  // The AS restarts on the same database: bob is still there, alice still gone.
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "accounts_added"), 2) << counters;
  EXPECT_EQ(number(counters, "accounts_removed"), 1) << counters;
  EXPECT_EQ(number(counters, "passwords_changed"), 1) << counters;
  start_as();
  r = admin({"--json", "account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("alice"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"name\":\"bob\",\"node_limit\":5,"), std::string::npos) << r.out;
}

TEST_F(AsTest, PagedListingReturnsEveryAccount) {
  write_config({admin_key(dir_.path() + "/admin")});
  start_as();
  for (int i = 0; i < 23; ++i) {
    auto r = admin({"account", "add", "user" + std::to_string(100 + i)}, "a-long-password\n");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  auto r = admin({"account", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  size_t lines = 0;
  for (char c : r.out) lines += c == '\n';
  EXPECT_EQ(lines, 24u) << "header + 23 accounts over 3 pages:\n" << r.out;
  EXPECT_NE(r.out.find("user122"), std::string::npos);
}

TEST_F(AsTest, AnUnlistedAdminKeyIsRefusedUntilListedAndReloaded) {
  std::string admin = admin_key(dir_.path() + "/admin");
  write_config({});
  start_as();
  auto r = this->admin({"account", "add", "eve"}, "eve-password\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not authorized"), std::string::npos) << r.err;
  r = this->admin({"--json", "account", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("{\"ok\":false,\"error\":", 0), 0u) << r.out;
  EXPECT_GE(count_in_log("is not an admin key"), 2u);

  // The operator lists the key and sends SIGHUP: the next request is accepted.
  write_config({admin});
  as_->signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("1 admin key(s) allowed", 1, 10s));
  r = this->admin({"account", "add", "eve"}, "eve-password\n");
  EXPECT_EQ(r.code, 0) << r.err;
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "not_authorized"), 2) << counters;
  EXPECT_EQ(number(counters, "accounts_added"), 1) << counters;
}

TEST_F(AsTest, NoAnswerIsACleanError) {
  // Nothing listens on the port (ntm-admin pins some well-formed key).
  as_key_ = admin_key(dir_.path() + "/some-key");
  auto r = admin({"--timeout-ms", "300", "account", "list"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("no answer from the AS"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  r = admin({"--json", "--timeout-ms", "300", "account", "del", "x"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.out.rfind("{\"ok\":false,\"error\":\"no answer", 0), 0u) << r.out;

  // A running AS, but ntm-admin pins another key: the AS cannot complete the handshake.
  write_config({admin_key(dir_.path() + "/admin")});
  start_as();
  std::string right = as_key_;
  as_key_ = admin_key(dir_.path() + "/another-key");
  r = admin({"--timeout-ms", "300", "account", "list"});
  EXPECT_EQ(r.code, 3) << r.err;
  as_key_ = right;
  r = admin({"account", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "mac"), 3) << "three handshake attempts: " << counters;
}

TEST_F(AsTest, TheExampleConfigIsValid) {
  Process p({bin("ntm-as"), "--config",
             std::string(NTM_SOURCE_DIR) + "/servers/as/ntm-as.conf.example", "--state-dir",
             dir_.path() + "/example", "--print-public-key"});
  auto key = p.read_line(10s);
  EXPECT_EQ(p.wait(10s), 0);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 44u);
  Process bad({bin("ntm-as"), "--state-dir", dir_.path() + "/bad", "--admin-key", "not-a-key"});
  EXPECT_EQ(bad.wait(10s), 2) << "a malformed admin-key stops the AS at start";
}

TEST_F(AsTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(admin({}).code, 2);
  EXPECT_EQ(admin({"frobnicate"}).code, 2);
  EXPECT_EQ(admin({"account", "add"}).code, 2);
  EXPECT_EQ(admin({"account", "launch", "x"}).code, 2);
  EXPECT_EQ(admin({"--as", "nonsense", "account", "list"}).code, 2);
}

TEST_F(AsTest, HostileDatagramsDoNotDisturbTheAs) {
  write_config({admin_key(dir_.path() + "/admin")});
  start_as();
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::mt19937 rng(3);
  int sent = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> d(rng() % 1500);
    for (auto& b : d) b = uint8_t(rng());
    if (!d.empty() && i % 3 == 0) d[0] = uint8_t(1 + i % 3);  // handshake and sealed types
    if (d.size() > 4 && i % 3 == 0) d[1] = d[2] = d[3] = 0;
    if (i % 5 == 0) d.resize(148);  // the size of a handshake message 1
    if (sendto(s, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
        ssize_t(d.size()))
      ++sent;
    if (i % 16 == 0) std::this_thread::sleep_for(1ms);
  }
  close(s);
  auto r = admin({"account", "add", "survivor"}, "survivor-password\n");
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_FALSE(as_->wait(0ms)) << "ntm-as died";
  long lost_in_kernel = kernel_udp_drops(port_);
  ASSERT_GE(lost_in_kernel, 0);
  auto counters = stop_as();
  long long drops = 0;
  for (const char* reason : {"malformed", "mac", "ratelimit", "handshake", "replay",
                             "unknown_session", "auth", "session_limit"})
    drops += number(counters, reason);
  EXPECT_EQ(drops + lost_in_kernel, sent)
      << "every hostile datagram is a counted drop (" << lost_in_kernel
      << " dropped by the kernel before the AS read them): " << counters;
  EXPECT_EQ(number(counters, "handshakes"), 1) << counters;
}

TEST_F(AsTest, NodesLogInThroughADcUpToTheirLimit) {
  auto dc = key(dir_.path() + "/dc", "dc.key");
  write_config({admin_key(dir_.path() + "/admin")}, {public_key(dc)});
  start_as();
  ASSERT_EQ(admin({"account", "add", "alice", "--node-limit", "2"}, "alice-password\n").code, 0);
  auto c = session(dc);

  auto r = ask(*c, login_request(1, "alice", "alice-password", node(1)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, AdminStatus::kOk);
  EXPECT_EQ(r->fields, (std::vector<std::string>{"2", "1"})) << "node limit, nodes counted";
  EXPECT_EQ(login_status(*c, 2, "alice", "wrong-password", node(1)), AdminStatus::kBadCredentials);
  EXPECT_EQ(login_status(*c, 3, "mallory", "alice-password", node(1)),
            AdminStatus::kBadCredentials);
  r = ask(*c, login_request(4, "alice", "alice-password", node(2), "::1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fields, (std::vector<std::string>{"2", "2"}));
  EXPECT_EQ(login_status(*c, 5, "alice", "alice-password", node(3)), AdminStatus::kNodeLimit);

  // The operator sees both nodes, releases one, and the third node gets its place.
  auto a = admin({"account", "nodes", "alice"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out.rfind("NODE", 0), 0u) << a.out;
  EXPECT_NE(a.out.find(node(1)), std::string::npos) << a.out;
  EXPECT_NE(a.out.find(node(2)), std::string::npos) << a.out;
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 3) << a.out;
  a = admin({"--json", "account", "nodes", "alice"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out.rfind("{\"ok\":true,\"account\":\"alice\",\"nodes\":[{\"node\":\"" + node(1) +
                            "\",\"first_login\":\"20",
                        0),
            0u)
      << a.out;
  a = admin({"account", "release", "alice", node(1)});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, "node " + node(1) + " of account alice released\n");
  a = admin({"account", "release", "alice", node(1)});
  EXPECT_EQ(a.code, 1) << "released already";
  EXPECT_EQ(admin({"account", "release", "alice", "not-a-key"}).code, 2);
  EXPECT_EQ(login_status(*c, 6, "alice", "alice-password", node(3)), AdminStatus::kOk);
  EXPECT_EQ(admin({"account", "nodes", "nobody"}).code, 1);

  // Keys of the wrong kind: the admin cannot log a node in, the DC cannot add an account.
  auto admin_session = session(key(dir_.path() + "/admin", "admin.key"));
  EXPECT_EQ(login_status(*admin_session, 1, "alice", "alice-password", node(4)),
            AdminStatus::kNotAuthorized);
  r = ask(*c, request(uint8_t(as::AdminOp::kAccountAdd), 7, {"eve", "eve-password", ""}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, AdminStatus::kNotAuthorized);
  EXPECT_EQ(admin({"--json", "account", "list"}).out.find("eve"), std::string::npos);

  auto counters = stop_as();
  EXPECT_EQ(number(counters, "logins_ok"), 3) << counters;
  EXPECT_EQ(number(counters, "logins_refused"), 2) << counters;
  EXPECT_EQ(number(counters, "logins_node_limit"), 1) << counters;
  EXPECT_EQ(number(counters, "not_authorized"), 2) << counters;
  EXPECT_EQ(number(counters, "nodes_released"), 1) << counters;
}

TEST_F(AsTest, ADcKeyListedLaterWorksAfterSighup) {
  auto dc = key(dir_.path() + "/dc", "dc.key");
  std::string admin = admin_key(dir_.path() + "/admin");
  write_config({admin});
  start_as();
  ASSERT_EQ(this->admin({"account", "add", "alice"}, "alice-password\n").code, 0);
  auto c = session(dc);
  EXPECT_EQ(login_status(*c, 1, "alice", "alice-password", node(1)), AdminStatus::kNotAuthorized);
  EXPECT_GE(count_in_log("is not a dc-key"), 1u);
  write_config({admin}, {public_key(dc)});
  as_->signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("1 dc key(s) allowed", 1, 10s));
  EXPECT_EQ(login_status(*c, 2, "alice", "alice-password", node(1)), AdminStatus::kOk)
      << "the open session has the right now";
  write_config({admin});
  as_->signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("0 dc key(s) allowed", 2, 10s));
  EXPECT_EQ(login_status(*c, 3, "alice", "alice-password", node(1)), AdminStatus::kNotAuthorized)
      << "and loses it with the key";
}

TEST_F(AsTest, GuessingIsRateLimitedBeforeHashing) {
  auto dc = key(dir_.path() + "/dc", "dc.key");
  write_config({admin_key(dir_.path() + "/admin")}, {public_key(dc)});
  start_as();
  ASSERT_EQ(admin({"account", "add", "alice"}, "alice-password\n").code, 0);
  auto c = session(dc);
  // 5 failures per account (servers/as/login.h), then the right password has to wait too.
  for (uint32_t id = 1; id <= 5; ++id)
    EXPECT_EQ(login_status(*c, id, "alice", "wrong-password-" + std::to_string(id), node(1)),
              AdminStatus::kBadCredentials);
  EXPECT_EQ(login_status(*c, 6, "alice", "alice-password", node(1)), AdminStatus::kRateLimited);
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "logins_limited"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_refused"), 5) << counters;
  EXPECT_EQ(number(counters, "logins_ok"), 0) << counters;
}

TEST_F(AsTest, ARepeatedRequestIdGetsTheSameAnswerWithoutRunningAgain) {
  auto dc = key(dir_.path() + "/dc", "dc.key");
  write_config({admin_key(dir_.path() + "/admin")}, {public_key(dc)});
  start_as();
  ASSERT_EQ(admin({"account", "add", "alice", "--node-limit", "1"}, "alice-password\n").code, 0);
  auto c = session(dc);
  auto first = ask(*c, login_request(7, "alice", "alice-password", node(1)));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, AdminStatus::kOk);
  // The DC did not get that answer and sends the login again (a new sealed packet, the same
  // ID): the same answer, not a second login (which would now count the node limit again).
  auto again = ask(*c, login_request(7, "alice", "alice-password", node(1)));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->encode(), first->encode());
  // A failed login repeated is not a second failure either.
  auto wrong = ask(*c, login_request(8, "alice", "wrong-password", node(1)));
  auto wrong_again = ask(*c, login_request(8, "alice", "wrong-password", node(1)));
  ASSERT_TRUE(wrong && wrong_again);
  EXPECT_EQ(wrong->status, AdminStatus::kBadCredentials);
  EXPECT_EQ(wrong_again->encode(), wrong->encode());
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "answers_resent"), 2) << counters;
  EXPECT_EQ(number(counters, "logins_ok"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_refused"), 1) << counters;
  EXPECT_EQ(number(counters, "requests"), 3) << "account add and two logins: " << counters;
}

TEST_F(AsTest, ALoginBeingHashedDoesNotHoldUpOtherRequests) {
  // A costly hash (4 passes over 256 MiB: about a second here) and one key that is both an
  // admin and a DC key, so that all answers come back through one session in the AS's order.
  auto both = key(dir_.path() + "/admin", "admin.key");
  write_config({public_key(both)}, {public_key(both)}, "pwhash-ops = 4\npwhash-mem-mib = 256\n");
  start_as();
  auto a = admin({"--timeout-ms", "60000", "account", "add", "alice"}, "alice-password\n");
  ASSERT_EQ(a.code, 0) << a.err;
  auto c = session(both);
  std::string error;
  auto login = login_request(1, "alice", "alice-password", node(1));
  ASSERT_TRUE(c->send(login, error)) << error;
  ASSERT_TRUE(c->send(login, error)) << "the DC retransmits while the AS still hashes";
  ASSERT_TRUE(c->send(request(uint8_t(as::AdminOp::kAccountList), 2, {""}), error));
  auto r1 = c->next_response(60s);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->id, 2u) << "the list is answered while the login is still being hashed";
  EXPECT_EQ(r1->status, AdminStatus::kOk);
  auto r2 = c->next_response(60s);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->id, 1u);
  EXPECT_EQ(r2->status, AdminStatus::kOk);
  // The repeat that arrived during the hash was ignored: the next answer is to request 3.
  ASSERT_TRUE(c->send(request(uint8_t(as::AdminOp::kAccountList), 3, {""}), error));
  auto r3 = c->next_response(60s);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->id, 3u);
  auto counters = stop_as();
  EXPECT_EQ(number(counters, "repeats_in_progress"), 1) << counters;
  EXPECT_EQ(number(counters, "logins_ok"), 1) << counters;
  EXPECT_EQ(number(counters, "answers_dropped_stale"), 0) << counters;
}

TEST_F(AsTest, AMalformedDcKeyStopsTheAs) {
  Process bad({bin("ntm-as"), "--state-dir", dir_.path() + "/bad", "--dc-key", "not-a-key"});
  EXPECT_EQ(bad.wait(10s), 2);
  Process zero({bin("ntm-as"), "--state-dir", dir_.path() + "/bad", "--hash-threads", "0"});
  EXPECT_EQ(zero.wait(10s), 2);
}

// The AS as the servers' trust anchor (docs/admin.md "Signing a DC's key", docs/protocol.md
// §15): the certificate ntm-as prints verifies with the key it prints, names the zone and the
// DC's key, and survives a restart of the signing key file.
TEST_F(AsTest, ThePrintedDcCertificateVerifiesWithThePrintedSigningKey) {
  std::string state = dir_.path() + "/as";
  auto run = [&](std::vector<std::string> args, const std::string& state_dir = "") {
    args.insert(args.begin(),
                {bin("ntm-as"), "--state-dir", state_dir.empty() ? state : state_dir});
    Process p(args, {}, dir_.path() + "/sign.err");
    AdminRun r;
    while (auto line = p.read_line(10s)) r.out += *line + "\n";
    r.code = p.wait(10s).value_or(-1);
    r.err = read_file(dir_.path() + "/sign.err");
    return r;
  };
  auto signing = run({"--print-signing-key"});
  ASSERT_EQ(signing.code, 0) << signing.err;
  ASSERT_EQ(signing.out.size(), 45u) << signing.out;
  auto as_key = server::verify_key_from_base64(signing.out);
  ASSERT_TRUE(as_key);
  EXPECT_EQ(run({"--print-signing-key"}).out, signing.out) << "the key is kept in as-sign.key";
  struct stat st;
  ASSERT_EQ(stat((state + "/as-sign.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  crypto::StaticKeyPair dc = key(dir_.path() + "/dc", "dc.key");
  uint64_t before = uint64_t(time(nullptr));
  auto signed_run =
      run({"--sign-dc", "dc1.ntm.test", "--dc-public-key", public_key(dc), "--cert-days", "30"});
  uint64_t after = uint64_t(time(nullptr));
  ASSERT_EQ(signed_run.code, 0) << signed_run.err;
  ASSERT_EQ(std::count(signed_run.out.begin(), signed_run.out.end(), '\n'), 1)
      << "one line: " << signed_run.out;
  auto cert = server::cert_from_base64(signed_run.out);
  ASSERT_TRUE(cert);
  server::ServerCert c;
  ASSERT_EQ(server::verify_cert(*cert, {*as_key}, after, &c), server::CertError::kOk);
  EXPECT_EQ(c.role, server::CertRole::kDc);
  EXPECT_EQ(c.name, "dc1.ntm.test");
  EXPECT_EQ(c.static_key, dc.public_key);
  EXPECT_EQ(c.signer, *as_key);
  EXPECT_GE(c.not_before, before - 300);  // valid from 5 minutes ago (clock skew)
  EXPECT_LE(c.not_before, after - 300);
  EXPECT_EQ(c.not_after - c.not_before, 300u + 30u * 86400u);
  // Another AS's key does not verify it.
  auto other = run({"--print-signing-key"}, dir_.path() + "/other-as");
  ASSERT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(
      server::verify_cert(*cert, {*server::verify_key_from_base64(other.out)}, after, nullptr),
      server::CertError::kUnknownSigner);

  // Bad input: exit 2 with a message that says what is wrong.
  auto bad_zone = run({"--sign-dc", "DC1.ntm.test", "--dc-public-key", public_key(dc)});
  EXPECT_EQ(bad_zone.code, 2);
  EXPECT_NE(bad_zone.err.find("not a zone name"), std::string::npos) << bad_zone.err;
  EXPECT_EQ(bad_zone.out, "");
  auto bad_key = run({"--sign-dc", "dc1.ntm.test", "--dc-public-key", "AAAA"});
  EXPECT_EQ(bad_key.code, 2);
  EXPECT_NE(bad_key.err.find("--dc-public-key"), std::string::npos) << bad_key.err;
  EXPECT_EQ(run({"--sign-dc", "dc1.ntm.test"}).code, 2) << "no key";
  EXPECT_EQ(run({"--sign-dc", "dc1..test", "--dc-public-key", public_key(dc)}).code, 2);
  EXPECT_EQ(
      run({"--sign-dc", "dc1.ntm.test", "--dc-public-key", public_key(dc), "--cert-days", "0"})
          .code,
      2);
}

// ntm-dc checks its own certificate at start: it must verify with a trusted-as key and name
// this DC's domain and static key.
TEST_F(AsTest, ADcStartsOnlyWithACertificateForItsDomainAndKey) {
  std::string state = dir_.path() + "/as";
  auto line_of = [](std::vector<std::string> args) {
    Process p(args);
    std::string out = p.read_line(10s).value_or("");
    EXPECT_EQ(p.wait(10s), 0);
    return out;
  };
  std::string as_key = line_of({bin("ntm-as"), "--state-dir", state, "--print-signing-key"});
  std::string dc_state = dir_.path() + "/dc";
  std::string dc_key = line_of({bin("ntm-dc"), "--state-dir", dc_state, "--print-public-key"});
  std::string cert = line_of({bin("ntm-as"), "--state-dir", state, "--sign-dc", "dc1.ntm.test",
                              "--dc-public-key", dc_key});
  std::string other_dc =
      line_of({bin("ntm-dc"), "--state-dir", dir_.path() + "/dc-other", "--print-public-key"});
  std::string other_cert = line_of({bin("ntm-as"), "--state-dir", state, "--sign-dc",
                                    "dc1.ntm.test", "--dc-public-key", other_dc});
  std::string other_as =
      line_of({bin("ntm-as"), "--state-dir", dir_.path() + "/as2", "--print-signing-key"});
  std::ofstream(dir_.path() + "/dc.cert") << cert << "\n";
  std::ofstream(dir_.path() + "/other.cert") << other_cert << "\n";

  auto start_dc = [&](const std::string& domain, const std::string& cert_file,
                      const std::vector<std::string>& trusted) {
    std::vector<std::string> args = {bin("ntm-dc"), "--state-dir", dc_state,
                                     "--domain",    domain,        "--listen",
                                     "127.0.0.1:0", "--port-file", dir_.path() + "/dc.port"};
    if (!cert_file.empty()) args.insert(args.end(), {"--dc-cert", cert_file});
    for (auto& t : trusted) args.insert(args.end(), {"--trusted-as", t});
    std::filesystem::remove(dir_.path() + "/dc.port");
    return std::make_unique<Process>(args, std::map<std::string, std::string>{},
                                     dir_.path() + "/dc.log");
  };
  auto refused = [&](const std::string& domain, const std::string& cert_file,
                     const std::vector<std::string>& trusted, const std::string& why) {
    auto p = start_dc(domain, cert_file, trusted);
    EXPECT_EQ(p->wait(10s), 2) << why;
    std::string log = read_file(dir_.path() + "/dc.log");
    EXPECT_NE(log.find(why), std::string::npos) << log;
  };
  refused("dc2.ntm.test", dir_.path() + "/dc.cert", {as_key}, "this DC's domain is dc2.ntm.test");
  refused("dc1.ntm.test", dir_.path() + "/other.cert", {as_key}, "another key than this DC's");
  refused("dc1.ntm.test", dir_.path() + "/dc.cert", {other_as}, "untrusted key");
  refused("dc1.ntm.test", dir_.path() + "/dc.cert", {}, "needs at least one trusted-as");
  refused("dc1.ntm.test", dir_.path() + "/missing.cert", {as_key}, "cannot read");

  auto dc = start_dc("dc1.ntm.test", dir_.path() + "/dc.cert", {other_as, as_key});
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    up = std::filesystem::exists(dir_.path() + "/dc.port");
    if (!up) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(up) << read_file(dir_.path() + "/dc.log");
  dc->signal(SIGTERM);
  EXPECT_EQ(dc->wait(10s), 0);
  EXPECT_NE(read_file(dir_.path() + "/dc.log").find("certificate of dc1.ntm.test"),
            std::string::npos);
}

}  // namespace
}  // namespace ntm::test
