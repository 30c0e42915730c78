// Registration at the DC: unique vIPs, the same vIP for the same node identity after a
// restart, and expiry without keep-alives (paper 002 §2.2, Fig. 5 steps 3 and 6).
#include <set>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class Registration : public DcFixture {};

TEST_F(Registration, EveryLiveNodeGetsItsOwnVips) {
  start_dc();
  std::vector<std::unique_ptr<Process>> nodes;
  std::set<std::string> v4, v6, names;
  for (int i = 0; i < 6; ++i) {
    std::string name = "n" + std::to_string(i);
    nodes.push_back(node(name, {"info", "--hold"}));
    auto line = nodes.back()->wait_for_line("info ", 10s);
    ASSERT_TRUE(line) << name << " did not register";
    auto f = fields(*line);
    EXPECT_EQ(f["fqdn"], fqdn(name));
    EXPECT_EQ(f["vip4"].rfind("100.64.0.", 0), 0u) << f["vip4"];
    EXPECT_EQ(f["vip6"].rfind("fd00:6e74:6d::", 0), 0u) << f["vip6"];
    v4.insert(f["vip4"]);
    v6.insert(f["vip6"]);
    names.insert(f["fqdn"]);
  }
  EXPECT_EQ(v4.size(), 6u);
  EXPECT_EQ(v6.size(), 6u);
  EXPECT_EQ(names.size(), 6u);
}

