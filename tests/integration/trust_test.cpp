// The DC is a directory, not the keeper of every tunnel (issue 6 finding 4, docs/protocol.md
// §7.7 and §11): real nodes under a DC the test controls (rogue_dc.h). Once two nodes have a
// tunnel, a route direction that names another static key for the peer is refused, one that
// names the right key cannot be completed by anyone without the peer's private key, and a late
// copy of a route direction starts nothing — in each case the application's stream carries on
// to the real peer, byte-exact.
#include <poll.h>

#include "crypto/tunnel_handshake.h"
#include "dc_fixture.h"
#include "rogue_dc.h"
#include "wiretap.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class Trust : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) return;
    for (auto name : {"a", "b"}) {
      std::ifstream f(dir_.path() + "/" + name + ".err");
      std::stringstream ss;
      ss << f.rdbuf();
      std::cerr << "---- " << name << ".err ----\n" << ss.str();
    }
  }
  std::unique_ptr<Process> node(const std::string& name, std::vector<std::string> args,
                                uint16_t port = 0) {
    args.insert(args.begin(), bin("ntm-testnode"));
    std::map<std::string, std::string> env = {{"NTM_DC", "127.0.0.1:" + std::to_string(dc_.port())},
                                              {"NTM_DC_KEY", dc_.public_key()},
                                              {"NTM_NAME", name},
                                              {"NTM_STATE_DIR", dir_.path() + "/" + name},
                                              {"NTM_BIND", "127.0.0.1:" + std::to_string(port)}};
    return std::make_unique<Process>(args, env, dir_.path() + "/" + name + ".err");
  }
  /// b serves, a connects and pauses its stream halfway: returns once the tunnel carries data
  /// and a is paused.
  void start_paused_stream() {
    b_ = node("b", {"serve", "7000"}, port_b_);
    ASSERT_TRUE(b_->wait_for_line("ready", 10s));
    a_ = node("a", {"client", "b.rogue.test", "7000", "--bytes", "400000", "--pause-ms", "1500"},
              port_a_);
    ASSERT_TRUE(a_->wait_for_line("paused", 20s)) << "the stream did not start";
    ia_ = *dc_.node("a");
    ib_ = *dc_.node("b");
  }
  /// The stream completes intact after the pause, to b's key.
  void expect_stream_reaches_b() {
    auto ok = a_->wait_for_line("ok ", 30s);
    ASSERT_TRUE(ok) << "the stream did not complete";
    EXPECT_EQ(fields(*ok)["peer_key"], crypto::key_to_base64(ib_.identity));
    a_stats_ = fields(a_->wait_for_line("stats ", 10s).value_or(""));
  }

  TempDir dir_;
  RogueDc dc_;
  uint16_t port_a_ = free_udp_port(), port_b_ = free_udp_port();
  std::unique_ptr<Process> a_, b_;
  RogueDc::NodeInfo ia_, ib_;
  std::map<std::string, std::string> a_stats_;
};

crypto::Key random_key() {
  crypto::Key k;
  crypto::random_bytes(k.data(), k.size());
  return k;
}

TEST_F(Trust, ARouteDirectionNamingAnotherKeyCannotTakeOverALiveTunnel) {
  start_paused_stream();
  // Mallory: the DC, or whoever holds a's control-session keys, wants b's traffic. Before the
  // fix a installed this and sent b's packets to Mallory's endpoint, under Mallory's key.
  crypto::Key mallory = crypto::public_key(crypto::random_private_key());
  proto::Endpoint trap = *proto::Endpoint::parse("127.0.0.1:" + std::to_string(free_udp_port()));
  for (proto::Role role : {proto::Role::kInitiator, proto::Role::kResponder}) {
    auto rd =
        RogueDc::route_direction(crypto::random_u32() | 1, random_key(), role, ib_, mallory, trap);
    auto answer = dc_.answer(dc_.send_request("a", rd), 5s);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->type, proto::MessageType::kError);
    EXPECT_EQ(answer->get_u16(proto::AttrType::kErrorCode),
              uint16_t(proto::ErrorCode::kTunnelRefused));
  }
  expect_stream_reaches_b();
  EXPECT_EQ(a_stats_["tunnels_refused"], "2");
  EXPECT_EQ(a_stats_["tunnels_established"], "1");
}

