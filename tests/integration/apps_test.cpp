// The apps as a user runs them (README "Apps"): ntm-cat moves stdin to the peer and the
// peer's bytes to stdout, TCP and UDP, both directions at once, over IPv4 or IPv6 vIPs, and
// exits 0 on success, 1 when the node or the name fails, 2 on a usage error; ntm-ping prints
// echo replies like ping(8) and exits 0 when replies came.
#include <fstream>
#include <sstream>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Text of `n` bytes, different per `seed`, with line breaks (what a user pipes through).
std::string data(size_t n, int seed) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i)
    s[i] = (i % 61 == 60) ? '\n' : char('!' + (i * 7 + size_t(seed) + i / 997) % 90);
  return s;
}

class Apps : public DcFixture {
 protected:
  void SetUp() override { start_dc(); }

  /// Runs `prog args...` as node `name` with stdin from <tmp>/<tag>.in (written from `input`),
  /// stdout to <tmp>/<tag>.out and stderr to <tmp>/<tag>.err.
  std::unique_ptr<Process> app(const std::string& tag, const std::string& name,
                               std::vector<std::string> args, const std::string& input = "") {
    std::string base = dir_.path() + "/" + tag;
    std::ofstream(base + ".in", std::ios::binary) << input;
    std::string cmd = "exec";
    for (auto& a : args) cmd += " '" + a + "'";
    cmd += " <'" + base + ".in' >'" + base + ".out' 2>'" + base + ".err'";
    return std::make_unique<Process>(std::vector<std::string>{"/bin/sh", "-c", cmd},
                                     node_env(name));
  }
  std::string out(const std::string& tag) { return slurp(dir_.path() + "/" + tag + ".out"); }
  std::string err(const std::string& tag) { return slurp(dir_.path() + "/" + tag + ".err"); }
  /// Waits until <tag>.err contains `text`.
  bool wait_err(const std::string& tag, const std::string& text) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(10ms))
      if (err(tag).find(text) != std::string::npos) return true;
    return false;
  }

  /// ntm-cat between two nodes, both directions at once, each output checked byte by byte.
  void exchange(std::vector<std::string> flags, size_t bytes) {
    std::string a = data(bytes, 1), b = data(bytes, 2);
    std::vector<std::string> srv = {bin("ntm-cat"), "-v"}, cli = {bin("ntm-cat"), "-v"};
    srv.insert(srv.end(), flags.begin(), flags.end());
    cli.insert(cli.end(), flags.begin(), flags.end());
    srv.insert(srv.end(), {"-l", "9000"});
    cli.insert(cli.end(), {fqdn("server"), "9000"});
    auto s = app("server", "server", srv, a);
    ASSERT_TRUE(wait_err("server", " port 9000")) << err("server");
    auto c = app("client", "client", cli, b);
    EXPECT_EQ(c->wait(30s), 0) << err("client");
    EXPECT_EQ(s->wait(30s), 0) << err("server");
    EXPECT_TRUE(out("client") == a) << "client got " << out("client").size() << " of " << a.size()
                                    << " bytes, or different ones";
    EXPECT_TRUE(out("server") == b) << "server got " << out("server").size() << " of " << b.size()
                                    << " bytes, or different ones";
  }
};

TEST_F(Apps, NtmTcpCcPicksTheCongestionControllerAndSaysSoOnStderrOnly) {
  // ntm-testnode info: registers, prints its info line on stdout, exits.
  auto run = [&](const std::string& cc) {
    auto p = app(cc, cc, {"env", "NTM_TCP_CC=" + cc, "NTM_LOG=info", bin("ntm-testnode"), "info"});
    EXPECT_EQ(p->wait(30s), 0) << err(cc);
    EXPECT_EQ(out(cc).rfind("info ", 0), 0u) << "stdout holds the info line only: " << out(cc);
    EXPECT_EQ(out(cc).find("NTM_TCP_CC"), std::string::npos) << out(cc);
  };
  run("reno");
  run("bogus");
#ifdef NTM_TEST_LWIP_PATCHED
  EXPECT_NE(err("reno").find("TCP congestion control: reno"), std::string::npos) << err("reno");
  EXPECT_NE(err("bogus").find("NTM_TCP_CC=bogus: unknown congestion controller, keeping bbr"),
            std::string::npos)
      << err("bogus");
#else
  EXPECT_NE(err("reno").find("NTM_TCP_CC=reno ignored"), std::string::npos) << err("reno");
  EXPECT_NE(err("bogus").find("NTM_TCP_CC=bogus ignored"), std::string::npos) << err("bogus");
#endif
}

TEST_F(Apps, CatTcpBothWaysAtOnce) {
  exchange({}, 3'000'000);
  EXPECT_NE(err("client").find("tunnel setup"), std::string::npos) << err("client");
}

