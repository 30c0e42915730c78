// Two organisations, each with its own DC and DNS zone, joined only through DNS (issue 11):
// a real nsd serves the parent zone ntm.test. and delegates dc1.ntm.test. to 127.0.0.1 and
// dc2.ntm.test. to 127.0.0.2; the DCs' certificates are signed by the AS (ntm-as --sign-dc),
// and neither DC is told the other's address or key. Nodes under each DC reach each other by
// FQDN (paper 002 Fig. 3: direction request → NS query → key distribution → NTM information
// request → route directions → tunnel).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dc_fixture.h"
#include "nsd_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

/// One DC of the test: its state, key, certificate and process.
struct Domain {
  std::string zone, address, key, log;
  std::unique_ptr<Process> dc;
};

class TwoDomains : public DcFixture {
 protected:
  void SetUp() override {
    if (Nsd::binary().empty()) GTEST_SKIP() << "nsd is not installed (scripts/install-deps)";
    port_ = common_port();
    ASSERT_NE(port_, 0) << "no UDP port free on 127.0.0.1, .2 and .3";
    nsd_ = std::make_unique<Nsd>("ntm.test",
                                 "dc1 IN NS ns.dc1\nns.dc1 IN A 127.0.0.1\n"
                                 "dc2 IN NS ns.dc2\nns.dc2 IN A 127.0.0.2\n"
                                 "dc3 IN NS ns.dc3\nns.dc3 IN A 127.0.0.3\n");
    ASSERT_TRUE(nsd_->ready()) << nsd_->log();
    as_key_ = signing_key("as");
    ASSERT_EQ(as_key_.size(), 44u);
    start_domain(dc1_, "dc1.ntm.test", "127.0.0.1", "100.64.1.0/24", "fd00:6e74:6d:1::/112");
    start_domain(dc2_, "dc2.ntm.test", "127.0.0.2", "100.64.2.0/24", "fd00:6e74:6d:2::/112");
  }

