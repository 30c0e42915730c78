// Name resolution and data through DC-directed tunnels: TCP and UDP both ways, concurrent
// connections, IPv6 vIPs, and ntm_event_fd() waiting beside an OS descriptor.
#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class Transfer : public DcFixture {
 protected:
  void SetUp() override { start_dc(); }

  /// Starts `serve` on node `name` and waits for it to listen.
  std::unique_ptr<Process> server(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), "serve");
    auto p = node(name, args);
    EXPECT_TRUE(p->wait_for_line("ready", 10s)) << name << " did not start serving";
    return p;
  }
};

TEST_F(Transfer, ResolvesAPeersFqdnToItsVip) {
  auto a = node("alpha", {"info", "--hold"});
  auto info = fields(a->wait_for_line("info ", 10s).value_or(""));
  auto b = node("beta", {"resolve", fqdn("alpha")});
  auto line = b->wait_for_line("", 10s).value_or("");
  EXPECT_EQ(fields(line)["vip"], info["vip4"]) << line;
  auto b6 = node("beta", {"resolve", fqdn("ALPHA") + ".", "--v6"});  // case and root dot
  auto line6 = b6->wait_for_line("", 10s).value_or("");
  EXPECT_EQ(fields(line6)["vip"], info["vip6"]) << line6;
}

TEST_F(Transfer, UnknownFqdnIsACleanError) {
  auto b = node("beta", {"resolve", fqdn("nobody")});
  auto line = b->wait_for_line("", 10s).value_or("");
  EXPECT_EQ(fields(line)["errno"], "ENOENT") << line;
  EXPECT_NE(line.find("nobody.it.ntm.test"), std::string::npos) << line;
  EXPECT_EQ(b->wait(10s), 1);
}

TEST_F(Transfer, TcpBothWays) {
  // beta connects to alpha, then alpha connects to beta over the same pair of nodes.
  auto srv = server("alpha", {"7000"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7000", "--bytes", "2000000"});
  EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
  EXPECT_EQ(cli->wait(10s), 0);
  EXPECT_TRUE(srv->wait_for_line("served conns=1 bytes=2000000", 10s));

  auto srv2 = server("beta", {"7001"});
  auto cli2 = node("alpha", {"client", fqdn("beta"), "7001", "--bytes", "2000000"});
  EXPECT_TRUE(cli2->wait_for_line("ok ", 30s));
  EXPECT_EQ(cli2->wait(10s), 0);
}

TEST_F(Transfer, UdpBothWays) {
  auto srv = server("alpha", {"7002", "--udp"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7002", "--udp", "--bytes", "200000"});
  EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
  EXPECT_TRUE(srv->wait_for_line("served datagrams=200", 10s));

  auto srv2 = server("beta", {"7003", "--udp"});
  auto cli2 = node("alpha", {"client", fqdn("beta"), "7003", "--udp", "--bytes", "50000"});
  EXPECT_TRUE(cli2->wait_for_line("ok ", 30s));
}

TEST_F(Transfer, FourConcurrentTcpConnections) {
  auto srv = server("alpha", {"7004", "--conns", "4"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7004", "--conns", "4", "--bytes", "1000000"});
  auto ok = cli->wait_for_line("ok ", 60s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(fields(*ok)["conns"], "4");
  EXPECT_TRUE(srv->wait_for_line("served conns=4 bytes=4000000", 10s));
  // All four share one tunnel.
  auto stats = fields(cli->wait_for_line("stats ", 5s).value_or(""));
  EXPECT_EQ(stats["tunnels_established"], "1");
}

TEST_F(Transfer, Ipv6VipConnection) {
  auto srv = server("alpha", {"7005", "--v6"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7005", "--v6", "--bytes", "500000"});
  EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
  EXPECT_TRUE(srv->wait_for_line("served conns=1 bytes=500000", 10s));
}

TEST_F(Transfer, EventFdWaitsTogetherWithOsDescriptors) {
  auto srv = server("alpha", {"7006"});
  auto cli = node("beta", {"eventfd-client", fqdn("alpha"), "7006"});
  auto line = cli->wait_for_line("", 30s).value_or("");
  EXPECT_EQ(line, "ok bytes=65536");
}

TEST_F(Transfer, Ipv6UnderlayToTheDcAndBetweenNodes) {
  // The DC's second endpoint is IPv6; both nodes live on ::1, so registration, directions and
  // the tunnel itself travel over IPv6 UDP.
  DcFixture::dc_.reset();
  dc_port_ = 0;
  start_dc({"--listen", "[::1]:0"});
  std::ifstream ports(dir_.path() + "/dc.port");
  uint16_t v4 = 0, v6 = 0;
  ports >> v4 >> v6;
  ASSERT_NE(v6, 0) << "ntm-dc should have written its IPv6 port second";
  std::map<std::string, std::string> env6 = {{"NTM_DC", "[::1]:" + std::to_string(v6)}};
  auto srv = node("alpha6", {"serve", "7008"}, "", "[::1]:0", env6);
  ASSERT_TRUE(srv->wait_for_line("ready", 10s));
  auto cli =
      node("beta6", {"client", fqdn("alpha6"), "7008", "--bytes", "300000"}, "", "[::1]:0", env6);
  EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
  EXPECT_NE(read_dc_log().find("nat=[::1]:"), std::string::npos) << read_dc_log();
}

TEST_F(Transfer, IdleTunnelsSendKeepAlivesAndBusyOnesDoNot) {
  // Paper 002 Fig. 3 step 20: an idle tunnel keeps the NAT bindings on its path open.
  auto srv = server("alpha", {"7007", "--conns", "2"});
  auto idle_tx = [&](const std::string& keepalive_ms) {
    auto cli =
        node("beta", {"client", fqdn("alpha"), "7007", "--bytes", "1000", "--idle-ms", "1500"}, "",
             "127.0.0.1:0", {{"NTM_KEEPALIVE_MS", keepalive_ms}});
    EXPECT_TRUE(cli->wait_for_line("ok ", 30s));
    auto before = fields(cli->wait_for_line("stats ", 5s).value_or(""));
    auto after = fields(cli->wait_for_line("stats ", 10s).value_or(""));
    return std::stol(after["tx_packets"]) - std::stol(before["tx_packets"]);
  };
  long sent = idle_tx("200");  // ~7 intervals of 200 ms while idle
  EXPECT_GE(sent, 4);
  EXPECT_LE(sent, 9);
  EXPECT_EQ(idle_tx("15000"), 0) << "no keep-alive before the interval has passed";
}

}  // namespace
}  // namespace ntm::test
