// A tunnel's life after its handshake (docs/protocol.md §7.8, §8.4; issue 6 finding 6): keys
// are replaced by rekeying — by age and by packet count — without the stream noticing; a
// tunnel whose peer went silent expires and stops sending keep-alives; and an application can
// pin the key of the peer it wants and read the key of the peer it got. A tunnel that
// expired at one end only is made again when that end next sends.
#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class TunnelLifecycle : public DcFixture {
 protected:
  void SetUp() override { start_dc(); }
  std::unique_ptr<Process> server(const std::string& port,
                                  std::map<std::string, std::string> env = {}) {
    auto s = node("alpha", {"serve", port}, "", "127.0.0.1:0", env);
    EXPECT_TRUE(s->wait_for_line("ready", 10s));
    return s;
  }
};

TEST_F(TunnelLifecycle, RekeyingByAgeDoesNotDisturbTheStream) {
  std::map<std::string, std::string> env = {{"NTM_REKEY_MS", "300"}};
  auto srv = server("7201", env);
  // 2 MB each way with a 2 s pause in the middle: several key ages pass with data in flight
  // on both sides of the pause.
  auto cli =
      node("beta", {"client", fqdn("alpha"), "7201", "--bytes", "2000000", "--pause-ms", "2000"},
           "", "127.0.0.1:0", env);
  auto ok = cli->wait_for_line("ok ", 60s);
  ASSERT_TRUE(ok) << "the stream broke across rekeys";
  auto c = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  auto s = fields(srv->wait_for_line("stats ", 20s).value_or(""));
  EXPECT_GE(std::stol(c["rekeys"]), 3) << "one rekey per 300 ms of a 2 s+ tunnel";
  EXPECT_GE(std::stol(s["rekeys"]), 3) << "the responder completes each rekey too";
  EXPECT_EQ(c["tunnels_expired"], "0");
  EXPECT_EQ(c["drop_auth"], "0");
  EXPECT_EQ(s["drop_auth"], "0");
}

TEST_F(TunnelLifecycle, RekeyingByPacketCount) {
  std::map<std::string, std::string> env = {{"NTM_REKEY_MESSAGES", "400"}};
  auto srv = server("7202", env);
  auto cli =
      node("beta", {"client", fqdn("alpha"), "7202", "--bytes", "3000000"}, "", "127.0.0.1:0", env);
  ASSERT_TRUE(cli->wait_for_line("ok ", 60s));
  auto c = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  // 3 MB each way is more than 2000 data packets each way: several rekeys, with the stream
  // intact (the client checks every byte).
  EXPECT_GE(std::stol(c["rekeys"]), 2) << "tx_packets=" << c["tx_packets"];
}

TEST_F(TunnelLifecycle, KeysOlderThanOneAndAHalfRekeyIntervalsAreNeverUsed) {
  // alpha, the tunnel's initiator (the DC makes the peer asked for send the tunnel request),
  // rekeys every 600 ms. beta freezes once its stream idles: alpha's rekey handshakes go
  // unanswered, and at 1.5 x 600 ms of age alpha drops the keys, and with them the tunnel,
  // rather than use them longer. alpha sends no keep-alive for 30 s, so nothing else (the
  // silence timeout, the path check) can end the tunnel first.
  auto srv = server("7205", {{"NTM_REKEY_MS", "600"},
                             {"NTM_KEEPALIVE_MS", "30000"},
                             {"NTM_TUNNEL_TIMEOUT_MS", "60000"},
                             {"NTM_LOG", "info"}});
  auto cli =
      node("beta", {"client", fqdn("alpha"), "7205", "--bytes", "100000", "--pause-until-stdin"});
  ASSERT_TRUE(cli->wait_for_line("paused", 30s));
  ASSERT_TRUE(cli->freeze());
  EXPECT_TRUE(wait_for_file_text(dir_.path() + "/alpha.err",
                                 "removed: its keys are too old and rekeying failed", 20s));
  cli->thaw();
}

