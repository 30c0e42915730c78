// Name resolution and data through DC-directed tunnels: TCP and UDP both ways, datagrams up to
// the largest an IP packet holds, many connections and many tunnels, IPv6 vIPs, keep-alives
// on idle tunnels only, and ntm_event_fd() waiting beside an OS descriptor.
#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class Transfer : public DcFixture {
 protected:
  void SetUp() override { start_dc(); }

  /// Starts `serve` on node `name` and waits for it to listen.
  std::unique_ptr<Process> server(const std::string& name, std::vector<std::string> args,
                                  std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), "serve");
    auto p = node(name, args, "", "127.0.0.1:0", env);
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

TEST_F(Transfer, UdpBothWaysEveryDatagramOnce) {
  // Each datagram is sent once and must come back before the next: a single loss fails.
  auto srv = server("alpha", {"7002", "--udp"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7002", "--udp", "--bytes", "200000", "--sizes",
                           "1,1000,1400,1472,3000,9000"});
  auto ok = cli->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok);
  long long datagrams = number(*ok, "datagrams");
  EXPECT_GT(datagrams, 40);
  EXPECT_TRUE(
      srv->wait_for_line("served datagrams=" + std::to_string(datagrams) + " bytes=200000", 10s));

  auto srv2 = server("beta", {"7003", "--udp"});
  auto cli2 = node("alpha", {"client", fqdn("beta"), "7003", "--udp", "--bytes", "50000"});
  EXPECT_TRUE(cli2->wait_for_line("ok conns=1 bytes=50000 datagrams=50", 30s));
  EXPECT_TRUE(srv2->wait_for_line("served datagrams=50 bytes=50000", 10s));
}

TEST_F(Transfer, UdpDatagramsUpToTheLargestAnIpPacketHoldsArriveWhole) {
  // The tunnel MTU is 1420: these travel in up to 47 fragments and are reassembled by the
  // receiving node (lwIP's own reassembly lost everything from 14,000 bytes on).
  auto srv = server("alpha", {"7009", "--udp"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7009", "--udp", "--sizes",
                           "14000,16000,32000,65000,65507,1", "--bytes", "192508"});
  auto ok = cli->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok) << "a datagram did not come back whole";
  EXPECT_EQ(number(*ok, "datagrams"), 6);
  EXPECT_TRUE(srv->wait_for_line("served datagrams=6 bytes=192508", 10s));
  auto cstats = cli->wait_for_line("stats ", 5s).value_or("");
  auto sstats = srv->wait_for_line("stats ", 5s).value_or("");
  EXPECT_EQ(number(cstats, "drop_reassembly"), 0) << cstats;
  EXPECT_EQ(number(sstats, "drop_reassembly"), 0) << sstats;
  EXPECT_GE(number(sstats, "rx_packets"), 47 * 2) << "fragments, not one packet each";
}

TEST_F(Transfer, UdpOverIpv6VipsUpToTheLargestDatagram) {
  auto srv = server("alpha", {"7010", "--udp", "--v6"});
  auto cli = node("beta", {"client", fqdn("alpha"), "7010", "--udp", "--v6", "--sizes",
                           "1,1200,65487,30000", "--bytes", "96688"});
  auto ok = cli->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(number(*ok, "datagrams"), 4);
  EXPECT_TRUE(srv->wait_for_line("served datagrams=4 bytes=96688", 10s));
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

TEST_F(Transfer, ThousandConcurrentTcpConnectionsThroughOneTunnel) {
  auto srv = server("alpha", {"7011", "--conns", "1000", "--poll"});
  auto cli = node(
      "beta", {"client", fqdn("alpha"), "7011", "--conns", "1000", "--bytes", "20000", "--poll"});
  auto ok = cli->wait_for_line("ok ", 100s);
  ASSERT_TRUE(ok) << "every connection's echo must come back byte for byte";
  EXPECT_EQ(number(*ok, "conns"), 1000);
  EXPECT_TRUE(srv->wait_for_line("served conns=1000 bytes=20000000", 20s));
  auto stats = cli->wait_for_line("stats ", 5s).value_or("");
  EXPECT_EQ(number(stats, "tunnels_established"), 1) << stats;
}

TEST_F(Transfer, FiftyTunnelsFromOneNode) {
  std::vector<std::unique_ptr<Process>> servers;
  std::string names;
  for (int i = 0; i < 50; ++i) {
    std::string name = "peer" + std::to_string(i);
    servers.push_back(node(name, {"serve", "7012", "--conns", "2"}));
    names += (i ? "," : "") + fqdn(name);
    // Started five at a time: fifty processes starting at once on two cores are a test of
    // the machine, not of the node.
    if (i % 5 == 4) {
      for (size_t k = servers.size() - 5; k < servers.size(); ++k)
        ASSERT_EQ(servers[k]->wait_for_line("", 30s).value_or("(nothing)"), "ready");
    }
  }
  auto cli = node("hub", {"client", names, "7012", "--conns", "100", "--bytes", "10000", "--poll"});
  auto ok = cli->wait_for_line("ok ", 100s);
  ASSERT_TRUE(ok);
  auto stats = cli->wait_for_line("stats ", 5s).value_or("");
  EXPECT_EQ(number(stats, "tunnels_established"), 50) << stats;
  for (auto& s : servers) EXPECT_TRUE(s->wait_for_line("served conns=2 bytes=20000", 10s));
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

TEST_F(Transfer, BusyTunnelsSendNoKeepAlivesAndIdleOnesDo) {
  // Paper 002 Fig. 3 step 20: a tunnel that sent nothing for a keep-alive interval sends an
  // empty data packet, so NAT bindings on its path survive; one that carries traffic does not.
  std::map<std::string, std::string> env = {{"NTM_KEEPALIVE_MS", "1000"}};
  auto srv = server("alpha", {"7007", "--udp", "--hold"}, env);
  // Busy: a datagram and its echo every 10 ms for 3.5 keep-alive intervals.
  auto cli = node("beta",
                  {"client", fqdn("alpha"), "7007", "--udp", "--sizes", "100", "--pace-ms", "10",
                   "--duration-ms", "3500", "--hold"},
                  "", "127.0.0.1:0", env);
  auto busy_start = cli->wait_for_line("stats ", 30s).value_or("");
  auto ok = cli->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok);
  EXPECT_GE(number(*ok, "datagrams"), 50);
  auto busy_end = cli->wait_for_line("stats ", 5s).value_or("");
  EXPECT_EQ(number(busy_end, "tx_keepalives"), number(busy_start, "tx_keepalives"))
      << "a busy tunnel sent keep-alives:\n"
      << busy_start << "\n"
      << busy_end;
  ASSERT_TRUE(srv->wait_for_line("served datagrams=", 10s));
  auto srv_busy_end = srv->wait_for_line("stats ", 5s).value_or("");
  // Idle now: both ends send keep-alives, each interval (waited for, up to 20 s).
  auto keepalives_after = [](Process& p, long long base) {
    for (int i = 0; i < 200; ++i) {
      p.write_stdin("stats\n");
      auto line = p.wait_for_line("stats ", 5s).value_or("");
      if (number(line, "tx_keepalives") >= base + 2) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  EXPECT_TRUE(keepalives_after(*cli, number(busy_end, "tx_keepalives")));
  EXPECT_TRUE(keepalives_after(*srv, number(srv_busy_end, "tx_keepalives")));
}

}  // namespace
}  // namespace ntm::test
