// NsServer through its sockets: a real ntm-ns on 127.0.0.1 (TCP for nodes, UDP for DCs, ports
// chosen by the kernel) run on its own thread, nodes that are plain blocking TCP sockets
// speaking §17 with the real handshake and session code, and the DC's real NsClient. What
// nodes, DCs and operators rely on: a node's connection is authenticated, answers pings, and
// receives the notify a listed DC asks for; a node without a connection is reported as such;
// every hostile stream closes its connection and is counted under one name; a newer
// connection of the same key replaces the older only once it proved its keys.
#include "ns/ns_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "crypto/cookie.h"
#include "dc/ns_client.h"
#include "dc/ns_fanout.h"
#include "proto/ns_wire.h"
#include "servers/test_keys.h"

namespace ntm::ns {
namespace {

using namespace std::chrono_literals;
using proto::Bytes;
using proto::ns::Message;

using test::key_pair;

/// A node's TCP connection to the NS, blocking, with a timeout on every read.
class Node {
 public:
  explicit Node(crypto::StaticKeyPair key = key_pair()) : key_(key) {}
  ~Node() {
    if (fd_ >= 0) ::close(fd_);
  }
  const crypto::Key& public_key() const { return key_.public_key; }

  bool connect(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  void send_raw(proto::ByteView d) {
    ASSERT_EQ(::send(fd_, d.data(), d.size(), MSG_NOSIGNAL), ssize_t(d.size()));
  }
  /// The next frame's payload; nullopt on close, error or timeout.
  std::optional<Bytes> read_frame(int timeout_ms = 3000) {
    for (;;) {
      size_t used = 0;
      auto st = reader_.next(proto::ByteView(buf_.data(), have_), used);
      buf_.erase(buf_.begin(), buf_.begin() + used);
      have_ -= used;
      if (st == proto::ns::FrameReader::Status::kFrame) return reader_.frame();
      if (st == proto::ns::FrameReader::Status::kError) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
      uint8_t tmp[2048];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return std::nullopt;
      buf_.insert(buf_.begin() + have_, tmp, tmp + n);
      have_ += size_t(n);
    }
  }
  /// True when the NS closed the connection within the timeout (end of stream or reset).
  bool closed(int timeout_ms = 3000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    uint8_t tmp[256];
    return ::recv(fd_, tmp, sizeof tmp, 0) <= 0;
  }
  Bytes message1(const crypto::Key& ns_public, crypto::Timestamp* ts = nullptr) {
    initiator_.emplace(key_.private_key, ns_public);
    index_ = 0x01020304;
    Bytes init = initiator_->create_init(index_);
    crypto::CookieGenerator(ns_public).add_macs(init);
    (void)ts;
    return init;
  }
  /// Handshake (frame 1 both ways); true once the session keys are held.
  bool handshake(const crypto::Key& ns_public) {
    send_raw(proto::ns::encode_frame(message1(ns_public)));
    return finish_handshake();
  }
  bool finish_handshake() {
    auto resp = read_frame();
    if (!resp) return false;
    auto r = initiator_->consume_response(*resp);
    if (!r) return false;
    session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    return true;
  }
  Bytes sealed(Message m) {
    uint8_t plain = uint8_t(m), out[proto::ns::kSealedMessageSize];
    session_->seal(proto::PacketType::kControl, proto::ByteView(&plain, 1), out);
    return proto::ns::encode_frame(proto::ByteView(out, sizeof out));
  }
  void send(Message m) { send_raw(sealed(m)); }
  std::optional<Message> receive(int timeout_ms = 3000) {
    auto f = read_frame(timeout_ms);
    if (!f) return std::nullopt;
    crypto::SealedHeader h;
    uint8_t plain[8];
    if (f->size() != proto::ns::kSealedMessageSize || !crypto::parse_sealed_header(*f, h) ||
        h.receiver_index != index_ ||
        session_->open(h, *f, plain) != crypto::Session::OpenStatus::kOk)
      return std::nullopt;
    return proto::ns::decode_message(proto::ByteView(plain, 1));
  }
  /// Handshake and the first ping: the connection is the node's at the NS.
  bool join(const crypto::Key& ns_public) {
    if (!handshake(ns_public)) return false;
    send(Message::kPing);
    return receive() == Message::kPong;
  }

 private:
  crypto::StaticKeyPair key_;
  int fd_ = -1;
  std::optional<crypto::HandshakeInitiator> initiator_;
  uint32_t index_ = 0;
  std::unique_ptr<crypto::Session> session_;
  proto::ns::FrameReader reader_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(4096);
  size_t have_ = 0;
};

/// The servers' io_context, run on its own thread; fixtures stop it (stop()) in their
/// destructor, before their servers go.
class ServerThread : public ::testing::Test {
 protected:
  ~ServerThread() override { stop(); }
  void run_io() {
    io_.restart();
    guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  /// Runs `f` on the servers' io thread and returns its result.
  template <class F>
  auto on_io(F f) {
    std::promise<decltype(f())> p;
    asio::post(io_, [&] { p.set_value(f()); });
    return p.get_future().get();
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

class NsServerTest : public ServerThread {
 protected:
  NsServerTest() : ns_key_(key_pair()), dc_key_(key_pair()) {
    cfg_.node_listen = {"127.0.0.1:0"};
    cfg_.dc_listen = {"127.0.0.1:0"};
    cfg_.dc_keys = {dc_key_.public_key};
    cfg_.handshake_timeout_s = 2;
  }
  ~NsServerTest() override { stop(); }
  void start() {
    server_ = std::make_unique<NsServer>(io_, cfg_, ns_key_);
    ASSERT_TRUE(server_->open());
    node_port_ = server_->node_endpoints().at(0).port();
    dc_ep_ = server_->dc_endpoints().at(0);
    run_io();
  }
  NsStats stats() {
    return on_io([this] { return server_->stats(); });
  }
  size_t confirmed() {
    return on_io([this] { return server_->confirmed_connections(); });
  }
  /// Waits until `pred(stats())` holds (the server works on its own thread).
  template <class P>
  bool eventually(P pred) {
    for (int i = 0; i < 300; ++i) {
      if (pred(stats())) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  /// What the DC's NsClient gets for a notification of `node` (its own io_context).
  dc::NsClient::Result notify(const crypto::Key& node,
                              const crypto::StaticKeyPair& dc = crypto::StaticKeyPair{}) {
    asio::io_context io;
    const crypto::StaticKeyPair& k = dc.public_key == crypto::Key{} ? dc_key_ : dc;
    dc::NsClient client(io, k, ns_key_.public_key, dc_ep_, 1500ms);
    std::string error;
    EXPECT_TRUE(client.open(error)) << error;
    std::optional<dc::NsClient::Result> out;
    client.notify(node, [&](dc::NsClient::Result r) { out = r; });
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!out && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
    EXPECT_TRUE(out);
    return out.value_or(dc::NsClient::Result::kUnavailable);
  }

  crypto::StaticKeyPair ns_key_, dc_key_;
  NsConfig cfg_;
  std::unique_ptr<NsServer> server_;
  uint16_t node_port_ = 0;
  proto::Endpoint dc_ep_;
};

TEST_F(NsServerTest, NodeIsNotifiedWhenItsDcAsks) {
  start();
  Node node;
  ASSERT_TRUE(node.connect(node_port_));
  ASSERT_TRUE(node.join(ns_key_.public_key));
  EXPECT_EQ(confirmed(), 1u);
  EXPECT_EQ(notify(node.public_key()), dc::NsClient::Result::kSent);
  EXPECT_EQ(node.receive(), Message::kNotify);
  // Pings go on being answered on the same connection.
  node.send(Message::kPing);
  EXPECT_EQ(node.receive(), Message::kPong);
  auto s = stats();
  EXPECT_EQ(s.handshakes, 1u);
  EXPECT_EQ(s.confirmed, 1u);
  EXPECT_EQ(s.pings, 2u);
  EXPECT_EQ(s.notifications, 1u);
  EXPECT_EQ(s.dc_requests, 1u);
}

TEST_F(NsServerTest, NodeWithoutConnectionIsReportedAndUnlistedDcRefused) {
  start();
  Node absent;
  EXPECT_EQ(notify(absent.public_key()), dc::NsClient::Result::kNoConnection);
  Node node;
  ASSERT_TRUE(node.connect(node_port_));
  ASSERT_TRUE(node.join(ns_key_.public_key));
  EXPECT_EQ(notify(node.public_key(), key_pair()), dc::NsClient::Result::kRefused);
  EXPECT_FALSE(node.receive(300));  // nothing was sent to the node
  auto s = stats();
  EXPECT_EQ(s.notify_no_connection, 1u);
  EXPECT_EQ(s.dc_not_authorized, 1u);
  EXPECT_EQ(s.notifications, 0u);
}

TEST_F(NsServerTest, HandshakeWithoutPingIsNotTheNodesConnectionYet) {
  start();
  Node node;
  ASSERT_TRUE(node.connect(node_port_));
  ASSERT_TRUE(node.handshake(ns_key_.public_key));
  EXPECT_EQ(notify(node.public_key()), dc::NsClient::Result::kNoConnection);
  // Not confirmed within handshake-timeout (2 s): closed by the sweep.
  EXPECT_TRUE(node.closed(4000));
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.closed_timeout == 1; }));
}

TEST_F(NsServerTest, NewerConnectionReplacesTheOlderOnceConfirmed) {
  start();
  auto key = key_pair();
  Node first(key), second(key);
  ASSERT_TRUE(first.connect(node_port_));
  ASSERT_TRUE(first.join(ns_key_.public_key));
  ASSERT_TRUE(second.connect(node_port_));
  ASSERT_TRUE(second.handshake(ns_key_.public_key));
  // Handshaken but not confirmed: the first connection is still the node's.
  EXPECT_EQ(notify(key.public_key), dc::NsClient::Result::kSent);
  EXPECT_EQ(first.receive(), Message::kNotify);
  second.send(Message::kPing);
  EXPECT_EQ(second.receive(), Message::kPong);
  EXPECT_TRUE(first.closed());
  EXPECT_EQ(notify(key.public_key), dc::NsClient::Result::kSent);
  EXPECT_EQ(second.receive(), Message::kNotify);
  EXPECT_EQ(stats().replaced, 1u);
  EXPECT_EQ(confirmed(), 1u);
}

TEST_F(NsServerTest, ReplayedMessage1CannotTakeOverALiveNode) {
  start();
  Node node;
  ASSERT_TRUE(node.connect(node_port_));
  Bytes m1 = node.message1(ns_key_.public_key);
  node.send_raw(proto::ns::encode_frame(m1));
  ASSERT_TRUE(node.finish_handshake());
  node.send(Message::kPing);
  ASSERT_EQ(node.receive(), Message::kPong);
  Node attacker;
  ASSERT_TRUE(attacker.connect(node_port_));
  attacker.send_raw(proto::ns::encode_frame(m1));
  EXPECT_TRUE(attacker.closed());
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.close_replay == 1; }));
  EXPECT_EQ(notify(node.public_key()), dc::NsClient::Result::kSent);
  EXPECT_EQ(node.receive(), Message::kNotify);
}

TEST_F(NsServerTest, HostileStreamsCloseAndAreCounted) {
  start();
  struct Case {
    const char* what;
    std::function<Bytes(Node&)> bytes;
    uint64_t NsStats::*counter;
  };
  auto ns_pub = ns_key_.public_key;
  std::vector<Case> cases = {
      {"length 0",
       [](Node&) {
         return Bytes{0, 0};
       },
       &NsStats::close_frame},
      {"length above 1232",
       [](Node&) {
         return Bytes{0x04, 0xd1};
       },
       &NsStats::close_frame},
      {"short message 1", [](Node&) { return proto::ns::encode_frame(Bytes(147, 1)); },
       &NsStats::close_frame},
      {"long message 1 (early data is not taken)",
       [](Node&) { return proto::ns::encode_frame(Bytes(148 + 40, 1)); }, &NsStats::close_frame},
      {"wrong type byte",
       [ns_pub](Node& n) {
         Bytes m = n.message1(ns_pub);
         m[0] = 0x10;
         return proto::ns::encode_frame(m);
       },
       &NsStats::close_frame},
      {"bad mac1",
       [ns_pub](Node& n) {
         Bytes m = n.message1(ns_pub);
         m[120] ^= 1;
         return proto::ns::encode_frame(m);
       },
       &NsStats::close_mac},
      {"message 1 to another key",
       [](Node& n) { return proto::ns::encode_frame(n.message1(key_pair().public_key)); },
       &NsStats::close_mac},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    uint64_t before = stats().*c.counter;
    Node n;
    ASSERT_TRUE(n.connect(node_port_));
    n.send_raw(c.bytes(n));
    EXPECT_TRUE(n.closed());
    EXPECT_TRUE(eventually([&](const NsStats& s) { return s.*c.counter == before + 1; }));
  }
  // After the handshake: a sealed frame that does not open, one of the wrong size, a pong
  // from the node, a replayed ping.
  {
    Node n;
    ASSERT_TRUE(n.connect(node_port_));
    ASSERT_TRUE(n.handshake(ns_pub));
    Bytes f = n.sealed(Message::kPing);
    f.back() ^= 1;
    n.send_raw(f);
    EXPECT_TRUE(n.closed());
    EXPECT_TRUE(eventually([](const NsStats& s) { return s.close_auth == 1; }));
  }
  {
    Node n;
    ASSERT_TRUE(n.connect(node_port_));
    ASSERT_TRUE(n.handshake(ns_pub));
    n.send_raw(proto::ns::encode_frame(Bytes(34, 3)));
    EXPECT_TRUE(n.closed());
    EXPECT_TRUE(eventually([](const NsStats& s) { return s.close_frame == 6; }));
  }
  {
    Node n;
    ASSERT_TRUE(n.connect(node_port_));
    ASSERT_TRUE(n.handshake(ns_pub));
    n.send(Message::kPong);
    EXPECT_TRUE(n.closed());
    EXPECT_TRUE(eventually([](const NsStats& s) { return s.close_message == 1; }));
  }
  {
    Node n;
    ASSERT_TRUE(n.connect(node_port_));
    ASSERT_TRUE(n.handshake(ns_pub));
    Bytes ping = n.sealed(Message::kPing);
    n.send_raw(ping);
    EXPECT_EQ(n.receive(), Message::kPong);
    n.send_raw(ping);
    EXPECT_TRUE(n.closed());
    EXPECT_TRUE(eventually([](const NsStats& s) { return s.close_auth == 2; }));
  }
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.closed_by_node == 0; }));
}