TEST_F(TunnelLifecycle, ATunnelToAVanishedPeerExpiresAndFallsSilent) {
  std::map<std::string, std::string> env = {{"NTM_KEEPALIVE_MS", "200"},
                                            {"NTM_TUNNEL_TIMEOUT_MS", "1000"}};
  auto srv = server("7203", env);
  auto cli = node(
      "beta",
      {"client", fqdn("alpha"), "7203", "--bytes", "1000", "--idle-ms", "1500", "--samples", "3"},
      "", "127.0.0.1:0", env);
  ASSERT_TRUE(cli->wait_for_line("ok ", 30s));
  ASSERT_TRUE(srv->wait_for_line("served", 10s));
  srv->signal(SIGKILL);  // the peer vanishes without a word
  auto at_ok = fields(cli->wait_for_line("stats ", 5s).value_or(""));
  auto s1 = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  auto s2 = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  auto s3 = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  ASSERT_FALSE(s3.empty());
  EXPECT_EQ(at_ok["tunnels_expired"], "0");
  // Within a timeout plus a tick of the peer's death, the tunnel is gone...
  EXPECT_EQ(s2["tunnels_expired"], "1");
  // ...and a gone tunnel sends nothing more (before: keep-alives forever).
  EXPECT_EQ(s3["tx_packets"], s2["tx_packets"]);
}

TEST_F(TunnelLifecycle, ATunnelThatExpiredOnlyAtTheRequestingEndIsDirectedAgain) {
  // beta asked the DC for alpha. Halfway through the stream both sides idle; alpha sends no
  // keep-alive for 30 s, beta one every 200 ms and gives up on a silent peer after 1 s. So
  // beta's end expires a second later, a few seconds after the direction that made it, while
  // alpha's end lives on (beta's keep-alives reached it). beta's next segment finds no tunnel
  // and must ask the DC again; alpha, idle, has no reason to. Before: the direction
  // response's "route direction on its way" mark outlived that route direction by 10 s, so
  // beta's queued segments waited for a direction nobody would send, and the stream stalled.
  auto srv = server("7204", {{"NTM_KEEPALIVE_MS", "30000"}, {"NTM_TUNNEL_TIMEOUT_MS", "60000"}});
  auto cli =
      node("beta", {"client", fqdn("alpha"), "7204", "--bytes", "400000", "--pause-until-stdin"},
           "", "127.0.0.1:0",
           {{"NTM_KEEPALIVE_MS", "200"}, {"NTM_TUNNEL_TIMEOUT_MS", "1000"}, {"NTM_LOG", "info"}});
  ASSERT_TRUE(cli->wait_for_line("paused", 30s));
  bool expired = wait_for_file_text(dir_.path() + "/beta.err",
                                    "removed: no authenticated packet from the peer", 30s);
  cli->write_stdin("go\n");
  ASSERT_TRUE(expired) << "beta's tunnel never expired: the test proves nothing";
  auto ok = cli->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok) << "the stream stalled after only the requesting end's tunnel expired";
  auto c = fields(cli->wait_for_line("stats ", 10s).value_or(""));
  auto s = fields(srv->wait_for_line("stats ", 20s).value_or(""));
  EXPECT_EQ(c["tunnels_expired"], "1");
  EXPECT_EQ(s["tunnels_expired"], "0") << "alpha's end expired too: not the case under test";
  // The second tunnel is one beta asked the DC for.
  EXPECT_TRUE(wait_for_dc_log("direction " + fqdn("beta") + " -> " + fqdn("alpha") + " id", 5s, 2));
}

TEST_F(TunnelLifecycle, APinnedKeyIsEnforcedAndThePeersKeyIsReported) {
  auto info = node("alpha", {"info"});
  auto alpha = fields(info->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(info->wait(10s), 0);
  ASSERT_EQ(alpha["key"].size(), 44u);
  auto srv = server("7204");
  // The right key: the tunnel comes up and the client reports alpha's key.
  auto good = node("beta", {"client", fqdn("alpha"), "7204", "--bytes", "1000", "--pin",
                            fqdn("alpha") + "=" + alpha["key"]});
  auto ok = good->wait_for_line("ok ", 30s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(fields(*ok)["peer_key"], alpha["key"]);
  // Another key pinned for that name: the DC's answer names alpha's key, so resolution
  // fails with EKEYREJECTED (and no tunnel is attempted).
  std::string other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=";
  auto bad = node("gamma", {"resolve", fqdn("alpha"), "--pin", fqdn("alpha") + "=" + other});
  auto err = bad->wait_for_line("error ", 30s);
  ASSERT_TRUE(err);
  EXPECT_EQ(fields(*err)["errno"], "EKEYREJECTED");
  EXPECT_EQ(bad->wait(10s), 1);
}

}  // namespace
}  // namespace ntm::test
