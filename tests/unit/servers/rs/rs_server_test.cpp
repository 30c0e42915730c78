// RsServer through its sockets: a real relay on 127.0.0.1 port 0 driven by an io_context in the
// test, and nodes that are plain UDP sockets sending binds and relay data made with the real
// encoders. What nodes and operators rely on: only a pair the DC authorized is relayed, byte
// for byte; refused binds and hostile datagrams are each counted under exactly one drop reason
// and relay nothing; a node whose NAT rebinds keeps its relay path; quotas hold exactly.
#include "rs/rs_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <random>

#include "printers.h"
#include "relay_grant.h"

namespace ntm::rs {
namespace {

using namespace std::chrono_literals;
using proto::Bytes;
using test::Grant;
using test::random_key;
using test::relay_data;

/// A node's UDP socket on 127.0.0.1; rebind() gives it a new source port (a NAT rebinding).
class Peer {
 public:
  Peer() { rebind(); }
  ~Peer() { ::close(fd_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void rebind() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    int buf = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  }
  proto::Endpoint endpoint() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  void send(const proto::Endpoint& to, proto::ByteView d) {
    ASSERT_EQ(::sendto(fd_, d.data(), d.size(), 0, to.sa(), to.sa_len()), ssize_t(d.size()));
  }
  std::optional<Bytes> try_receive() {
    uint8_t buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return Bytes(buf, buf + n);
  }

 private:
  int fd_ = -1;
};

/// A tunnel packet as a node seals it (type 0x05, then bytes the RS cannot read).
Bytes tunnel_packet(size_t size, uint8_t fill) {
  Bytes p(size, fill);
  p[0] = uint8_t(proto::PacketType::kData);
  return p;
}

class RsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    spdlog::set_level(spdlog::level::off);
    key_ = random_key();
    cfg_.listen = {"127.0.0.1:0"};
    cfg_.keys = {key_};
  }
  void start() {
    rs_ = std::make_unique<RsServer>(io_, cfg_);
    ASSERT_TRUE(rs_->open());
    ASSERT_EQ(rs_->local_endpoints().size(), 1u);
    rs_ep_ = rs_->local_endpoints()[0];
  }
  const RsStats& stats() const { return rs_->stats(); }
  /// Every drop counter, summed.
  uint64_t drops() const {
    const RsStats& s = stats();
    return s.drop_malformed + s.drop_unknown_session + s.drop_unbound_source + s.drop_quota +
           s.drop_held_overflow + s.drop_bad_ticket + s.drop_expired + s.drop_bad_mac +
           s.drop_stale + s.drop_conflict + s.drop_full + s.drop_status;
  }

  /// Runs the relay until `done()` or `wait` passes; false on timeout.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds wait = 2000ms) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_for(1ms);
    }
    return true;
  }
  /// Runs the relay until `p` receives a datagram (nullopt after `wait`).
  std::optional<Bytes> receive(Peer& p, std::chrono::milliseconds wait = 2000ms) {
    std::optional<Bytes> got;
    run_until([&] { return (got = p.try_receive()).has_value(); }, wait);
    return got;
  }
  /// Sends `d` and runs the relay until it has counted one more drop.
  void send_dropped(Peer& p, const Bytes& d) {
    uint64_t before = drops();
    p.send(rs_ep_, d);
    ASSERT_TRUE(run_until([&] { return drops() > before; })) << "not counted as a drop";
  }
  /// Binds `side` of `g` from `p` with `counter` and checks the ack (side, session, counter, MAC).
  void bind(Peer& p, const Grant& g, uint8_t side, uint64_t counter) {
    p.send(rs_ep_, g.bind(side, counter));
    auto ack = receive(p);
    ASSERT_TRUE(ack) << "no bind ack";
    proto::RelayBindAck a;
    ASSERT_TRUE(proto::parse_relay_bind_ack(*ack, a));
    EXPECT_EQ(a.side, side);
    EXPECT_EQ(a.session_id, proto::get_u32(g.ticket.data()));
    EXPECT_EQ(a.counter, counter);
    EXPECT_TRUE(crypto::verify_relay_bind_ack(*ack, g.side_key[side - 1]));
  }
  /// Sends relay data from `from` and expects exactly those bytes at `to`.
  void relayed(Peer& from, Peer& to, const Bytes& d) {
    from.send(rs_ep_, d);
    auto got = receive(to);
    ASSERT_TRUE(got) << "not relayed";
    EXPECT_EQ(*got, d);
  }
  /// Proves `p` got nothing so far: a marker sent through the session (from `sender`, a bound
  /// side) must be the next datagram `p` receives. Datagrams from one socket to another on
  /// loopback stay in order, and the relay reads its one socket in order.
  void nothing_before_marker(Peer& sender, Peer& p, uint32_t session_id) {
    Bytes marker = relay_data(session_id, tunnel_packet(40, 0xEE));
    relayed(sender, p, marker);
  }
  bool nothing_arrives(Peer& p) {
    io_.run_for(20ms);
    return !p.try_receive();
  }

  asio::io_context io_;
  crypto::Key key_;
  RsConfig cfg_;
  std::unique_ptr<RsServer> rs_;
  proto::Endpoint rs_ep_;
};