  /// A port free on 127.0.0.1-3 (each DC listens on its own address, all on one port: the
  /// port other DCs use is configured, the address comes from DNS).
  uint16_t common_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      uint16_t p = free_udp_port();
      bool ok = true;
      for (const char* a : {"127.0.0.2", "127.0.0.3"}) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(p);
        inet_pton(AF_INET, a, &sa.sin_addr);
        ok = ok && bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        close(s);
      }
      if (ok) return p;
    }
    return 0;
  }

  /// The Ed25519 signing key of the AS whose state lives in <tmp>/<name>.
  std::string signing_key(const std::string& name) {
    Process p({bin("ntm-as"), "--state-dir", dir_.path() + "/" + name, "--print-signing-key"});
    auto line = p.read_line(10s).value_or("");
    EXPECT_EQ(p.wait(10s), 0);
    return line;
  }

  /// ntm-as --sign-dc: the certificate of `zone` for `dc_key`, signed by AS `as`.
  std::string sign(const std::string& as, const std::string& zone, const std::string& dc_key) {
    Process p({bin("ntm-as"), "--state-dir", dir_.path() + "/" + as, "--sign-dc", zone,
               "--dc-public-key", dc_key});
    auto line = p.read_line(10s).value_or("");
    EXPECT_EQ(p.wait(10s), 0) << line;
    std::string path = dir_.path() + "/" + zone + ".cert";
    std::ofstream(path) << line << "\n";
    return path;
  }

  /// Starts the DC of `zone` on `address`:port_, its certificate signed by AS `signer`,
  /// trusting the AS keys `trusted` (default: the AS "as").
  void start_domain(Domain& d, const std::string& zone, const std::string& address,
                    const std::string& pool4, const std::string& pool6,
                    const std::string& signer = "as", std::vector<std::string> trusted = {}) {
    if (trusted.empty()) trusted = {as_key_};
    d.zone = zone;
    d.address = address;
    std::string state = dir_.path() + "/" + zone;
    {
      Process p({bin("ntm-dc"), "--state-dir", state, "--print-public-key"});
      d.key = p.read_line(5s).value_or("");
      ASSERT_EQ(p.wait(5s), 0);
    }
    std::vector<std::string> argv = {bin("ntm-dc"),
                                     "--state-dir",
                                     state,
                                     "--listen",
                                     address + ":" + std::to_string(port_),
                                     "--domain",
                                     zone,
                                     "--vip4-pool",
                                     pool4,
                                     "--vip6-pool",
                                     pool6,
                                     "--dc-cert",
                                     sign(signer, zone, d.key),
                                     "--resolver",
                                     nsd_->endpoint(),
                                     "--peer-dc-port",
                                     std::to_string(port_),
                                     "--log-level",
                                     "debug",
                                     "--port-file",
                                     state + ".port"};
    for (auto& t : trusted) argv.insert(argv.end(), {"--trusted-as", t});
    d.log = dir_.path() + "/" + zone + ".log";
    d.dc = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, d.log);
    for (int i = 0; i < 500; ++i) {  // up to 10 s on a busy machine
      if (std::filesystem::exists(state + ".port")) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "ntm-dc for " << zone << " did not start:\n" << read(d.log);
  }

  static std::string read(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  /// ntm-testnode <args> as node `name` under the DC of `d`.
  std::unique_ptr<Process> node_in(const Domain& d, const std::string& name,
                                   std::vector<std::string> args,
                                   std::map<std::string, std::string> extra_env = {}) {
    args.insert(args.begin(), bin("ntm-testnode"));
    std::map<std::string, std::string> env = {
        {"NTM_DC", d.address + ":" + std::to_string(port_)},
        {"NTM_DC_KEY", d.key},
        {"NTM_NAME", name},
        {"NTM_STATE_DIR", dir_.path() + "/" + name + "." + d.zone},
        {"NTM_BIND", "127.0.0.1:0"},
        {"NTM_START_TIMEOUT_MS", "30000"}};
    for (auto& [k, v] : extra_env) env[k] = v;
    return std::make_unique<Process>(args, env, dir_.path() + "/" + name + ".err");
  }

  std::unique_ptr<Process> server_in(const Domain& d, const std::string& name,
                                     std::vector<std::string> args,
                                     std::map<std::string, std::string> extra_env = {}) {
    args.insert(args.begin(), "serve");
    auto p = node_in(d, name, args, extra_env);
    EXPECT_TRUE(p->wait_for_line("ready", 15s)) << name << " did not start serving";
    return p;
  }

  /// Times `text` occurs in the log of `d`.
  static int count(const Domain& d, const std::string& text) {
    std::string log = read(d.log);
    int n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  /// Waits (bounded) until `text` is in the log of `d`.
  static bool wait_log(const Domain& d, const std::string& text, std::chrono::seconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (count(d, text) == 0) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  void TearDown() override {
    if (HasFailure())
      for (auto* d : {&dc1_, &dc2_, &dc3_})
        if (d->dc) std::cerr << "---- " << d->zone << " ----\n" << read(d->log);
    DcFixture::TearDown();
  }

  uint16_t port_ = 0;
  std::unique_ptr<Nsd> nsd_;
  std::string as_key_;
  Domain dc1_, dc2_, dc3_;
};

TEST_F(TwoDomains, ForeignNameResolvesToTheVipItsOwnDcAssigned) {
  auto alpha = node_in(dc1_, "alpha", {"info", "--hold"});
  auto info = fields(alpha->wait_for_line("info ", 15s).value_or(""));
  ASSERT_NE(info["vip4"], "") << "alpha did not register";
  EXPECT_EQ(info["vip4"].rfind("100.64.1.", 0), 0u) << info["vip4"];
  auto beta = node_in(dc2_, "beta", {"resolve", "alpha.dc1.ntm.test"});
  auto line = beta->wait_for_line("", 15s).value_or("");
  EXPECT_EQ(fields(line)["vip"], info["vip4"]) << line;
  EXPECT_EQ(beta->wait(10s), 0);
  // DC_CN logged the direction it made for the other zone's node.
  EXPECT_TRUE(wait_log(dc1_, "(zone dc2.ntm.test) -> alpha.dc1.ntm.test", 5s));
}

TEST_F(TwoDomains, TcpAndUdpBothWaysAcrossDomainsByFqdn) {
  auto alpha_srv = server_in(dc1_, "alpha", {"7000"});
  auto beta_cli =
      node_in(dc2_, "beta", {"client", "alpha.dc1.ntm.test", "7000", "--bytes", "1000000"});
  EXPECT_TRUE(beta_cli->wait_for_line("ok ", 30s));
  EXPECT_EQ(beta_cli->wait(10s), 0);
  EXPECT_TRUE(alpha_srv->wait_for_line("served conns=1 bytes=1000000", 10s));

  auto beta_srv = server_in(dc2_, "beta", {"7001"});
  auto alpha_cli =
      node_in(dc1_, "alpha", {"client", "beta.dc2.ntm.test", "7001", "--bytes", "1000000"});
  EXPECT_TRUE(alpha_cli->wait_for_line("ok ", 30s));
  EXPECT_EQ(alpha_cli->wait(10s), 0);
  EXPECT_TRUE(beta_srv->wait_for_line("served conns=1 bytes=1000000", 10s));
  alpha_srv.reset();
  beta_srv.reset();

  // UDP: every datagram sent once and echoed before the next; one loss fails.
  auto alpha_udp = server_in(dc1_, "alpha", {"7002", "--udp"});
  auto beta_udp =
      node_in(dc2_, "beta", {"client", "alpha.dc1.ntm.test", "7002", "--udp", "--bytes", "50000"});
  EXPECT_TRUE(beta_udp->wait_for_line("ok conns=1 bytes=50000 datagrams=50", 30s));
  EXPECT_TRUE(alpha_udp->wait_for_line("served datagrams=50 bytes=50000", 10s));
  auto beta_udp_srv = server_in(dc2_, "beta", {"7003", "--udp"});
  auto alpha_udp_cli =
      node_in(dc1_, "alpha", {"client", "beta.dc2.ntm.test", "7003", "--udp", "--bytes", "50000"});
  EXPECT_TRUE(alpha_udp_cli->wait_for_line("ok conns=1 bytes=50000 datagrams=50", 30s));
  EXPECT_TRUE(beta_udp_srv->wait_for_line("served datagrams=50 bytes=50000", 10s));

  // Each DC made its DC⇄DC keys with the other once, not per direction.
  EXPECT_EQ(count(dc1_, "DC⇄DC keys with zone dc2.ntm.test"), 1);
  EXPECT_EQ(count(dc2_, "DC⇄DC keys with zone dc1.ntm.test"), 1);
}

TEST_F(TwoDomains, AnExpiredTunnelToAnotherZoneIsDirectedAgainByName) {
  // Tunnels whose peer is silent for 1 s expire (keep-alives every 200 ms). The client pauses
  // its TCP stream halfway while the server is frozen (SIGSTOP) for 2 s: the tunnel expires at
  // both ends, and the client's next segment finds none. Its own DC knows the peer's vIP only
  // by name (it belongs to the other zone's pool), so the node asks again by the name it
  // resolved, and the stream completes on a new tunnel.
  std::map<std::string, std::string> env = {{"NTM_KEEPALIVE_MS", "200"},
                                            {"NTM_TUNNEL_TIMEOUT_MS", "1000"}};
  auto srv = server_in(dc1_, "alpha", {"7004"}, env);
  auto cli = node_in(
      dc2_, "beta",
      {"client", "alpha.dc1.ntm.test", "7004", "--bytes", "400000", "--pause-ms", "4000"}, env);
  ASSERT_TRUE(cli->wait_for_line("paused", 30s));
  ASSERT_TRUE(srv->freeze());
  std::this_thread::sleep_for(2s);
  srv->thaw();
  auto ok = cli->wait_for_line("ok ", 40s);
  ASSERT_TRUE(ok) << "the stream did not complete after the tunnel expired";
  auto stats = fields(cli->wait_for_line("stats ", 5s).value_or(""));
  EXPECT_NE(stats["tunnels_expired"], "0") << "the tunnel never expired: the test proved nothing";
  EXPECT_NE(stats["tunnels_expired"], "");
  EXPECT_TRUE(srv->wait_for_line("served conns=1 bytes=400000", 10s));
  // Two cross-domain directions: the first, and the one after the expiry (asked by whichever
  // end sent first, by name, through its own DC).
  EXPECT_EQ(count(dc2_, "through the DC of zone dc1.ntm.test") +
                count(dc1_, "through the DC of zone dc2.ntm.test"),
            2);
}

TEST_F(TwoDomains, UnknownNodeAndUnservedZoneAreCleanErrors) {
  // A zone DNS delegates, but no such node in it: DC_CN says so.
  auto a = node_in(dc1_, "alpha", {"resolve", "nobody.dc2.ntm.test"});
  auto line = a->wait_for_line("", 15s).value_or("");
  EXPECT_EQ(fields(line)["errno"], "ENOENT") << line;
  EXPECT_EQ(a->wait(10s), 1);
  // A zone nobody serves (NXDOMAIN at the parent): DC_MN answers without any DC⇄DC traffic.
  auto b = node_in(dc1_, "alpha", {"resolve", "x.nowhere.ntm.test"});
  auto line2 = b->wait_for_line("", 15s).value_or("");
  EXPECT_EQ(fields(line2)["errno"], "ENOENT") << line2;
  EXPECT_NE(line2.find("no DC serves zone nowhere.ntm.test"), std::string::npos) << line2;
  EXPECT_EQ(b->wait(10s), 1);
  // A delegated zone whose DC is down (dc3: 127.0.0.3, nothing listens): EHOSTUNREACH after
  // the DC's peer timeout (3 s), not a hang.
  auto c = node_in(dc1_, "alpha", {"resolve", "x.dc3.ntm.test"});
  auto line3 = c->wait_for_line("", 20s).value_or("");
  EXPECT_EQ(fields(line3)["errno"], "EHOSTUNREACH") << line3;
  EXPECT_EQ(c->wait(10s), 1);
  // Once every direction waiting for it gave up, the silent zone is not asked again for a
  // while: the next direction fails at once, without a hello to its address.
  ASSERT_TRUE(wait_log(dc1_, "zone dc3.ntm.test: its DC at 127.0.0.3", 10s));
  auto d = node_in(dc1_, "alpha", {"resolve", "y.dc3.ntm.test"});
  auto line4 = d->wait_for_line("", 20s).value_or("");
  EXPECT_EQ(fields(line4)["errno"], "EHOSTUNREACH") << line4;
  EXPECT_NE(line4.find("did not answer recently"), std::string::npos) << line4;
  EXPECT_EQ(d->wait(10s), 1);
}

TEST_F(TwoDomains, DcWhoseCertificateNoTrustedAsSignedIsRefused) {
  // dc3's certificate is signed by another AS ("rogue"). dc3 itself trusts both ASes, so it
  // accepts dc1's certificate and offers its own in the key distribution: dc1 refuses it.
  std::string rogue = signing_key("rogue");
  start_domain(dc3_, "dc3.ntm.test", "127.0.0.3", "100.64.3.0/24", "fd00:6e74:6d:3::/112", "rogue",
               {as_key_, rogue});
  auto alpha = node_in(dc1_, "alpha", {"info", "--hold"});
  ASSERT_TRUE(alpha->wait_for_line("info ", 15s));
  auto gamma = node_in(dc3_, "gamma", {"resolve", "alpha.dc1.ntm.test"});
  auto line = gamma->wait_for_line("", 20s).value_or("");
  EXPECT_EQ(fields(line)["errno"], "EHOSTUNREACH") << line;
  EXPECT_TRUE(wait_log(dc1_, "refused a DC at 127.0.0.3", 5s));
  EXPECT_EQ(count(dc1_, "DC⇄DC keys with the DC of zone dc3.ntm.test"), 0);
  // The other way, dc1 asks dc3 and refuses the certificate dc3 answers the hello with.
  auto alpha2 = node_in(dc1_, "alpha2", {"resolve", "gamma.dc3.ntm.test"});
  auto line2 = alpha2->wait_for_line("", 20s).value_or("");
  EXPECT_EQ(fields(line2)["errno"], "EHOSTUNREACH") << line2;
  EXPECT_NE(line2.find("not vouched for by a trusted Account Server"), std::string::npos) << line2;
  EXPECT_TRUE(wait_log(dc1_, "refused the DC of zone dc3.ntm.test", 5s));
}

}  // namespace
}  // namespace ntm::test