TEST_F(Apps, CatTcpOverIpv6Vips) {
  exchange({"-6"}, 500'000);
  EXPECT_NE(err("client").find("fd00:6e74:6d::"), std::string::npos) << err("client");
}

TEST_F(Apps, CatUdpBothWays) {
  // The listening side learns its peer from the first datagram, so it starts the exchange
  // with its own data only then; both ends stop at the other's empty datagram.
  exchange({"-u"}, 60'000);
}

TEST_F(Apps, CatUdpOverIpv6Vips) {
  exchange({"-u", "-6"}, 20'000);
}

// --stats prints the counters as ntm_stop() left them: a file that fits in the 4 MiB send
// buffer is still in lwIP when ntm-cat closes its socket, and leaves during ntm_stop()'s
// linger; the line counts it (and the gauges as held before the close: one socket, one
// tunnel).
TEST_F(Apps, CatStatsCountWhatLeftDuringTheLinger) {
  const size_t bytes = 3'500'000;
  std::string a = data(bytes, 3);
  auto s = app("sink", "sink", {bin("ntm-cat"), "-v", "-l", "9000"});
  ASSERT_TRUE(wait_err("sink", " port 9000")) << err("sink");
  auto c = app("source", "source", {bin("ntm-cat"), "--stats", fqdn("sink"), "9000"}, a);
  EXPECT_EQ(c->wait(30s), 0) << err("source");
  EXPECT_EQ(s->wait(30s), 0) << err("sink");
  EXPECT_TRUE(out("sink") == a) << "sink got " << out("sink").size() << " of " << bytes;
  std::string e = err("source");
  size_t at = e.find("stats ");
  ASSERT_NE(at, std::string::npos) << "no stats line: " << e;
  auto f = fields(e.substr(at, e.find('\n', at) - at));
  ASSERT_FALSE(f["tx_bytes"].empty()) << e;
  EXPECT_GE(std::stoull(f["tx_bytes"]), bytes) << e;
  EXPECT_EQ(f["sockets_open"], "1") << e;
  EXPECT_EQ(f["tunnels_open"], "1") << e;
}

TEST_F(Apps, CatExitCodes) {
  EXPECT_EQ(app("help", "x", {bin("ntm-cat"), "--help"})->wait(10s), 0);
  EXPECT_NE(out("help").find("--listen"), std::string::npos);
  EXPECT_EQ(app("noargs", "x", {bin("ntm-cat")})->wait(10s), 2);
  EXPECT_NE(err("noargs").find("usage"), std::string::npos) << err("noargs");
  EXPECT_EQ(app("badport", "x", {bin("ntm-cat"), "-l", "99999"})->wait(10s), 2);
  EXPECT_NE(err("badport").find("bad port"), std::string::npos) << err("badport");
  EXPECT_EQ(app("badopt", "x", {bin("ntm-cat"), "--frobnicate", "-l", "1"})->wait(10s), 2);
  EXPECT_EQ(app("badkey", "x", {bin("ntm-cat"), "--dc-key", "not-a-key", "-l", "1"})->wait(10s), 1);
  EXPECT_NE(err("badkey").find("cannot start node"), std::string::npos) << err("badkey");
  EXPECT_EQ(app("unknown", "x", {bin("ntm-cat"), fqdn("nobody"), "80"})->wait(20s), 1);
  EXPECT_NE(err("unknown").find("cannot resolve"), std::string::npos) << err("unknown");
  // No DC configured at all (the environment is the only other source).
  auto p = std::make_unique<Process>(std::vector<std::string>{bin("ntm-cat"), "-l", "1"},
                                     std::map<std::string, std::string>{{"NTM_DC", ""}},
                                     dir_.path() + "/nodc.err");
  EXPECT_EQ(p->wait(10s), 2);
  EXPECT_NE(err("nodc").find("--dc is required"), std::string::npos) << err("nodc");
}

TEST_F(Apps, PingGetsEveryEchoReplyOverIpv4AndIpv6) {
  auto peer = node("peer", {"info", "--hold"});
  auto info = fields(peer->wait_for_line("info ", 10s).value_or(""));
  for (const char* v6 : {"", "-6"}) {
    std::vector<std::string> args = {bin("ntm-ping"), "-c", "3", "-i", "10", "--stats"};
    if (*v6) args.push_back(v6);
    args.push_back(fqdn("peer"));
    std::string tag = std::string("ping") + v6;
    EXPECT_EQ(app(tag, "pinger", args)->wait(30s), 0) << out(tag) << err(tag);
    std::string o = out(tag);
    std::string vip = *v6 ? info["vip6"] : info["vip4"];
    EXPECT_NE(o.find("PING " + fqdn("peer") + " (" + vip + ")"), std::string::npos) << o;
    for (int seq = 1; seq <= 3; ++seq)
      EXPECT_NE(o.find("bytes from " + vip + ": icmp_seq=" + std::to_string(seq) + " time="),
                std::string::npos)
          << o;
    EXPECT_NE(o.find("3 packets transmitted, 3 received, 0% packet loss"), std::string::npos) << o;
    EXPECT_NE(err(tag).find("stats tx_packets="), std::string::npos) << err(tag);
  }
}

TEST_F(Apps, PingExitCodes) {
  EXPECT_EQ(app("unknown", "x", {bin("ntm-ping"), "-c", "1", fqdn("nobody")})->wait(20s), 1);
  EXPECT_NE(err("unknown").find("cannot resolve"), std::string::npos) << err("unknown");
  EXPECT_EQ(app("count", "x", {bin("ntm-ping"), "-c", "0", fqdn("peer")})->wait(10s), 2);
  EXPECT_EQ(app("size", "x", {bin("ntm-ping"), "-s", "5000", fqdn("peer")})->wait(10s), 2);
  EXPECT_EQ(app("nohost", "x", {bin("ntm-ping")})->wait(10s), 2);
}

}  // namespace
}  // namespace ntm::test