TEST_F(RsServerTest, AuthorizedPairIsRelayedByteForByteBothWays) {
  start();
  Grant g(key_, 0xA1B2C3D4);
  Peer cn, mn;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  for (size_t size : {size_t(1), size_t(60), size_t(1452)}) {
    relayed(cn, mn, relay_data(0xA1B2C3D4, tunnel_packet(size, uint8_t(size))));
    relayed(mn, cn, relay_data(0xA1B2C3D4, tunnel_packet(size, uint8_t(size + 1))));
  }
  EXPECT_EQ(stats().relayed_packets, 6u);
  EXPECT_EQ(stats().relayed_bytes, 2 * (9 + 68 + 1460));
  EXPECT_EQ(stats().binds, 2u);
  EXPECT_EQ(stats().bind_acks, 2u);
  EXPECT_EQ(stats().sessions_created, 1u);
  EXPECT_EQ(rs_->session_count(), 1u);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(RsServerTest, TicketFromAnotherKeyIsRefusedAndNothingIsRelayed) {
  start();
  Grant g(key_, 77), forged(random_key(), 77);
  Peer cn, attacker;
  bind(cn, g, 1, 1);
  // The attacker holds a ticket MAC'ed under a key of its own for the same session.
  send_dropped(attacker, forged.bind(2, 1));
  EXPECT_EQ(stats().drop_bad_ticket, 1u);
  send_dropped(attacker, relay_data(77, tunnel_packet(100, 1)));
  EXPECT_EQ(stats().drop_unbound_source, 1u);
  // A forged ticket for a session nobody has.
  send_dropped(attacker, Grant(random_key(), 78).bind(1, 1));
  send_dropped(attacker, relay_data(78, tunnel_packet(100, 1)));
  EXPECT_EQ(stats().drop_bad_ticket, 2u);
  EXPECT_EQ(stats().drop_unknown_session, 1u);
  EXPECT_EQ(stats().relayed_packets, 0u);
  EXPECT_EQ(stats().sessions_created, 1u);
  EXPECT_EQ(rs_->session_count(), 1u);
  // No ack went to the attacker; only the (unauthenticated, 8-byte) notice asking it to bind.
  auto notice = attacker.try_receive();
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->size(), proto::kRelayNoticeSize);
  EXPECT_TRUE(nothing_arrives(attacker));
  EXPECT_TRUE(nothing_arrives(cn));
}

TEST_F(RsServerTest, ExpiredTicketIsRefused) {
  start();
  Grant old(key_, 5, test::unix_now() - 1);
  Peer cn;
  send_dropped(cn, old.bind(1, 1));
  EXPECT_EQ(stats().drop_expired, 1u);
  EXPECT_EQ(rs_->session_count(), 0u);
  EXPECT_TRUE(nothing_arrives(cn)) << "no ack";
}

TEST_F(RsServerTest, BindWithAWrongMacIsRefused) {
  start();
  Grant g(key_, 5);
  Peer cn;
  Bytes b = g.bind(1, 1);
  b[proto::kRelayBindSize - 1] ^= 1;
  send_dropped(cn, b);
  // Side 2's key does not bind side 1.
  send_dropped(cn, crypto::make_relay_bind(1, 1, g.ticket, g.side_key[1]));
  EXPECT_EQ(stats().drop_bad_mac, 2u);
  EXPECT_EQ(rs_->session_count(), 0u);
  EXPECT_TRUE(nothing_arrives(cn)) << "no ack";
}

