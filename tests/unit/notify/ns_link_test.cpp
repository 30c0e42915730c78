// The node's NS link (libntm/src/notify/ns_link.h) against a real NsServer, both on one
// io_context, and against a hostile server: the link comes up after its first pong, passes a
// notify on, goes down when the NS goes away and comes back by itself, and a server that
// answers with anything but an authentic message 2 (wrong length, junk, a message 2 of
// another key) never brings it up.
#include "notify/ns_link.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "ns/ns_server.h"
#include "servers/test_keys.h"

namespace ntm::notify {
namespace {

using namespace std::chrono_literals;

using test::key_pair;

class NsLinkTest : public ::testing::Test {
 protected:
  NsLinkTest() : ns_key_(key_pair()), node_key_(key_pair()) {
    crypto::init();
    cfg_.node_listen = {"127.0.0.1:0"};
    cfg_.dc_listen = {"127.0.0.1:0"};
  }
  void start_ns() {
    ns_ = std::make_unique<ns::NsServer>(io_, cfg_, ns_key_);
    ASSERT_TRUE(ns_->open());
    cfg_.node_listen = {ns_->node_endpoints().at(0).to_string()};  // a restart keeps the port
  }
  std::unique_ptr<NsLink> link(std::chrono::milliseconds ping = 60s) {
    NsLink::Callbacks cb;
    cb.on_state = [this](bool up) { states_.push_back(up); };
    cb.on_notify = [this] { ++notifies_; };
    return std::make_unique<NsLink>(io_, node_key_, ping, std::move(cb));
  }
  /// Runs the io_context until `pred` holds or `limit` passes.
  template <class P>
  bool run_until(P pred, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
    return pred();
  }
  proto::Endpoint ns_endpoint() const { return *proto::Endpoint::parse(cfg_.node_listen[0]); }

  asio::io_context io_;
  crypto::StaticKeyPair ns_key_, node_key_;
  ns::NsConfig cfg_;
  std::unique_ptr<ns::NsServer> ns_;
  std::vector<bool> states_;
  int notifies_ = 0;
};

TEST_F(NsLinkTest, ComesUpPassesNotifiesOnAndComesBackAfterARestart) {
  start_ns();
  auto l = link();
  l->start(ns_endpoint(), ns_key_.public_key);
  ASSERT_TRUE(run_until([&] { return l->up(); }));
  EXPECT_EQ(states_, std::vector<bool>{true});
  EXPECT_EQ(ns_->confirmed_connections(), 1u);
  crypto::Key node = node_key_.public_key;
  as::AdminMessage req;
  req.op = proto::ns::kDcOpNotify;
  req.id = 1;
  req.fields = {crypto::key_to_base64(node)};
  crypto::Key dc{};
  ns_->set_dc_keys({dc});
  EXPECT_EQ(ns_->handle_dc_request(dc, req).status, as::AdminStatus::kOk);
  ASSERT_TRUE(run_until([&] { return notifies_ == 1; }));
  // The NS goes away: the link goes down, and comes back once an NS listens again.
  ns_.reset();
  ASSERT_TRUE(run_until([&] { return !l->up(); }));
  EXPECT_EQ(states_, (std::vector<bool>{true, false}));
  start_ns();
  ASSERT_TRUE(run_until([&] { return l->up(); }, 8000ms));  // backoff 1 s, 2 s, ...
  EXPECT_EQ(states_, (std::vector<bool>{true, false, true}));
  EXPECT_GE(l->stats().connects, 2u);
}

TEST_F(NsLinkTest, PingsAreAnsweredOnTheLiveConnection) {
  start_ns();
  auto l = link(200ms);
  l->start(ns_endpoint(), ns_key_.public_key);
  ASSERT_TRUE(run_until([&] { return l->up(); }));
  ASSERT_TRUE(run_until([&] { return l->stats().pongs >= 4; }, 5000ms));
  EXPECT_EQ(l->stats().failures, 0u);
  EXPECT_EQ(ns_->stats().pings, l->stats().pongs);
}

TEST_F(NsLinkTest, AWrongNsKeyNeverComesUp) {
  start_ns();
  auto l = link();
  l->start(ns_endpoint(), key_pair().public_key);  // mac1 fails at the NS: it closes
  ASSERT_TRUE(run_until([&] { return l->stats().failures >= 1; }));
  EXPECT_FALSE(l->up());
  EXPECT_TRUE(states_.empty());
  EXPECT_EQ(ns_->stats().close_mac, 1u);
}

/// A server that answers the first frame with `answer` and then waits.
class HostileServer {
 public:
  HostileServer(asio::io_context& io, proto::Bytes answer)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        answer_(std::move(answer)) {
    acceptor_.async_accept([this](std::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      sock_ = std::make_unique<asio::ip::tcp::socket>(std::move(s));
      asio::async_write(*sock_, asio::buffer(answer_), [](std::error_code, size_t) {});
    });
  }
  proto::Endpoint endpoint() const {
    auto e = acceptor_.local_endpoint();
    return *proto::Endpoint::from_sockaddr(e.data(), socklen_t(e.size()));
  }

 private:
  asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<asio::ip::tcp::socket> sock_;
  proto::Bytes answer_;
};

TEST_F(NsLinkTest, HostileAnswersFailTheConnection) {
  proto::Bytes forged(proto::kHandshakeRespSize, 0);
  forged[0] = 0x02;
  for (proto::Bytes answer : {proto::Bytes{0x00, 0x00},                      // length 0
                              proto::Bytes{0xff, 0xff, 1, 2, 3},             // length above 1232
                              proto::ns::encode_frame(proto::Bytes(59, 2)),  // short message 2
                              proto::ns::encode_frame(forged)}) {            // not authentic
    HostileServer server(io_, answer);
    auto l = link();
    l->start(server.endpoint(), ns_key_.public_key);
    ASSERT_TRUE(run_until([&] { return l->stats().failures >= 1; }));
    EXPECT_FALSE(l->up());
    EXPECT_TRUE(states_.empty());
    l->stop();
  }
}

}  // namespace
}  // namespace ntm::notify