TEST_F(Trust, TheDcCannotCompleteATunnelInThePeersName) {
  start_paused_stream();
  Wiretap tap({port_a_});
  if (!tap.ok()) GTEST_SKIP() << "needs CAP_NET_RAW for an AF_PACKET capture on lo";
  // The DC names b's real key, so a accepts the direction; but the DC holds only T and public
  // keys. As initiator, a sends its tunnel request to the DC's trap; as responder, it gets
  // the best message 1 the DC can make: with its own static key, since it lacks b's.
  int trap_fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in t{};
  t.sin_family = AF_INET;
  t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(trap_fd, reinterpret_cast<sockaddr*>(&t), sizeof t), 0);
  socklen_t tl = sizeof t;
  ::getsockname(trap_fd, reinterpret_cast<sockaddr*>(&t), &tl);
  proto::Endpoint trap = *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&t), tl);
  crypto::Key temporal = random_key();
  uint32_t id = crypto::random_u32() | 1;
  auto rd =
      RogueDc::route_direction(id, temporal, proto::Role::kInitiator, ib_, ib_.identity, trap);
  auto answer = dc_.answer(dc_.send_request("a", rd), 5s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->type, proto::MessageType::kRouteDirectionAck);
  // a's tunnel request reaches the trap; answering it needs DH(s_b, E_a): a responder with
  // any other key cannot even read it, and its best forgery is refused.
  uint8_t buf[2048];
  pollfd p{trap_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no tunnel request reached the trap";
  sockaddr_storage from{};
  socklen_t fl = sizeof from;
  ssize_t n = ::recvfrom(trap_fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
  ASSERT_GT(n, 0);
  crypto::TunnelHandshakeParams params;
  params.local_static_private = crypto::random_private_key();  // the DC's own key
  params.peer_static_public = ia_.identity;
  params.psk = temporal;
  params.direction_id = id;
  params.role = proto::Role::kResponder;
  crypto::TunnelHandshake impostor(params);
  EXPECT_FALSE(impostor.consume_request(proto::ByteView(buf, size_t(n))));
  // The best forgery: a well-formed message 2 under T and this direction, from a complete
  // handshake between two key pairs the DC owns.
  crypto::TunnelHandshakeParams xp = params, yp = params;
  xp.local_static_private = crypto::random_private_key();
  yp.local_static_private = crypto::random_private_key();
  xp.peer_static_public = crypto::public_key(yp.local_static_private);
  yp.peer_static_public = crypto::public_key(xp.local_static_private);
  xp.role = proto::Role::kInitiator;
  crypto::TunnelHandshake x(xp), y(yp);
  ASSERT_TRUE(y.consume_request(x.create_request(proto::Bytes(8, 0))));
  proto::Bytes forged = y.create_response(proto::Bytes(8, 0));
  ::sendto(trap_fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
  ::close(trap_fd);
  expect_stream_reaches_b();
  EXPECT_EQ(a_stats_["tunnels_established"], "1") << "nothing replaced the tunnel to b";
  EXPECT_GE(std::stoi(a_stats_["drop_control"]), 1) << "the forged response was dropped";
}

TEST_F(Trust, AReplayedTunnelRequestCannotReplaceTheTunnel) {
  Wiretap tap({port_b_});
  if (!tap.ok()) GTEST_SKIP() << "needs CAP_NET_RAW for an AF_PACKET capture on lo";
  start_paused_stream();
  // a initiated (b is reachable): its tunnel request went to b. Replay it to b, and a
  // tampered copy, while the tunnel is up.
  std::vector<uint8_t> request;
  for (auto& d : tap.snapshot())
    if (d.dst_port == port_b_ && !d.payload.empty() && d.payload[0] == 0x04) request = d.payload;
  ASSERT_FALSE(request.empty()) << "no tunnel request seen";
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_b_);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto tampered = request;
  tampered[20] ^= 1;  // another e: a "new" handshake only a holder of a's key could make
  for (auto* m : {&request, &tampered, &request})
    ::sendto(fd, m->data(), m->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  expect_stream_reaches_b();
  auto b_stats = fields(b_->wait_for_line("stats ", 10s).value_or(""));
  EXPECT_EQ(b_stats["tunnels_established"], "1") << "no second keypair from a replay";
  EXPECT_GE(std::stoi(b_stats["drop_control"]), 1) << "the tampered copy was dropped";
}

TEST_F(Trust, APinHoldsEvenWhenTheDcNamesThePeerDifferently) {
  // The DC sends a route direction for b's vIP under another name and Mallory's key *before*
  // the direction response that names b's (pinned) key: the pin on b's name must still apply.
  auto info = node("b", {"info", "--hold"}, port_b_);
  auto b = fields(info->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(b["key"].size(), 44u);
  dc_.decoy_first(crypto::public_key(crypto::random_private_key()));
  auto a = node("a", {"resolve", "b.rogue.test", "--pin", "b.rogue.test=" + b["key"]}, port_a_);
  ASSERT_TRUE(a->wait_for_line("resolved ", 10s));
  auto stats = fields(a->wait_for_line("stats ", 10s).value_or(""));
  EXPECT_EQ(stats["tunnels_refused"], "1") << "the decoy negotiation was removed";
  // Nobody holds the decoy's private key, so no tunnel can complete with it. The DC's honest
  // route directions follow its direction response, and the tunnel to b (the pinned key) may
  // complete before a prints its stats, or not: at most that one.
  ASSERT_FALSE(stats["tunnels_established"].empty());
  EXPECT_LE(std::stoi(stats["tunnels_established"]), 1);
}

TEST_F(Trust, ALateCopyOfARouteDirectionStartsNothing) {
  start_paused_stream();
  // The DC's retransmission of b's route direction arriving after b's answer cache forgot it:
  // same direction ID, new message ID. b acknowledges it and starts no second negotiation.
  ASSERT_EQ(dc_.directions(), 2);
  auto honest_id = dc_.last_direction_id();
  auto copy = RogueDc::route_direction(honest_id, random_key(), proto::Role::kResponder, ia_,
                                       ia_.identity, ia_.endpoint);
  auto answer = dc_.answer(dc_.send_request("b", copy), 5s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->type, proto::MessageType::kRouteDirectionAck);
  expect_stream_reaches_b();
  auto b_stats = fields(b_->wait_for_line("stats ", 10s).value_or(""));
  EXPECT_EQ(b_stats["tunnels_established"], "1");
  EXPECT_EQ(b_stats["tunnels_refused"], "0");
}

TEST_F(Trust, ANodeRegistersWithADcThatDropsEarlyData) {
  // A DC older than early data drops message 1 with a registration request in it; after three
  // such tries the node sends message 1 without it and registers under the session
  // (docs/protocol.md §3.6).
  dc_.drop_early_data();
  auto a = node("a", {"info"});
  auto line = a->wait_for_line("info ", 20s);
  ASSERT_TRUE(line) << "the node did not register";
  EXPECT_EQ(fields(*line)["fqdn"], "a.rogue.test");
  EXPECT_EQ(a->wait(10s), 0);
  EXPECT_EQ(dc_.long_inits_dropped(), 3);
}

}  // namespace
}  // namespace ntm::test