TEST_F(Registration, SameIdentityKeepsItsVipAcrossRestarts) {
  start_dc();
  auto first = node("keeper", {"info"});
  auto a = fields(first->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(first->wait(10s), 0);
  // Another node registers in between, so a naive "next free address" would differ.
  auto other = node("other", {"info"});
  auto o = fields(other->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(other->wait(10s), 0);
  auto again = node("keeper", {"info"});
  auto b = fields(again->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(again->wait(10s), 0);
  ASSERT_FALSE(a["vip4"].empty());
  EXPECT_EQ(a["vip4"], b["vip4"]);
  EXPECT_EQ(a["vip6"], b["vip6"]);
  EXPECT_NE(a["vip4"], o["vip4"]);
}

TEST_F(Registration, VipsSurviveARestartOfTheDc) {
  start_dc();
  auto before = node("keeper", {"info"});
  auto k1 = fields(before->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(before->wait(10s), 0);
  dc_->signal(SIGTERM);  // the operator restarts the DC
  ASSERT_EQ(dc_->wait(5s), 0);
  dc_.reset();
  dc_port_ = 0;
  start_dc();
  auto newcomer = node("newcomer", {"info"});  // registers first after the restart
  auto n = fields(newcomer->wait_for_line("info ", 10s).value_or(""));
  auto after = node("keeper", {"info"});
  auto k2 = fields(after->wait_for_line("info ", 10s).value_or(""));
  ASSERT_FALSE(k1["vip4"].empty());
  EXPECT_EQ(k2["vip4"], k1["vip4"]);
  EXPECT_EQ(k2["vip6"], k1["vip6"]);
  EXPECT_NE(n["vip4"], k1["vip4"]) << "a vIP bound before the restart is not handed to another";
}

TEST_F(Registration, NameOfAnotherIdentityIsRefused) {
  start_dc();
  auto owner = node("taken", {"info", "--hold"});
  ASSERT_TRUE(owner->wait_for_line("info ", 10s));
  // Same name, different state directory = different key = different identity.
  auto thief = node("taken", {"info"}, "thief-state");
  auto line = thief->wait_for_line("error ", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(fields(*line)["errno"], "ECONNREFUSED") << *line;
  EXPECT_NE(line->find("another node"), std::string::npos) << *line;
  EXPECT_EQ(thief->wait(10s), 1);
}

TEST_F(Registration, ExpiresWithoutKeepAlivesAndStaysWithThem) {
  start_dc({"--registration-lifetime", "3"});
  auto alive = node("alive", {"info", "--hold"});  // keep-alives every lifetime/3
  ASSERT_TRUE(alive->wait_for_line("info ", 10s));
  auto silent = node("silent", {"info", "--hold"});
  ASSERT_TRUE(silent->wait_for_line("info ", 10s));
  silent->signal(SIGKILL);  // no goodbye, no more keep-alives
  silent->wait(5s);
  ASSERT_TRUE(wait_for_dc_log("registration silent.it.ntm.test expired", 30s)) << read_dc_log();
  auto asker = node("asker", {"resolve", fqdn("silent")});
  auto line = asker->wait_for_line("", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(fields(*line)["errno"], "ENOENT") << *line;
  // "alive" registered before "silent", so it has lived longer than the lifetime that ended
  // silent's registration: only its keep-alives kept it.
  auto asker2 = node("asker2", {"resolve", fqdn("alive")});
  auto line2 = asker2->wait_for_line("", 10s);
  ASSERT_TRUE(line2);
  EXPECT_EQ(line2->rfind("resolved ", 0), 0u) << *line2;
  EXPECT_EQ(read_dc_log().find("registration alive.it.ntm.test expired"), std::string::npos);
}

TEST_F(Registration, AnUnansweredKeepAliveMakesTheNodeRegisterAgain) {
  // architecture.md §4: the DC restarts and has forgotten the node's session, so the next
  // keep-alive goes unanswered; the node handshakes and registers again by itself.
  uint16_t port = free_udp_port();
  std::string listen = "127.0.0.1:" + std::to_string(port);
  start_dc({}, listen);
  auto keeper = node("keeper", {"info", "--hold"}, "", "127.0.0.1:0",
                     {{"NTM_KEEPALIVE_MS", "300"}, {"NTM_LOG", "info"}});
  auto before = fields(keeper->wait_for_line("info ", 10s).value_or(""));
  ASSERT_FALSE(before["vip4"].empty());
  dc_->signal(SIGTERM);
  ASSERT_EQ(dc_->wait(5s), 0);
  dc_.reset();
  dc_port_ = 0;
  start_dc({}, listen);
  ASSERT_EQ(dc_port_, port);
  ASSERT_TRUE(wait_for_dc_log("registration keeper.it.ntm.test vip4", 30s, 2)) << read_dc_log();
  auto asker = node("asker", {"resolve", fqdn("keeper")});
  auto line = asker->wait_for_line("", 10s).value_or("");
  EXPECT_EQ(fields(line)["vip"], before["vip4"]) << line;
  std::ifstream err(dir_.path() + "/keeper.err");
  std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("keep-alive unanswered: registering again"), std::string::npos) << text;
}

TEST_F(Registration, ARefusedKeepAliveMakesTheNodeRegisterAgain) {
  // architecture.md §4: the node was frozen past its registration's lifetime; its next
  // keep-alive is refused ("not registered") and it registers again by itself.
  start_dc({"--registration-lifetime", "3"});
  auto sleeper = node("sleeper", {"info", "--hold"}, "", "127.0.0.1:0", {{"NTM_LOG", "info"}});
  auto before = fields(sleeper->wait_for_line("info ", 10s).value_or(""));
  ASSERT_FALSE(before["vip4"].empty());
  ASSERT_TRUE(sleeper->freeze());
  bool expired = wait_for_dc_log("registration sleeper.it.ntm.test expired", 30s);
  sleeper->thaw();
  ASSERT_TRUE(expired) << read_dc_log();
  ASSERT_TRUE(wait_for_dc_log("registration sleeper.it.ntm.test vip4", 30s, 2)) << read_dc_log();
  auto asker = node("asker", {"resolve", fqdn("sleeper")});
  auto line = asker->wait_for_line("", 10s).value_or("");
  EXPECT_EQ(fields(line)["vip"], before["vip4"]) << line;
  std::ifstream err(dir_.path() + "/sleeper.err");
  std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("keep-alive refused: registering again"), std::string::npos) << text;
}

TEST_F(Registration, ExampleConfigFileParses) {
  Process p({bin("ntm-dc"), "--config",
             std::string(NTM_SOURCE_DIR) + "/servers/dc/ntm-dc.conf.example", "--state-dir",
             dir_.path() + "/example", "--print-public-key"});
  auto key = p.read_line(5s);
  EXPECT_EQ(p.wait(5s), 0);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 44u);
}

TEST_F(Registration, ConfigFileIsHonouredAndPoolExhaustionIsACleanError) {
  // A /30 has two host addresses: the third node must be refused, cleanly.
  std::string conf = dir_.path() + "/dc.conf";
  std::ofstream(conf) << "listen = 127.0.0.1:0\n"
                      << "domain = cfg.ntm.test\n"
                      << "vip4-pool = 100.100.0.0/30\n"
                      << "vip6-pool = none\n"
                      << "state-dir = " << dir_.path() << "/dc\n"
                      << "port-file = " << dir_.path() << "/dc.port\n";
  {
    Process k({bin("ntm-dc"), "--config", conf, "--print-public-key"});
    dc_key_ = k.read_line(5s).value_or("");
  }
  dc_ = std::make_unique<Process>(std::vector<std::string>{bin("ntm-dc"), "--config", conf},
                                  std::map<std::string, std::string>{}, dc_log());
  for (int i = 0; i < 200 && dc_port_ == 0; ++i) {
    std::ifstream f(dir_.path() + "/dc.port");
    f >> dc_port_;
    if (!dc_port_) std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(dc_port_, 0);
  auto a = node("one", {"info", "--hold"});
  auto b = node("two", {"info", "--hold"});
  auto fa = fields(a->wait_for_line("info ", 10s).value_or(""));
  auto fb = fields(b->wait_for_line("info ", 10s).value_or(""));
  EXPECT_EQ(fa["fqdn"], "one.cfg.ntm.test");
  std::set<std::string> got = {fa["vip4"], fb["vip4"]};
  EXPECT_EQ(got, (std::set<std::string>{"100.100.0.1", "100.100.0.2"}));
  EXPECT_EQ(fa["vip6"], "-") << "vip6-pool = none assigns no IPv6 vIP";
  auto c = node("three", {"info"});
  auto line = c->wait_for_line("error ", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(fields(*line)["errno"], "ECONNREFUSED") << *line;
  EXPECT_NE(line->find("pool exhausted"), std::string::npos) << *line;
  EXPECT_EQ(c->wait(10s), 1);
  EXPECT_FALSE(dc_->wait(0ms)) << "the DC keeps serving";
}

}  // namespace
}  // namespace ntm::test