TEST_F(RsServerTest, ReplayedBindIsStaleAndTheEndpointStays) {
  start();
  Grant g(key_, 9);
  Peer cn, mn, attacker;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  // The attacker saw cn's bind on the wire and replays it from its own address.
  send_dropped(attacker, g.bind(1, 1));
  EXPECT_EQ(stats().drop_stale, 1u);
  // Data still goes to cn's endpoint, not to the attacker.
  relayed(mn, cn, relay_data(9, tunnel_packet(200, 3)));
  EXPECT_TRUE(nothing_arrives(attacker));
  EXPECT_EQ(stats().binds, 2u);
}

TEST_F(RsServerTest, NatRebindingMovesTheEndpointAndDataFollows) {
  start();
  Grant g(key_, 10);
  Peer cn, mn;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  relayed(mn, cn, relay_data(10, tunnel_packet(300, 1)));
  cn.rebind();  // cn's NAT gives it a new mapping
  // Its data from the new address is not relayed yet: it is told to bind again.
  send_dropped(cn, relay_data(10, tunnel_packet(300, 2)));
  EXPECT_EQ(stats().drop_unbound_source, 1u);
  auto notice = cn.try_receive();
  ASSERT_TRUE(notice);
  uint32_t id = 0;
  ASSERT_TRUE(proto::parse_relay_notice(*notice, id));
  EXPECT_EQ(id, 10u);
  EXPECT_EQ(stats().notices, 1u);
  bind(cn, g, 1, 2);
  relayed(mn, cn, relay_data(10, tunnel_packet(300, 3)));
  relayed(cn, mn, relay_data(10, tunnel_packet(300, 4)));
  EXPECT_EQ(rs_->session_count(), 1u);
}

TEST_F(RsServerTest, AnotherTicketWithTheSameSessionIdConflicts) {
  start();
  Grant g(key_, 11), other(key_, 11);
  Peer cn, mn, third;
  bind(cn, g, 1, 1);
  send_dropped(third, other.bind(2, 1));
  EXPECT_EQ(stats().drop_conflict, 1u);
  bind(mn, g, 2, 1);
  relayed(cn, mn, relay_data(11, tunnel_packet(64, 1)));
  EXPECT_TRUE(nothing_arrives(third));
}

TEST_F(RsServerTest, SessionLimitRefusesNewSessions) {
  cfg_.max_sessions = 1;
  start();
  Grant a(key_, 1), b(key_, 2);
  Peer p1, p2;
  bind(p1, a, 1, 1);
  send_dropped(p2, b.bind(1, 1));
  EXPECT_EQ(stats().drop_full, 1u);
  EXPECT_EQ(rs_->session_count(), 1u);
  bind(p2, a, 2, 1);  // the existing session still takes its second side
}

TEST_F(RsServerTest, SecondRelayKeyIsAcceptedForTicketsAndStatus) {
  crypto::Key new_key = random_key();
  cfg_.keys = {key_, new_key};
  start();
  Grant by_old(key_, 1), by_new(new_key, 2);
  Peer a1, a2, b1, b2, dc;
  bind(a1, by_old, 1, 1);
  bind(a2, by_old, 2, 1);
  bind(b1, by_new, 1, 1);
  bind(b2, by_new, 2, 1);
  relayed(a1, a2, relay_data(1, tunnel_packet(100, 1)));
  relayed(b2, b1, relay_data(2, tunnel_packet(100, 2)));
  // A DC holding either key gets an authenticated status; a replayed request gets nothing.
  for (const crypto::Key& k : {key_, new_key}) {
    crypto::RelayKeys keys(k);
    auto req = keys.make_status_request(7);
    dc.send(rs_ep_, req);
    auto status = receive(dc);
    ASSERT_TRUE(status);
    ASSERT_TRUE(keys.verify_status(*status));
    proto::RelayStatus st;
    ASSERT_TRUE(proto::parse_relay_status(*status, st));
    EXPECT_EQ(st.sequence, 7u);
    EXPECT_EQ(st.sessions, 2u);
    EXPECT_EQ(st.packets, 2u);
    send_dropped(dc, req);
  }
  EXPECT_EQ(stats().status_answers, 2u);
  EXPECT_EQ(stats().drop_status, 2u);
  send_dropped(dc, crypto::RelayKeys(random_key()).make_status_request(8));
  EXPECT_EQ(stats().drop_status, 3u);
  EXPECT_TRUE(nothing_arrives(dc));
}