TEST_F(NsServerTest, ConnectionLimit) {
  cfg_.max_connections = 2;
  start();
  Node a, b, c;
  ASSERT_TRUE(a.connect(node_port_));
  ASSERT_TRUE(b.connect(node_port_));
  ASSERT_TRUE(a.join(ns_key_.public_key));  // both accepted by now
  ASSERT_TRUE(c.connect(node_port_));       // the kernel accepts; the NS closes it at once
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.refused_limit == 1; }));
  EXPECT_EQ(stats().accepted, 2u);
}

TEST_F(NsServerTest, SourceRate) {
  cfg_.handshake_rate = 0.01;
  cfg_.handshake_burst = 3;
  start();
  Node a, b, c, d;
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(n->connect(node_port_));
  ASSERT_TRUE(c.join(ns_key_.public_key));
  ASSERT_TRUE(d.connect(node_port_));  // 4th from 127.0.0.1: over the burst
  EXPECT_TRUE(d.closed());
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.refused_rate == 1; }));
  EXPECT_EQ(stats().accepted, 3u);
}

TEST(NsReusePort, TwoProcessesShareTheNodePort) {
  asio::io_context io;
  NsConfig cfg;
  cfg.node_listen = {"127.0.0.1:0"};
  cfg.dc_listen = {"127.0.0.1:0"};
  cfg.reuse_port = true;
  NsServer first(io, cfg, key_pair());
  ASSERT_TRUE(first.open());
  cfg.node_listen = {first.node_endpoints().at(0).to_string()};
  NsServer second(io, cfg, key_pair());
  EXPECT_TRUE(second.open());
  cfg.reuse_port = false;
  NsServer third(io, cfg, key_pair());
  EXPECT_FALSE(third.open());  // without SO_REUSEPORT the port is taken
}

