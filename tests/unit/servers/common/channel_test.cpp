// The §14 admin channel's two sides (common/channel_client.h, common/channel_server.h), which
// the AS, the NS and the DC's AS and NS clients all run on, here on one io_context over
// loopback UDP: a request is answered; a request the handler is still working on is not
// handed to it again however often the client retransmits it, and the late answer reaches the
// client once; a session the server has expired is dropped as unknown and the client, seeing
// no answer, makes a new one (stale_after) and is answered on it; a client with the wrong
// server key gets nothing.
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <optional>

#include "common/channel_client.h"
#include "common/channel_server.h"
#include "servers/test_keys.h"

namespace ntm::server {
namespace {

using namespace std::chrono_literals;

using test::key_pair;

class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() : server_key_(key_pair()), client_key_(key_pair()) { crypto::init(); }
  /// A server whose handler answers op 0x7e at once with the request's fields reversed, and
  /// holds any other op's reply in `held_` (answered by the test).
  void start(std::chrono::seconds lifetime = 60s) {
    ChannelServer::Options o;
    o.name = "test";
    o.listen_name = "test-listen";
    o.lifetime = lifetime;
    server_ = std::make_unique<ChannelServer>(
        io_, server_key_, o, server_stats_,
        [this](const crypto::Key& peer, const as::AdminMessage& req, ChannelServer::Reply reply) {
          ++handled_;
          EXPECT_EQ(peer, client_key_.public_key);
          as::AdminMessage res;
          res.op = uint8_t(req.op | 0x80);
          res.id = req.id;
          res.fields.assign(req.fields.rbegin(), req.fields.rend());
          if (req.op == 0x7e)
            reply(res);
          else
            held_ = [reply, res] { reply(res); };
        },
        nullptr);
    ASSERT_TRUE(server_->open({"127.0.0.1:0"}));
    endpoint_ = server_->local_endpoints().at(0);
  }
  std::unique_ptr<ChannelClient> client(ChannelClient::Timing t, const crypto::Key& server_public) {
    auto c = std::make_unique<ChannelClient>(io_, client_key_, server_public, endpoint_, t,
                                             "test server", client_stats_);
    std::string error;
    EXPECT_TRUE(c->open(error)) << error;
    return c;
  }
  /// Sends op 0x7e with fields {"a", "b"}; runs the io_context until answered (an answer or
  /// nullopt: none in time) or 5 s passed.
  std::optional<std::optional<as::AdminMessage>> ask(ChannelClient& c) {
    as::AdminMessage m;
    m.op = 0x7e;
    m.fields = {"a", "b"};
    std::optional<std::optional<as::AdminMessage>> out;
    int calls = 0;
    EXPECT_TRUE(c.request(m, [&](std::optional<as::AdminMessage> a) {
      out = std::move(a);
      ++calls;
    }));
    run_until([&] { return out.has_value(); });
    EXPECT_EQ(calls, 1);
    return out;
  }
  template <class P>
  bool run_until(P done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
    return done();
  }

  asio::io_context io_;
  crypto::StaticKeyPair server_key_, client_key_;
  ChannelServerStats server_stats_;
  ChannelClientStats client_stats_;
  std::unique_ptr<ChannelServer> server_;
  proto::Endpoint endpoint_;
  int handled_ = 0;
  std::function<void()> held_;
};

TEST_F(ChannelTest, ARequestIsAnsweredInItsSession) {
  start();
  auto c = client({100ms, 3000ms}, server_key_.public_key);
  auto a = ask(*c);
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->op, 0xfe);
  EXPECT_EQ((*a)->fields, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(client_stats_.handshakes, 1u);
  EXPECT_EQ(server_stats_.handshakes, 1u);
  EXPECT_EQ(server_stats_.requests, 1u);
  EXPECT_EQ(c->waiting(), 0u);
}

TEST_F(ChannelTest, ARetransmittedRequestIsHandledOnceAndAnsweredOnce) {
  start();
  auto c = client({50ms, 3000ms}, server_key_.public_key);
  as::AdminMessage m;
  m.op = 0x11;
  m.fields = {"x"};
  int answers = 0;
  ASSERT_TRUE(c->request(m, [&](std::optional<as::AdminMessage> a) {
    EXPECT_TRUE(a);
    ++answers;
  }));
  // The handler holds the reply while the client retransmits (every 50 ms).
  ASSERT_TRUE(run_until([&] { return server_stats_.repeats_in_progress >= 2; }));
  EXPECT_EQ(handled_, 1);
  held_();
  ASSERT_TRUE(run_until([&] { return answers == 1; }));
  EXPECT_EQ(handled_, 1);
  EXPECT_EQ(server_stats_.requests, 1u);
  EXPECT_GE(client_stats_.retransmissions, 2u);
}

TEST_F(ChannelTest, AnExpiredSessionIsDroppedAndTheClientMakesANewOne) {
  start(1s);
  // renew is long, stale_after short: only the server's silence makes the client handshake.
  auto c = client({50ms, 4000ms, 60s, 300ms}, server_key_.public_key);
  auto a = ask(*c);
  ASSERT_TRUE(a && *a);
  // Let the server's session expire (1 s), running the loop so nothing else is pending.
  auto until = std::chrono::steady_clock::now() + 1100ms;
  while (std::chrono::steady_clock::now() < until) io_.run_one_for(50ms);
  a = ask(*c);
  ASSERT_TRUE(a && *a) << "answered in a new session";
  EXPECT_GE(server_stats_.drop_unknown_session, 1u);
  EXPECT_EQ(client_stats_.handshakes, 2u);
  EXPECT_EQ(server_stats_.handshakes, 2u);
}

TEST_F(ChannelTest, AClientPinningAnotherKeyGetsNoAnswer) {
  start();
  auto c = client({50ms, 400ms}, key_pair().public_key);
  auto a = ask(*c);
  ASSERT_TRUE(a);
  EXPECT_FALSE(*a) << "timed out";
  EXPECT_GE(server_stats_.drop_mac, 1u);
  EXPECT_EQ(server_stats_.handshakes, 0u);
  EXPECT_EQ(handled_, 0);
}

}  // namespace
}  // namespace ntm::server