TEST_F(RsServerTest, DataFromAnAddressNoSideIsBoundToIsDropped) {
  start();
  Grant g(key_, 12);
  Peer cn, mn, stranger;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  for (int i = 0; i < 5; ++i) send_dropped(stranger, relay_data(12, tunnel_packet(500, 9)));
  EXPECT_EQ(stats().drop_unbound_source, 5u);
  EXPECT_EQ(stats().notices, 1u) << "one notice per second per session";
  auto notice = stranger.try_receive();
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->size(), proto::kRelayNoticeSize);
  EXPECT_TRUE(nothing_arrives(stranger));
  nothing_before_marker(cn, mn, 12);
  nothing_before_marker(mn, cn, 12);
  EXPECT_EQ(stats().relayed_packets, 2u);
}

TEST_F(RsServerTest, DataToAnUnboundSideIsHeldUntilItBinds) {
  start();
  Grant g(key_, 13);
  Peer cn, mn;
  bind(cn, g, 1, 1);
  std::vector<Bytes> sent;
  for (size_t i = 0; i < SessionTable::kMaxHeld + 3; ++i) {
    sent.push_back(relay_data(13, tunnel_packet(100 + i, uint8_t(i))));
    uint64_t before = stats().held + drops();
    cn.send(rs_ep_, sent.back());
    ASSERT_TRUE(run_until([&] { return stats().held + drops() > before; }));
  }
  EXPECT_EQ(stats().held, SessionTable::kMaxHeld);
  EXPECT_EQ(stats().drop_held_overflow, 3u);
  // cn's refresh must not hand its own held data back to it.
  bind(cn, g, 1, 2);
  EXPECT_TRUE(nothing_arrives(cn));
  // mn binds: the ack, then the first kMaxHeld datagrams in order.
  bind(mn, g, 2, 1);
  for (size_t i = 0; i < SessionTable::kMaxHeld; ++i) {
    auto got = receive(mn);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(*got, sent[i]) << i;
  }
  nothing_before_marker(cn, mn, 13);
  EXPECT_EQ(stats().relayed_packets, SessionTable::kMaxHeld + 1);
}

TEST_F(RsServerTest, HeldDataReleasedByManyBindsInOneBatchArrivesIntact) {
  // 16 sessions each hold kMaxHeld datagrams; the 16 binds that release them are read in one
  // batch, which queues more datagrams than one sendmmsg takes (so the outbox is flushed in
  // the middle of the batch).
  start();
  constexpr uint32_t kSessions = 16;
  std::vector<std::unique_ptr<Grant>> grants;
  std::vector<std::unique_ptr<Peer>> side1, side2;
  for (uint32_t id = 1; id <= kSessions; ++id) {
    grants.push_back(std::make_unique<Grant>(key_, id));
    side1.push_back(std::make_unique<Peer>());
    side2.push_back(std::make_unique<Peer>());
    bind(*side1.back(), *grants.back(), 1, 1);
    for (size_t i = 0; i < SessionTable::kMaxHeld; ++i)
      side1.back()->send(rs_ep_, relay_data(id, tunnel_packet(200, uint8_t(id * 16 + i))));
  }
  ASSERT_TRUE(run_until([&] { return stats().held == kSessions * SessionTable::kMaxHeld; }));
  for (uint32_t id = 1; id <= kSessions; ++id)
    side2[id - 1]->send(rs_ep_, grants[id - 1]->bind(2, 1));
  ASSERT_TRUE(run_until([&] { return stats().binds == 2 * kSessions; }));
  for (uint32_t id = 1; id <= kSessions; ++id) {
    Peer& p = *side2[id - 1];
    auto ack = receive(p);
    ASSERT_TRUE(ack && ack->size() == proto::kRelayBindAckSize) << id;
    for (size_t i = 0; i < SessionTable::kMaxHeld; ++i) {
      auto got = receive(p);
      ASSERT_TRUE(got) << id << "/" << i;
      EXPECT_EQ(*got, relay_data(id, tunnel_packet(200, uint8_t(id * 16 + i)))) << id << "/" << i;
    }
  }
  EXPECT_EQ(stats().send_errors, 0u);
}