TEST_F(NsServerTest, IdleConnectionIsClosed) {
  cfg_.idle_timeout_s = 1;
  start();
  Node n;
  ASSERT_TRUE(n.connect(node_port_));
  ASSERT_TRUE(n.join(ns_key_.public_key));
  EXPECT_TRUE(n.closed(4000));
  EXPECT_TRUE(eventually([](const NsStats& s) { return s.closed_idle == 1; }));
  EXPECT_EQ(confirmed(), 0u);
}

/// NS processes on one io thread (each an NsServer with the same ns.key, as processes started
/// from the same state-dir contents), and the DC's side on the test's own io_context.
class NsProcessesTest : public ServerThread {
 protected:
  NsProcessesTest() : ns_key_(key_pair()), dc_key_(key_pair()) {}
  ~NsProcessesTest() override { stop(); }
  NsConfig config(const std::string& node_listen, const std::string& dc_listen) const {
    NsConfig cfg;
    cfg.node_listen = {node_listen};
    cfg.dc_listen = {dc_listen};
    cfg.dc_keys = {dc_key_.public_key};
    cfg.reuse_port = true;
    return cfg;
  }
  /// Adds a process (before run_io()).
  NsServer& add(const NsConfig& cfg) {
    servers_.push_back(std::make_unique<NsServer>(io_, cfg, ns_key_));
    EXPECT_TRUE(servers_.back()->open());
    return *servers_.back();
  }
  size_t confirmed(size_t i) {
    return on_io([&] { return servers_.at(i)->confirmed_connections(); });
  }
  NsStats stats(size_t i) {
    return on_io([&] { return servers_.at(i)->stats(); });
  }
  /// Runs the DC's io_context until `done()` or 5 s passed.
  template <class P>
  bool run_dc_until(P done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) dc_io_.run_one_for(50ms);
    return done();
  }
  std::optional<dc::NsFanout::Result> notify(dc::NsFanout& f, const crypto::Key& node) {
    std::optional<dc::NsFanout::Result> out;
    int calls = 0;
    f.notify(node, [&](dc::NsFanout::Result r) {
      out = r;
      ++calls;
    });
    run_dc_until([&] { return out.has_value(); });
    EXPECT_LE(calls, 1);
    return out;
  }

  crypto::StaticKeyPair ns_key_, dc_key_;
  asio::io_context dc_io_;
  std::vector<std::unique_ptr<NsServer>> servers_;
};

