// Node login through the DC (issue 11; paper 002 §2.1; docs/protocol.md §4.4.1 and §14 op
// 0x10): real ntm-as, ntm-admin, ntm-dc and node processes on loopback. Only a node whose
// account the AS accepts gets a vIP; a wrong password, an unknown account, a missing account
// and an account at its node limit each fail ntm_start() with the documented errno; an AS
// that does not answer, or does not know the DC, is a clean EAGAIN; a node the AS accepted
// registers again without another AS round trip.
#include <filesystem>
#include <fstream>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class Login : public DcFixture {
 protected:
  void TearDown() override {
    if (HasFailure() && std::filesystem::exists(dir_.path() + "/as.log")) {
      std::ifstream f(dir_.path() + "/as.log");
      std::stringstream ss;
      ss << f.rdbuf();
      std::cerr << "---- as.log ----\n" << ss.str();
    }
    DcFixture::TearDown();
  }

  /// The DC's public key, creating its key in <tmp>/dc (what start_dc() will use).
  std::string dc_public_key() {
    Process p({bin("ntm-dc"), "--state-dir", dir_.path() + "/dc", "--print-public-key"});
    std::string key = p.read_line(5s).value_or("");
    EXPECT_EQ(p.wait(5s), 0);
    return key;
  }

  /// Starts ntm-as listing this test's admin key and `dc_keys` as DCs.
  void start_as(const std::vector<std::string>& dc_keys) {
    std::string state = dir_.path() + "/as";
    {
      Process p({bin("ntm-as"), "--state-dir", state, "--print-public-key"});
      as_key_ = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    ASSERT_EQ(as_key_.size(), 44u);
    std::string admin_key;
    {
      Process p({bin("ntm-admin"), "--key-dir", dir_.path() + "/admin", "key"});
      admin_key = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    {
      std::ofstream f(dir_.path() + "/as.conf");
      f << "state-dir = " << state << "\n"
        << "admin-listen = 127.0.0.1:0\n"
        << "port-file = " << dir_.path() << "/as.port\n"
        << "pwhash-ops = 1\npwhash-mem-mib = 8\n"  // cheap hashes: a test, not a deployment
        << "admin-key = " << admin_key << "\n";
      for (auto& k : dc_keys) f << "dc-key = " << k << "\n";
    }
    as_ = std::make_unique<Process>(
        std::vector<std::string>{bin("ntm-as"), "--config", dir_.path() + "/as.conf"},
        std::map<std::string, std::string>{}, dir_.path() + "/as.log");
    for (int i = 0; i < 500 && as_port_ == 0; ++i) {  // up to 10 s on a busy machine
      std::ifstream f(dir_.path() + "/as.port");
      f >> as_port_;
      if (!as_port_) std::this_thread::sleep_for(20ms);
    }
    ASSERT_NE(as_port_, 0) << "ntm-as did not start";
  }

  /// `ntm-admin account add NAME` with `password` and `limit`; true when it succeeded.
  bool add_account(const std::string& name, const std::string& password, int limit) {
    Process p({bin("ntm-admin"), "--key-dir", dir_.path() + "/admin", "account", "add", name,
               "--node-limit", std::to_string(limit)},
              {{"NTM_AS", as_endpoint()}, {"NTM_AS_KEY", as_key_}}, dir_.path() + "/admin.err");
    p.write_stdin(password + "\n");
    p.close_stdin();
    while (p.read_line(30s)) {
    }
    return p.wait(30s) == 0;
  }

  std::string as_endpoint() const { return "127.0.0.1:" + std::to_string(as_port_); }

  /// The DC, asking the AS at `as` (default: the one started) with `timeout_ms`.
  void start_dc_with_as(const std::string& as = "", int timeout_ms = 3000) {
    start_dc({"--as", as.empty() ? as_endpoint() : as, "--as-key", as_key_, "--as-timeout",
              std::to_string(timeout_ms)});
  }

  /// Runs `ntm-testnode info` as `name` (its key in <tmp>/<state>) with these credentials
  /// (empty: none) and returns its one result line.
  std::string start_node(const std::string& name, const std::string& account,
                         const std::string& password, const std::string& state = "") {
    std::map<std::string, std::string> env;
    if (!account.empty()) env["NTM_ACCOUNT"] = account;
    if (!password.empty()) env["NTM_PASSWORD"] = password;
    auto p = node(name, {"info"}, state, "127.0.0.1:0", env);
    std::string line;
    for (int i = 0; i < 50; ++i) {  // the one "info"/"error" line among others, bounded
      auto l = p->read_line(30s);
      if (!l) break;
      if (l->rfind("info ", 0) == 0 || l->rfind("error ", 0) == 0) {
        line = *l;
        break;
      }
    }
    p->wait(30s);
    return line;
  }

  /// The DC's counters, printed when it stops.
  std::string stop_dc() {
    dc_->signal(SIGTERM);
    EXPECT_EQ(dc_->wait(10s), 0);
    std::string log = read_dc_log();
    auto at = log.find("logins_asked=");
    if (at == std::string::npos) return "";
    size_t begin = log.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    return log.substr(begin, log.find('\n', at) - begin);
  }

  std::string as_key_;
  uint16_t as_port_ = 0;
  std::unique_ptr<Process> as_;
};

TEST_F(Login, OnlyANodeWithAnAccountAndItsPasswordGetsAVip) {
  start_as({dc_public_key()});
  ASSERT_TRUE(add_account("alice", "alice-secret-1", 5));
  start_dc_with_as();

  auto ok = fields(start_node("laptop", "alice", "alice-secret-1"));
  EXPECT_EQ(ok["fqdn"], fqdn("laptop"));
  EXPECT_EQ(ok["vip4"].rfind("100.64.0.", 0), 0u) << "registered with its account";

  auto wrong = fields(start_node("phone", "alice", "not-the-password"));
  EXPECT_EQ(wrong["errno"], "EACCES") << "a wrong password";
  EXPECT_TRUE(wrong["vip4"].empty());
  auto unknown = fields(start_node("tablet", "mallory", "alice-secret-1"));
  EXPECT_EQ(unknown["errno"], "EACCES") << "an account the AS does not have";
  auto none = fields(start_node("watch", "", ""));
  EXPECT_EQ(none["errno"], "EACCES") << "no account at a DC that needs one";

  // None of the refused nodes took a name: the DNS-visible registrations are laptop's only.
  auto again = fields(start_node("phone", "alice", "alice-secret-1"));
  EXPECT_EQ(again["fqdn"], fqdn("phone")) << "the name was not taken by the refused attempt";
  std::string stats = stop_dc();
  EXPECT_EQ(number(stats, "registrations"), 2) << stats;
  EXPECT_EQ(number(stats, "logins_refused"), 2) << stats;  // asked and refused by the AS
  // The passwords never reach the DC's log.
  EXPECT_EQ(read_dc_log().find("alice-secret-1"), std::string::npos);
  EXPECT_EQ(read_dc_log().find("not-the-password"), std::string::npos);
}

TEST_F(Login, TheNodeLimitCountsIdentitiesNotStarts) {
  start_as({dc_public_key()});
  ASSERT_TRUE(add_account("bob", "bob-secret-12", 1));
  start_dc_with_as();
  EXPECT_FALSE(fields(start_node("one", "bob", "bob-secret-12"))["vip4"].empty());
  // Another identity (its own key) under the same account: over the limit of one.
  auto two = fields(start_node("two", "bob", "bob-secret-12"));
  EXPECT_EQ(two["errno"], "EDQUOT") << "the account's second node";
  // The first identity starts again: still its one node.
  EXPECT_FALSE(fields(start_node("one", "bob", "bob-secret-12"))["vip4"].empty());
}

TEST_F(Login, ARegisteredNodeRegistersAgainWithoutAskingTheAs) {
  start_as({dc_public_key()});
  ASSERT_TRUE(add_account("carol", "carol-secret-1", 3));
  start_dc_with_as();
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(fields(start_node("desk", "carol", "carol-secret-1"))["vip4"].empty()) << i;
  std::string stats = stop_dc();
  EXPECT_EQ(number(stats, "logins_asked"), 1) << stats;
  EXPECT_EQ(number(stats, "logins_cached"), 2) << stats;
}

TEST_F(Login, AnAsThatDoesNotAnswerIsACleanTryAgain) {
  start_as({dc_public_key()});
  ASSERT_TRUE(add_account("dave", "dave-secret-12", 3));
  // Nothing listens on this port: the AS is down.
  start_dc_with_as("127.0.0.1:" + std::to_string(free_udp_port()), 500);
  auto r = fields(start_node("box", "dave", "dave-secret-12"));
  EXPECT_EQ(r["errno"], "EAGAIN") << "the AS did not answer";
  EXPECT_TRUE(r["vip4"].empty());
}

TEST_F(Login, AnAsThatDoesNotKnowTheDcRefusesIt) {
  start_as({});  // the DC's key is not a dc-key of the AS
  ASSERT_TRUE(add_account("erin", "erin-secret-12", 3));
  start_dc_with_as();
  auto r = fields(start_node("box", "erin", "erin-secret-12"));
  EXPECT_EQ(r["errno"], "EAGAIN");
  EXPECT_TRUE(wait_for_dc_log("not a dc-key of the AS", 5s)) << "the operator is told why";
}

}  // namespace
}  // namespace ntm::test