TEST_F(RsServerTest, NodePacketQuotaDropsExactlyTheExcess) {
  // A negligible rate: only the burst (64 packets) passes during the test.
  cfg_.node_pps = 1e-6;
  start();
  Grant g(key_, 14);
  Peer cn, mn;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) cn.send(rs_ep_, relay_data(14, tunnel_packet(50, uint8_t(i))));
  ASSERT_TRUE(run_until([&] { return stats().relayed_packets + stats().drop_quota == kSent; }));
  EXPECT_EQ(stats().relayed_packets, 64u);
  EXPECT_EQ(stats().drop_quota, uint64_t(kSent - 64));
  for (int i = 0; i < 64; ++i) {
    auto got = receive(mn);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(*got, relay_data(14, tunnel_packet(50, uint8_t(i)))) << "the first 64 pass";
  }
  EXPECT_TRUE(nothing_arrives(mn));
  // The quota is per node: the other side still has its own.
  relayed(mn, cn, relay_data(14, tunnel_packet(50, 1)));
}

TEST_F(RsServerTest, NodeByteQuotaDropsExactlyTheExcess) {
  cfg_.node_bytes = 1e-6;  // only the burst: 65536 bytes
  start();
  Grant g(key_, 15);
  Peer cn, mn;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  // 1024-byte datagrams: 64 fit the burst exactly.
  constexpr int kSent = 80;
  for (int i = 0; i < kSent; ++i) cn.send(rs_ep_, relay_data(15, tunnel_packet(1016, 1)));
  ASSERT_TRUE(run_until([&] { return stats().relayed_packets + stats().drop_quota == kSent; }));
  EXPECT_EQ(stats().relayed_packets, 64u);
  EXPECT_EQ(stats().drop_quota, uint64_t(kSent - 64));
  EXPECT_EQ(stats().relayed_bytes, 64u * 1024);
}

TEST_F(RsServerTest, GlobalPacketQuotaCoversEverySession) {
  cfg_.global_pps = 1e-6;  // the burst: 64 packets for the whole server
  start();
  Grant a(key_, 1), b(key_, 2);
  Peer a1, a2, b1, b2;
  bind(a1, a, 1, 1);
  bind(a2, a, 2, 1);
  bind(b1, b, 1, 1);
  bind(b2, b, 2, 1);
  for (int i = 0; i < 40; ++i) {
    a1.send(rs_ep_, relay_data(1, tunnel_packet(30, 1)));
    b1.send(rs_ep_, relay_data(2, tunnel_packet(30, 2)));
  }
  ASSERT_TRUE(run_until([&] { return stats().relayed_packets + stats().drop_quota == 80; }));
  EXPECT_EQ(stats().relayed_packets, 64u);
  EXPECT_EQ(stats().drop_quota, 16u);
}