// Two processes share the node port (SO_REUSEPORT); the kernel gives the node's connection to
// one of them, and the DC, which lists both, has to reach that one even when it is listed
// second: the notification reaches the node, and is counted once, as sent.
TEST_F(NsProcessesTest, TheDcAsksEveryProcessAndCountsEachNotificationOnce) {
  NsServer& first = add(config("127.0.0.1:0", "127.0.0.1:0"));
  uint16_t port = first.node_endpoints().at(0).port();
  add(config("127.0.0.1:" + std::to_string(port), "127.0.0.1:0"));
  ASSERT_EQ(servers_[1]->node_endpoints().at(0).port(), port);
  run_io();
  Node node;
  ASSERT_TRUE(node.connect(port));
  ASSERT_TRUE(node.join(ns_key_.public_key));
  size_t holder = confirmed(0) == 1 ? 0 : 1, other = 1 - holder;
  ASSERT_EQ(confirmed(holder), 1u);
  ASSERT_EQ(confirmed(other), 0u);
  // The holder is the second in the DC's list.
  dc::NsFanout dc(dc_io_, dc_key_, ns_key_.public_key,
                  {servers_[other]->dc_endpoints().at(0), servers_[holder]->dc_endpoints().at(0)},
                  3000ms);
  std::string error;
  ASSERT_TRUE(dc.open(error)) << error;
  EXPECT_EQ(notify(dc, node.public_key()), dc::NsFanout::Result::kSent);
  EXPECT_EQ(node.receive(), Message::kNotify);
  // The other process's "no connection" arrives too; it changes nothing.
  ASSERT_TRUE(run_dc_until([&] { return dc.client(0).stats().no_connection == 1; }));
  EXPECT_EQ(dc.stats().notify_requests, 1u);
  EXPECT_EQ(dc.stats().sent, 1u);
  EXPECT_EQ(dc.stats().no_connection, 0u);
  EXPECT_EQ(dc.stats().failed, 0u);
  EXPECT_EQ(dc.client(1).stats().sent, 1u);
  EXPECT_EQ(dc.totals().sent, 1u);
  EXPECT_EQ(stats(holder).notifications, 1u);
  EXPECT_EQ(stats(other).notify_no_connection, 1u);

  // A node connected to neither: every process says so, the outcome is "no connection".
  EXPECT_EQ(notify(dc, key_pair().public_key), dc::NsFanout::Result::kNoConnection);
  EXPECT_EQ(dc.stats().notify_requests, 2u);
  EXPECT_EQ(dc.stats().sent, 1u);
  EXPECT_EQ(dc.stats().no_connection, 1u);
  EXPECT_EQ(dc.totals().no_connection, 3u);

  // A DC no process lists is refused by all of them.
  dc::NsFanout stranger(dc_io_, key_pair(), ns_key_.public_key,
                        {servers_[0]->dc_endpoints().at(0), servers_[1]->dc_endpoints().at(0)},
                        3000ms);
  ASSERT_TRUE(stranger.open(error)) << error;
  EXPECT_EQ(notify(stranger, node.public_key()), dc::NsFanout::Result::kRefused);
  EXPECT_EQ(stranger.stats().failed, 1u);
}

