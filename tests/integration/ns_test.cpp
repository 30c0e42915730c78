// The Notification Server end to end (docs/protocol.md §17; paper 002 Fig. 5 steps 7-8,
// 17-20): a real ntm-ns and an ntm-dc configured with it on loopback, a node that asks for the
// NS (NTM_NOTIFICATION=1) and one that does not. The NS node connects and is confirmed at the
// NS; when the other node opens a tunnel to it, the DC asks the NS to notify it, the notify
// reaches it, and data flows; after an NS restart it connects again; with the NS down it is
// still reachable (its DC keep-alives fall back to the normal interval).
#include <csignal>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class NsTest : public DcFixture {
 protected:
  void SetUp() override {
    std::string dc_state = dir_.path() + "/dc";
    {
      Process p({bin("ntm-dc"), "--state-dir", dc_state, "--print-public-key"});
      dc_public_ = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    {
      Process p({bin("ntm-ns"), "--state-dir", dir_.path() + "/ns", "--print-public-key"});
      ns_public_ = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    ASSERT_EQ(ns_public_.size(), 44u);
    start_ns("127.0.0.1:0", "127.0.0.1:0");
    start_dc({"--ns", "127.0.0.1:" + std::to_string(ns_node_port_), "--ns-dc",
              "127.0.0.1:" + std::to_string(ns_dc_port_), "--ns-key", ns_public_});
  }
  void start_ns(const std::string& node_listen, const std::string& dc_listen) {
    std::string port_file = dir_.path() + "/ns.port";
    std::filesystem::remove(port_file);
    ns_ = std::make_unique<Process>(
        std::vector<std::string>{bin("ntm-ns"), "--state-dir", dir_.path() + "/ns", "--node-listen",
                                 node_listen, "--dc-listen", dc_listen, "--dc-key", dc_public_,
                                 "--port-file", port_file},
        std::map<std::string, std::string>{}, dir_.path() + "/ns.log");
    for (int i = 0; i < 500; ++i) {
      std::ifstream f(port_file);
      uint16_t a = 0, b = 0;
      if (f >> a >> b) {
        ns_node_port_ = a;
        ns_dc_port_ = b;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "ntm-ns did not start: " << read_file(dir_.path() + "/ns.log");
  }
  /// The NS's counters, from the stats line its SIGHUP writes to its log.
  std::map<std::string, std::string> ns_stats() {
    int before = count(read_file(dir_.path() + "/ns.log"), "confirmed_now=");
    ns_->signal(SIGHUP);
    for (int i = 0; i < 250; ++i) {
      std::string log = read_file(dir_.path() + "/ns.log");
      if (count(log, "confirmed_now=") > before) {
        auto at = log.rfind("connections=");
        return fields(log.substr(at, log.find('\n', at) - at));
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "no stats line from ntm-ns";
    return {};
  }
  /// Waits until node `name`'s stderr holds `text` `times` times.
  bool wait_for_node_log(const std::string& name, const std::string& text, int times,
                         std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(read_file(dir_.path() + "/" + name + ".err"), text) >= times) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  std::unique_ptr<Process> ns_node(const std::string& port) {
    auto s = node("alpha", {"serve", port, "--hold"}, "", "127.0.0.1:0",
                  {{"NTM_NOTIFICATION", "1"}, {"NTM_LOG", "info"}});
    EXPECT_TRUE(s->wait_for_line("ready", 10s));
    return s;
  }
  /// beta (no NS) sends `bytes` to alpha's port and checks them back.
  bool exchange(const std::string& port, const std::string& name = "beta") {
    auto cli = node(name, {"client", fqdn("alpha"), port, "--bytes", "20000"});
    return cli->wait_for_line("ok ", 30s).has_value();
  }

  std::string dc_public_, ns_public_;
  std::unique_ptr<Process> ns_;
  uint16_t ns_node_port_ = 0, ns_dc_port_ = 0;
};

TEST_F(NsTest, TheDcNotifiesThroughTheNsAndTheTunnelWorks) {
  auto alpha = ns_node("7301");
  ASSERT_TRUE(wait_for_node_log("alpha", "notification server 127.0.0.1:", 1, 10s));
  ASSERT_TRUE(wait_for_dc_log("(notification server)", 5s)) << "registered with the flag";
  auto s = ns_stats();
  EXPECT_EQ(s["confirmed_now"], "1");
  EXPECT_EQ(s["handshakes"], "1");
  ASSERT_TRUE(exchange("7301"));
  // The DC sent alpha a route direction and asked the NS to notify it; the notify arrived.
  EXPECT_TRUE(wait_for_node_log("alpha", "the DC has a request waiting", 1, 10s));
  s = ns_stats();
  EXPECT_GE(std::stoi(s["notifications"]), 1);
  EXPECT_EQ(s["notify_no_connection"], "0");
  // beta did not ask for the NS: it never connected.
  EXPECT_EQ(s["handshakes"], "1");
  EXPECT_EQ(count(read_file(dir_.path() + "/beta.err"), "notification server"), 0);
}

TEST_F(NsTest, AfterAnNsRestartTheNodeConnectsAgain) {
  auto alpha = ns_node("7302");
  ASSERT_TRUE(wait_for_node_log("alpha", "notification server connection up", 1, 10s));
  ns_->signal(SIGTERM);
  ASSERT_EQ(ns_->wait(10s), 0);
  ASSERT_TRUE(wait_for_node_log("alpha", "notification server connection down", 1, 10s));
  start_ns("127.0.0.1:" + std::to_string(ns_node_port_),
           "127.0.0.1:" + std::to_string(ns_dc_port_));
  // Backoff 1 s, 2 s, 4 s...: well within 20 s.
  ASSERT_TRUE(wait_for_node_log("alpha", "notification server connection up", 2, 20s));
  EXPECT_EQ(ns_stats()["confirmed_now"], "1");
  ASSERT_TRUE(exchange("7302"));
  EXPECT_TRUE(wait_for_node_log("alpha", "the DC has a request waiting", 1, 10s));
}

TEST_F(NsTest, WithTheNsDownTheNodeIsStillReachable) {
  auto alpha = ns_node("7303");
  ASSERT_TRUE(wait_for_node_log("alpha", "notification server connection up", 1, 10s));
  ns_->signal(SIGTERM);
  ASSERT_EQ(ns_->wait(10s), 0);
  // The node falls back to its keep-alive interval (15 s; 20 minutes while the NS was up).
  ASSERT_TRUE(wait_for_node_log("alpha", "connection down: DC keep-alives every 15000 ms", 1, 10s));
  ASSERT_TRUE(exchange("7303"));
  // The DC tried the NS and found it gone; the tunnel came up over UDP all the same.
  EXPECT_TRUE(wait_for_dc_log("not delivered", 10s));
}

TEST_F(NsTest, WhileItsNsConnectionIsUpANodeSendsFewerDcKeepAlives) {
  // alpha asks for DC keep-alives every second; while its NS connection is up it sends them
  // only every third of the registration lifetime (1 hour: 20 minutes), and every second
  // again once the connection is down.
  auto alpha = node("alpha", {"serve", "7304", "--hold"}, "", "127.0.0.1:0",
                    {{"NTM_NOTIFICATION", "1"}, {"NTM_LOG", "info"}, {"NTM_KEEPALIVE_MS", "1000"}});
  ASSERT_TRUE(alpha->wait_for_line("ready", 10s));
  EXPECT_TRUE(wait_for_node_log(
      "alpha", "notification server connection up: DC keep-alives every 1200000 ms", 1, 10s));
  ns_->signal(SIGTERM);
  ASSERT_EQ(ns_->wait(10s), 0);
  EXPECT_TRUE(wait_for_node_log(
      "alpha", "notification server connection down: DC keep-alives every 1000 ms", 1, 10s));
}

/// A DC with no Notification Server.
class NoNsTest : public DcFixture {
 protected:
  void SetUp() override { start_dc(); }
};

TEST_F(NoNsTest, ADcWithoutAnNsIgnoresTheRequestAndTheNodeSaysSo) {
  auto alpha = node("alpha", {"serve", "7305"}, "", "127.0.0.1:0",
                    {{"NTM_NOTIFICATION", "1"}, {"NTM_LOG", "info"}, {"NTM_KEEPALIVE_MS", "1000"}});
  ASSERT_TRUE(alpha->wait_for_line("ready", 10s));
  EXPECT_TRUE(wait_for_file_text(
      dir_.path() + "/alpha.err",
      "notification server asked for, but the DC offers none: keep-alives every 1000 ms", 10s));
  // It registered all the same, and is reachable.
  auto cli = node("beta", {"client", fqdn("alpha"), "7305", "--bytes", "20000"});
  EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
}

}  // namespace
}  // namespace ntm::test
