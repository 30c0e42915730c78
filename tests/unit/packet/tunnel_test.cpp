// A tunnel's peer endpoint (packet/tunnel_table.h; docs/protocol.md §8.2-8.3): it moves only on
// an authenticated packet with the highest counter so far, and a new address gets a path
// challenge and at most 3× the bytes received from it until the matching path response comes
// back — a peer (or whoever holds its keys) cannot aim our traffic at a third party. The
// table hands a rekeyed keypair the peer's vIPs only when promoted.
#include <gtest/gtest.h>

#include "crypto/session.h"
#include "packet/tunnel_table.h"

namespace ntm::packet {
namespace {

proto::Endpoint ep(const char* s) {
  return *proto::Endpoint::parse(s);
}

TEST(TunnelEndpointTest, ANewAddressIsBudgetedUntilItAnswersItsChallenge) {
  crypto::init();
  Tunnel t;
  t.set_endpoint(ep("192.0.2.1:4000"));
  Path out;
  EXPECT_TRUE(t.endpoint_for_send(1500, out));
  EXPECT_EQ(out, Path(ep("192.0.2.1:4000")));
  EXPECT_EQ(t.on_newest_from(ep("192.0.2.1:4000"), 100), 0u) << "same address: nothing to do";

  uint64_t token = t.on_newest_from(ep("198.51.100.9:5000"), 100);  // the peer moved (or lies)
  ASSERT_NE(token, 0u);
  EXPECT_FALSE(t.endpoint_validated());
  EXPECT_TRUE(t.endpoint_for_send(290, out));
  EXPECT_EQ(out, Path(ep("198.51.100.9:5000")));
  EXPECT_FALSE(t.endpoint_for_send(20, out)) << "300 bytes = 3 x 100 received";
  t.on_newest_from(ep("198.51.100.9:5000"), 50);  // more from there: more budget
  EXPECT_TRUE(t.endpoint_for_send(160, out));     // 450 = 3 x 150 in all
  EXPECT_FALSE(t.endpoint_for_send(1, out));
  EXPECT_FALSE(t.on_path_response(token + 1)) << "a wrong token validates nothing";
  EXPECT_FALSE(t.endpoint_for_send(1, out));
  EXPECT_TRUE(t.on_path_response(token));
  EXPECT_TRUE(t.endpoint_validated());
  EXPECT_TRUE(t.endpoint_for_send(65000, out));
  EXPECT_FALSE(t.on_path_response(token)) << "once";
}

TEST(TunnelEndpointTest, AnotherMoveReplacesThePendingChallenge) {
  crypto::init();
  Tunnel t;
  t.set_endpoint(ep("192.0.2.1:4000"));
  uint64_t first = t.on_newest_from(ep("198.51.100.9:5000"), 100);
  uint64_t second = t.on_newest_from(ep("203.0.113.7:6000"), 100);
  ASSERT_NE(first, second);
  EXPECT_FALSE(t.on_path_response(first)) << "the first address was left before it answered";
  EXPECT_TRUE(t.on_path_response(second));
  Path out;
  t.endpoint_for_send(1, out);
  EXPECT_EQ(out, Path(ep("203.0.113.7:6000")));
}

TEST(TunnelEndpointTest, ARelayedPathIsNotTheDirectPathToTheSameAddress) {
  // Packets of a relay session come from the relay server's address: the path is (server,
  // session), and the same server without the session — or with another — is another path.
  crypto::init();
  Tunnel t;
  t.set_endpoint(Path(ep("198.18.0.20:7300"), 0x51));
  EXPECT_EQ(t.on_newest_from(Path(ep("198.18.0.20:7300"), 0x51), 100), 0u);
  EXPECT_NE(t.on_newest_from(Path(ep("198.18.0.20:7300"), 0x52), 100), 0u);
  EXPECT_NE(t.on_newest_from(Path(ep("198.18.0.20:7300")), 100), 0u);
  Path out;
  t.endpoint_for_send(1, out);
  EXPECT_FALSE(out.relayed());
}

TEST(TunnelEndpointTest, APeerLaggingOnAWorsePathIsNotFollowedBackWithinTheGrace) {
  // Relay first, direct when it works (§7.9): we moved to the punched path; the peer's packets
  // still in flight through the relay (or sent before its own switch) must not pull us back.
  crypto::init();
  using namespace std::chrono_literals;
  Tunnel t;
  Path relay(ep("198.18.0.20:7300"), 0x51), punched(ep("198.18.0.203:4000"));
  t.set_known_paths({{punched, 0}, {relay, 100}});
  auto t0 = std::chrono::steady_clock::now();
  t.set_endpoint(punched);
  EXPECT_EQ(t.on_newest_from(punched, 100, t0 + 100ms), 0u);
  EXPECT_EQ(t.on_newest_from(relay, 100, t0 + 900ms), 0u) << "heard on punched 0.8 s ago";
  EXPECT_EQ(t.endpoint(), punched);
  EXPECT_TRUE(t.endpoint_validated());
  // Nothing on the punched path for longer than the grace: the peer really is on the relay.
  EXPECT_NE(t.on_newest_from(relay, 100, t0 + 1200ms), 0u);
  EXPECT_EQ(t.endpoint(), relay);
  // A better known path, or one we never heard of (the peer roamed), is followed at once.
  EXPECT_NE(t.on_newest_from(punched, 100, t0 + 1300ms), 0u);
  EXPECT_EQ(t.endpoint(), punched);
  EXPECT_NE(t.on_newest_from(Path(ep("198.51.100.9:5000")), 100, t0 + 1400ms), 0u);
  EXPECT_EQ(t.endpoint(), Path(ep("198.51.100.9:5000")));
}

TEST(SessionNewestTest, OnlyTheHighestCounterSoFarIsNewest) {
  crypto::init();
  crypto::Key k{};
  k.fill(7);
  crypto::Session tx(k, k, 1), rx(k, k, 1);
  auto packet = [&](uint64_t counter) {
    crypto::Session s(k, k, 1, counter);
    proto::Bytes plain(4, 1), out(4 + proto::kSealedOverhead);
    s.seal(proto::PacketType::kData, plain, out.data());
    return out;
  };
  auto open = [&](const proto::Bytes& p) {
    crypto::SealedHeader h;
    EXPECT_TRUE(crypto::parse_sealed_header(p, h));
    proto::Bytes plain(p.size() - proto::kSealedOverhead);
    bool newest = false;
    EXPECT_EQ(rx.open(h, p, plain.data(), &newest), crypto::Session::OpenStatus::kOk);
    return newest;
  };
  proto::Bytes held_back = packet(5);
  EXPECT_TRUE(open(packet(1)));
  EXPECT_TRUE(open(packet(10)));  // the peer moved and sent 10 from its new address
  // Packet 5, held back by an attacker and released from the old address: accepted (inside
  // the window, never seen) but not newest, so it cannot move the endpoint back.
  EXPECT_FALSE(open(held_back));
  EXPECT_TRUE(open(packet(11)));
}

TEST(TunnelTableTest, AnInboundOnlyKeypairTakesTheVipsWhenPromoted) {
  crypto::init();
  TunnelTable table;
  auto make = [](uint32_t id) {
    auto t = std::make_shared<Tunnel>();
    t->local_id = id;
    t->has_vip4 = true;
    t->peer_vip4 = 0x01020304;
    return t;
  };
  auto old = make(1), rekeyed = make(2);
  EXPECT_TRUE(table.insert(old).empty());
  table.insert_inbound(rekeyed);
  EXPECT_EQ(table.find_by_id(2), rekeyed) << "receives at once";
  EXPECT_EQ(table.find_by_vip4(0x01020304), old) << "but sends only when confirmed";
  auto replaced = table.promote(rekeyed);
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(replaced[0], old);
  EXPECT_EQ(table.find_by_vip4(0x01020304), rekeyed);
  EXPECT_EQ(table.find_by_id(1), old) << "the old keypair still decrypts until removed";
}

}  // namespace
}  // namespace ntm::packet