TEST_F(RsServerTest, EveryMalformedDatagramIsOneCountedDropAndNothingIsRelayed) {
  start();
  Grant g(key_, 0x0000BEEF);
  Peer cn, mn, hostile;
  bind(cn, g, 1, 1);
  bind(mn, g, 2, 1);
  std::mt19937 rng(7);
  auto random_bytes = [&](size_t n, uint8_t type) {
    Bytes d(n);
    for (auto& b : d) b = uint8_t(rng());
    if (n) d[0] = type;
    return d;
  };
  using Counter = uint64_t RsStats::*;
  struct Case {
    std::string what;
    Bytes d;
    Counter counter;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}, &RsStats::drop_malformed});
  // Every type byte that is not one the RS takes, at a few sizes.
  for (int type = 0; type < 256; ++type) {
    if (type == 0x07 || type == 0x08 || type == 0x0B) continue;
    for (size_t n : {size_t(1), size_t(8), size_t(32), size_t(116)})
      cases.push_back({"type " + std::to_string(type) + " size " + std::to_string(n),
                       random_bytes(n, uint8_t(type)), &RsStats::drop_malformed});
  }
  // Relay data: a header with nothing behind it, truncated headers, reserved bytes set.
  Bytes valid = relay_data(0xBEEF, tunnel_packet(40, 1));
  for (size_t n = 1; n <= proto::kRelayHeaderSize; ++n)
    cases.push_back({"relay data truncated to " + std::to_string(n),
                     Bytes(valid.begin(), valid.begin() + long(n)), &RsStats::drop_malformed});
  for (size_t at = 1; at < 4; ++at) {
    Bytes d = valid;
    d[at] = 1;
    cases.push_back(
        {"relay data reserved byte " + std::to_string(at), d, &RsStats::drop_malformed});
  }
  cases.push_back({"relay data for no session", relay_data(0xBEF0, tunnel_packet(40, 1)),
                   &RsStats::drop_unknown_session});
  // Binds: every wrong size, a bad side, reserved bytes set.
  Bytes bind = g.bind(1, 100);
  for (size_t n = 1; n <= proto::kRelayBindSize + 40; ++n) {
    if (n == proto::kRelayBindSize) continue;
    Bytes d(n, 0);
    std::copy(bind.begin(), bind.begin() + long(std::min(n, bind.size())), d.begin());
    cases.push_back({"bind of " + std::to_string(n) + " bytes", d, &RsStats::drop_malformed});
  }
  for (uint8_t side : {0, 3, 255}) {
    Bytes d = bind;
    d[1] = side;
    cases.push_back({"bind side " + std::to_string(side), d, &RsStats::drop_malformed});
  }
  for (size_t at : {2, 3}) {
    Bytes d = bind;
    d[at] = 1;
    cases.push_back({"bind reserved byte " + std::to_string(at), d, &RsStats::drop_malformed});
  }
  // Status requests: wrong sizes, reserved bytes, a MAC under no key.
  Bytes status = crypto::RelayKeys(key_).make_status_request(1);
  for (size_t n : {size_t(1), size_t(12), size_t(27), size_t(29), size_t(100)}) {
    Bytes d(n, 0);
    std::copy(status.begin(), status.begin() + long(std::min(n, status.size())), d.begin());
    cases.push_back(
        {"status request of " + std::to_string(n) + " bytes", d, &RsStats::drop_malformed});
  }
  {
    Bytes d = status;
    d[2] = 1;
    cases.push_back({"status request reserved byte", d, &RsStats::drop_malformed});
    d = status;
    d[20] ^= 1;
    cases.push_back({"status request bad MAC", d, &RsStats::drop_status});
  }
  // Random noise of every kind of size (the type byte as it comes).
  for (int i = 0; i < 200; ++i) {
    Bytes d = random_bytes(1 + rng() % 1500, 0);
    d[0] = uint8_t(rng());
    if (d[0] == 0x07 || d[0] == 0x08 || d[0] == 0x0B) d[0] = 0x42;
    cases.push_back({"noise " + std::to_string(i), d, &RsStats::drop_malformed});
  }

  const RsStats& s = stats();
  for (auto& c : cases) {
    RsStats before = s;
    uint64_t total = drops();
    send_dropped(hostile, c.d);
    EXPECT_EQ(drops(), total + 1) << c.what;
    EXPECT_EQ(s.*c.counter, before.*c.counter + 1) << c.what;
    EXPECT_EQ(s.relayed_packets, before.relayed_packets) << c.what;
    EXPECT_EQ(s.binds, before.binds) << c.what;
    EXPECT_EQ(s.status_answers, before.status_answers) << c.what;
  }
  EXPECT_TRUE(nothing_arrives(hostile));
  // The session is untouched: what the sides receive next is what the other side sent next.
  nothing_before_marker(cn, mn, 0xBEEF);
  nothing_before_marker(mn, cn, 0xBEEF);
  EXPECT_EQ(rs_->session_count(), 1u);
}

}  // namespace
}  // namespace ntm::rs