// A process that never answers (down) does not hide the others' answers: "sent" from the one
// holding the node, "no connection" when every process that answered said so.
TEST_F(NsProcessesTest, AProcessThatDoesNotAnswerDecidesNothingAlone) {
  add(config("127.0.0.1:0", "127.0.0.1:0"));
  run_io();
  asio::ip::udp::socket silent(dc_io_,
                               asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto silent_ep =
      proto::Endpoint::parse("127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  ASSERT_TRUE(silent_ep);
  dc::NsFanout dc(dc_io_, dc_key_, ns_key_.public_key,
                  {*silent_ep, servers_[0]->dc_endpoints().at(0)}, 500ms);
  std::string error;
  ASSERT_TRUE(dc.open(error)) << error;
  Node node;
  ASSERT_TRUE(node.connect(servers_[0]->node_endpoints().at(0).port()));
  ASSERT_TRUE(node.join(ns_key_.public_key));
  EXPECT_EQ(notify(dc, node.public_key()), dc::NsFanout::Result::kSent);
  EXPECT_EQ(notify(dc, key_pair().public_key), dc::NsFanout::Result::kNoConnection);
  EXPECT_EQ(dc.client(0).stats().failed, 2u);  // both timed out at the silent one
  EXPECT_EQ(dc.stats().sent, 1u);
  EXPECT_EQ(dc.stats().no_connection, 1u);
  EXPECT_EQ(dc.stats().failed, 0u);
  // With only the silent one, nobody answers: unavailable.
  dc::NsFanout lone(dc_io_, dc_key_, ns_key_.public_key, {*silent_ep}, 300ms);
  ASSERT_TRUE(lone.open(error)) << error;
  EXPECT_EQ(notify(lone, node.public_key()), dc::NsFanout::Result::kUnavailable);
  EXPECT_EQ(lone.stats().failed, 1u);
}

// An NS process that restarted has lost the DC's channel session; the DC's client notices
// that nothing it sends on it is answered and handshakes again, well before the session's
// 45 s renewal, so a node connected to the new process is notified.
TEST_F(NsProcessesTest, AfterAnNsRestartTheDcHandshakesAgain) {
  add(config("127.0.0.1:0", "127.0.0.1:0"));
  proto::Endpoint dc_ep = servers_[0]->dc_endpoints().at(0);
  run_io();
  dc::NsClient client(dc_io_, dc_key_, ns_key_.public_key, dc_ep, 4000ms);
  std::string error;
  ASSERT_TRUE(client.open(error)) << error;
  std::optional<dc::NsClient::Result> out;
  client.notify(key_pair().public_key, [&](dc::NsClient::Result r) { out = r; });
  ASSERT_TRUE(run_dc_until([&] { return out.has_value(); }));
  EXPECT_EQ(out, dc::NsClient::Result::kNoConnection);
  EXPECT_EQ(client.stats().handshakes, 1u);

  stop();  // the process restarts on the same ports, with no DC session
  servers_.clear();
  add(config("127.0.0.1:0", dc_ep.to_string()));
  run_io();
  Node node;
  ASSERT_TRUE(node.connect(servers_[0]->node_endpoints().at(0).port()));
  ASSERT_TRUE(node.join(ns_key_.public_key));
  out.reset();
  client.notify(node.public_key(), [&](dc::NsClient::Result r) { out = r; });
  ASSERT_TRUE(run_dc_until([&] { return out.has_value(); }));
  EXPECT_EQ(out, dc::NsClient::Result::kSent);
  EXPECT_EQ(client.stats().handshakes, 2u);
  EXPECT_EQ(node.receive(), Message::kNotify);
}

// docs/protocol.md §17.3's example: notify for the node 00..1f as request 42, and its answers.
TEST(NsDcRequest, DocumentedExample) {
  as::AdminMessage req;
  req.op = proto::ns::kDcOpNotify;
  req.id = 42;
  crypto::Key node;
  for (int i = 0; i < 32; ++i) node[i] = uint8_t(i);
  req.fields = {crypto::key_to_base64(node)};
  Bytes want = {0x20, 0x00, 0x00, 0x00, 0x2a, 0x01, 0x00, 0x2c};
  std::string b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  want.insert(want.end(), b64.begin(), b64.end());
  EXPECT_EQ(req.encode(), want);
  as::AdminMessage res;
  res.op = 0xa0;
  res.id = 42;
  EXPECT_EQ(res.encode(), (Bytes{0xa0, 0, 0, 0, 0x2a, 0, 0}));
  res.status = as::AdminStatus::kNotFound;
  EXPECT_EQ(res.encode(), (Bytes{0xa0, 0, 0, 0, 0x2a, 4, 0}));
}

TEST(NsDcRequest, AuthorizationOpAndIdentity) {
  asio::io_context io;
  NsConfig cfg;
  crypto::Key dc{};
  dc.fill(7);
  cfg.dc_keys = {dc};
  NsServer server(io, cfg, key_pair());
  as::AdminMessage req;
  req.op = proto::ns::kDcOpNotify;
  req.id = 42;
  crypto::Key node{};
  req.fields = {crypto::key_to_base64(node)};
  crypto::Key stranger{};
  stranger.fill(8);
  auto r = server.handle_dc_request(stranger, req);
  EXPECT_EQ(r.status, as::AdminStatus::kNotAuthorized);
  EXPECT_EQ(r.op, 0xa0);
  EXPECT_EQ(r.id, 42u);
  EXPECT_EQ(server.handle_dc_request(dc, req).status, as::AdminStatus::kNotFound);
  for (auto fields : std::vector<std::vector<std::string>>{
           {}, {"x"}, {crypto::key_to_base64(node) + "="}, {"a", "b"}}) {
    req.fields = fields;
    EXPECT_EQ(server.handle_dc_request(dc, req).status, as::AdminStatus::kBadRequest);
  }
  req.fields = {crypto::key_to_base64(node)};
  req.op = 0x21;
  EXPECT_EQ(server.handle_dc_request(dc, req).status, as::AdminStatus::kBadRequest);
}

}  // namespace
}  // namespace ntm::ns
