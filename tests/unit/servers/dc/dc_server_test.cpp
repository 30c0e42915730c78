// DcServer through its public interface: a real DC on 127.0.0.1 port 0 and test nodes that are
// plain UDP sockets speaking the protocol with libntm's crypto and proto code. What nodes rely
// on: a handshake gives a control session; registration answers with FQDN, vIPs and the NAT
// address; a retransmitted request is answered again but processed once; replayed packets and
// handshakes are dropped; a direction request reaches both nodes as route directions with one
// temporal key and opposite roles; a node that moved is answered at its new address only once
// a packet from there authenticates.
#include "dc/dc_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "printers.h"
#include "proto/control_message.h"
#include "raw_inject.h"

namespace ntm::dc {
namespace {

using namespace std::chrono_literals;
using proto::AttrType;
using proto::Bytes;
using proto::ControlMessage;
using proto::MessageType;

class TestNode {
 public:
  explicit TestNode(const crypto::Key& dc_public)
      : priv_(crypto::random_private_key()), handshake_(priv_, dc_public), cookies_(dc_public) {
    rebind();
  }
  /// A handshake initiation with its MACs (mac2 when a cookie is held), as DcLink sends it.
  Bytes init(uint32_t index, const Bytes& early = {}) {
    Bytes m = handshake_.create_init(index, early);
    cookies_.add_macs(m);
    return m;
  }
  ~TestNode() { ::close(fd_); }

  /// A new socket, so a new source port (what a NAT rebinding looks like to the DC).
  void rebind() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  proto::Endpoint endpoint() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  crypto::Key public_key() const { return crypto::public_key(priv_); }

  void send(const proto::Endpoint& to, const Bytes& d) {
    last_sent = d;
    ::sendto(fd_, d.data(), d.size(), 0, to.sa(), to.sa_len());
  }
  std::optional<Bytes> try_receive() {
    uint8_t buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return Bytes(buf, buf + n);
  }

  Bytes seal(const ControlMessage& m) {
    Bytes plain = m.encode(), packet(plain.size() + proto::kSealedOverhead);
    session->seal(proto::PacketType::kControl, plain, packet.data());
    return packet;
  }
  std::optional<ControlMessage> open(const Bytes& packet) {
    crypto::SealedHeader h;
    if (!crypto::parse_sealed_header(packet, h) || h.type != proto::PacketType::kControl)
      return std::nullopt;
    Bytes plain(packet.size() - proto::kSealedOverhead);
    if (session->open(h, packet, plain.data()) != crypto::Session::OpenStatus::kOk)
      return std::nullopt;
    proto::DecodeError err;
    return ControlMessage::decode(plain, err);
  }

  crypto::Key priv_;
  crypto::HandshakeInitiator handshake_;
  crypto::CookieGenerator cookies_;
  std::unique_ptr<crypto::Session> session;
  Bytes last_sent;
  int fd_ = -1;
};

class DcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    spdlog::set_level(spdlog::level::off);
    key_.private_key = crypto::random_private_key();
    key_.public_key = crypto::public_key(key_.private_key);
    cfg_.listen = {"127.0.0.1:0"};
    cfg_.domain = "dc.test";
    cfg_.vip4_pool = server::Cidr::parse("100.64.0.0/24");
    cfg_.vip6_pool = server::Cidr::parse("fd00:6e74::/112");
    cfg_.registration_lifetime_s = 60;
    configure(cfg_);
    start();
  }
  /// Tests change the configuration here.
  virtual void configure(DcConfig&) {}
  /// (Re)starts the DC with cfg_ and `store` (a restart keeps the port).
  void start(BindingStore* store = nullptr) {
    if (dc_) cfg_.listen = {dc_ep_.to_string()};
    dc_.reset();
    dc_ = std::make_unique<DcServer>(io_, cfg_, key_, store);
    ASSERT_TRUE(dc_->open());
    ASSERT_EQ(dc_->local_endpoints().size(), 1u);
    dc_ep_ = dc_->local_endpoints()[0];
    ASSERT_NE(dc_ep_.port(), 0);
  }

  std::unique_ptr<TestNode> node() { return std::make_unique<TestNode>(key_.public_key); }

  /// Runs the DC until `n` receives a datagram or `wait` passes.
  std::optional<Bytes> receive(TestNode& n, std::chrono::milliseconds wait = 1000ms) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    do {
      io_.run_for(2ms);
      if (auto d = n.try_receive()) return d;
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }
  std::optional<ControlMessage> receive_control(TestNode& n,
                                                std::chrono::milliseconds wait = 1000ms) {
    auto d = receive(n, wait);
    if (!d) return std::nullopt;
    return n.open(*d);
  }

  void handshake(TestNode& n, uint32_t index = 0x100) {
    n.send(dc_ep_, n.init(index));
    auto resp = receive(n);
    ASSERT_TRUE(resp) << "no handshake response";
    auto r = n.handshake_.consume_response(*resp);
    ASSERT_TRUE(r);
    n.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  }

  std::optional<ControlMessage> request(TestNode& n, const ControlMessage& m) {
    n.send(dc_ep_, n.seal(m));
    return receive_control(n);
  }

  std::optional<ControlMessage> register_node(TestNode& n, const std::string& name,
                                              bool advertise_own_address, uint32_t id = 1) {
    ControlMessage m(MessageType::kRegistrationRequest, id);
    m.add_string(AttrType::kNodeName, name);
    if (advertise_own_address) m.add_endpoint(AttrType::kRealAddress, n.endpoint());
    return request(n, m);
  }

  asio::io_context io_;
  crypto::StaticKeyPair key_;
  DcConfig cfg_;
  std::unique_ptr<DcServer> dc_;
  proto::Endpoint dc_ep_;
};

std::string v4(const std::array<uint8_t, 4>& a) {
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, a.data(), buf, sizeof buf);
}

TEST_F(DcServerTest, RegistrationAssignsFqdnVipsAndReportsTheNatAddress) {
  auto n = node();
  handshake(*n);
  auto resp = register_node(*n, "mn1", false, 0xabcdef);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->type, MessageType::kRegistrationResponse);
  EXPECT_EQ(resp->message_id, 0xabcdefu);
  EXPECT_EQ(resp->get_string(AttrType::kFqdn), "mn1.dc.test");
  auto vip4 = resp->get_fixed<4>(AttrType::kVip4);
  ASSERT_TRUE(vip4);
  EXPECT_EQ(v4(*vip4), "100.64.0.1");
  EXPECT_TRUE(resp->get_fixed<16>(AttrType::kVip6));
  EXPECT_EQ(resp->get_endpoint(AttrType::kNatAddress), n->endpoint());
  EXPECT_EQ(resp->get_u32(AttrType::kLifetime), 60u);
  EXPECT_EQ(dc_->stats().handshakes, 1u);
  EXPECT_EQ(dc_->stats().registrations, 1u);
}

TEST_F(DcServerTest, ARegistrationInMessageOneIsAnsweredRightBehindMessageTwo) {
  // docs/protocol.md §3.2: start-up to vIP in one round trip.
  auto n = node();
  ControlMessage reg(MessageType::kRegistrationRequest, 0x51);
  reg.add_string(AttrType::kNodeName, "early");
  n->send(dc_ep_, n->init(0x100, reg.encode()));
  auto m2 = receive(*n);
  ASSERT_TRUE(m2);
  ASSERT_EQ(m2->size(), proto::kHandshakeRespSize) << "message 2 comes first";
  auto r = n->handshake_.consume_response(*m2);
  ASSERT_TRUE(r);
  n->session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  auto resp = receive_control(*n);
  ASSERT_TRUE(resp) << "the registration response follows without another request";
  EXPECT_EQ(resp->type, MessageType::kRegistrationResponse);
  EXPECT_EQ(resp->message_id, 0x51u);
  EXPECT_EQ(resp->get_string(AttrType::kFqdn), "early.dc.test");
  EXPECT_EQ(dc_->stats().early_registrations, 1u);
  EXPECT_EQ(dc_->stats().registrations, 1u);
  // The node's retransmission under the session (its answer was lost) is answered from the
  // response cache, not registered twice; and the session is confirmed: a keep-alive works.
  auto again = request(*n, reg);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->encode(), resp->encode());
  EXPECT_EQ(dc_->stats().registrations, 1u);
  auto ack = request(*n, ControlMessage(MessageType::kKeepAlive, 0x52));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, MessageType::kKeepAliveAck);
}

TEST_F(DcServerTest, EarlyDataIsPartOfTheHandshake) {
  auto n = node();
  ControlMessage reg(MessageType::kRegistrationRequest, 1);
  reg.add_string(AttrType::kNodeName, "early");
  // Altered early data fails the whole message 1 (mac1 does not cover it; Noise does).
  Bytes m = n->init(0x100, reg.encode());
  m.back() ^= 1;
  n->send(dc_ep_, m);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_handshake, 1u);
  // Early data that is not a registration request: the handshake is answered, the data
  // dropped and counted, nothing registered.
  ControlMessage ka(MessageType::kKeepAlive, 2);
  n->send(dc_ep_, n->init(0x101, ka.encode()));
  auto m2 = receive(*n);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->size(), proto::kHandshakeRespSize);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_malformed, 1u);
  EXPECT_EQ(dc_->stats().registrations, 0u);
  // Sizes: early data shorter than a control header, or longer than 1024 bytes, is a
  // malformed message 1.
  for (size_t extra : {size_t(1), size_t(23), crypto::kEarlyDataMax + 17}) {
    Bytes bad = n->init(0x102);
    bad.resize(bad.size() + extra, 0);
    n->send(dc_ep_, bad);
  }
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_malformed, 4u);
}

TEST_F(DcServerTest, RetransmittedRequestIsAnsweredAgainButProcessedOnce) {
  auto n = node();
  handshake(*n);
  auto first = register_node(*n, "mn1", false, 7);
  auto again = register_node(*n, "mn1", false, 7);  // a new packet, the same message ID
  ASSERT_TRUE(first && again);
  EXPECT_EQ(again->encode(), first->encode());
  EXPECT_EQ(dc_->stats().registrations, 1u);
}

TEST_F(DcServerTest, ReplayedControlPacketIsDropped) {
  auto n = node();
  handshake(*n);
  ASSERT_TRUE(register_node(*n, "mn1", false));
  n->send(dc_ep_, n->last_sent);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_replay, 1u);
}

TEST_F(DcServerTest, ReplayedHandshakeInitiationIsDropped) {
  auto n = node();
  Bytes init = n->init(1);
  n->send(dc_ep_, init);
  ASSERT_TRUE(receive(*n));
  n->send(dc_ep_, init);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().handshakes, 1u);
  EXPECT_EQ(dc_->stats().drop_replay, 1u);
}

TEST_F(DcServerTest, HandshakeWithTheWrongDcKeyIsDropped) {
  TestNode n(crypto::public_key(crypto::random_private_key()));
  n.send(dc_ep_, n.init(1));
  EXPECT_FALSE(receive(n, 100ms));
  EXPECT_EQ(dc_->stats().drop_mac, 1u) << "mac1 is keyed by the DC key: no X25519 spent";
  // With the right mac1 but a Noise message for another DC key, Noise itself refuses it.
  Bytes m = n.handshake_.create_init(2);
  crypto::CookieGenerator right(key_.public_key);
  right.add_macs(m);
  n.send(dc_ep_, m);
  EXPECT_FALSE(receive(n, 100ms));
  EXPECT_EQ(dc_->stats().drop_handshake, 1u);
}

TEST_F(DcServerTest, GarbageIsCountedAndDoesNotDisturbService) {
  auto n = node();
  n->send(dc_ep_, {});
  n->send(dc_ep_, {0x05, 0, 0, 0});
  n->send(dc_ep_, {0x03, 0, 0, 0, 0, 0, 0, 1});
  Bytes unknown_session(48, 0);
  unknown_session[0] = 0x03;
  proto::put_u32(&unknown_session[4], 0xdeadbeef);
  n->send(dc_ep_, unknown_session);
  Bytes short_init(proto::kHandshakeInitSize - 1, 0);
  short_init[0] = 0x01;
  n->send(dc_ep_, short_init);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_malformed, 4u);
  EXPECT_EQ(dc_->stats().drop_unknown_session, 1u);
  handshake(*n);
  EXPECT_TRUE(register_node(*n, "mn1", false));
}

TEST_F(DcServerTest, ForgedControlPacketIsDroppedAsUnauthentic) {
  auto n = node();
  handshake(*n);
  Bytes packet = n->seal(ControlMessage(MessageType::kKeepAlive, 1));
  packet.back() ^= 1;
  n->send(dc_ep_, packet);
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_auth, 1u);
}

TEST_F(DcServerTest, ErrorsNameTheProblem) {
  auto a = node(), b = node();
  handshake(*a);
  handshake(*b);
  ControlMessage dir(MessageType::kDirectionRequest, 2);
  dir.add_string(AttrType::kFqdn, "b.dc.test");
  auto not_registered = request(*a, dir);
  ASSERT_TRUE(not_registered);
  EXPECT_EQ(not_registered->type, MessageType::kError);
  EXPECT_EQ(not_registered->message_id, 2u);
  EXPECT_EQ(not_registered->get_u16(AttrType::kErrorCode),
            uint16_t(proto::ErrorCode::kNotRegistered));

  ASSERT_TRUE(register_node(*a, "a", true));
  dir.message_id = 3;
  auto unknown = request(*a, dir);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kUnknownFqdn));

  auto taken = register_node(*b, "a", false);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kNameTaken));

  auto invalid = register_node(*b, "B_1", false, 9);
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kInvalidName));

  auto keepalive = request(*b, ControlMessage(MessageType::kKeepAlive, 10));
  ASSERT_TRUE(keepalive);
  EXPECT_EQ(keepalive->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kNotRegistered));
}

TEST_F(DcServerTest, DirectionRequestReachesBothNodesAsRouteDirections) {
  // A advertises the address the DC sees (reachable); B is "behind NAT". B asks for A.
  auto a = node(), b = node();
  handshake(*a, 0xa);
  handshake(*b, 0xb);
  auto reg_a = register_node(*a, "a", true);
  auto reg_b = register_node(*b, "b", false);
  ASSERT_TRUE(reg_a && reg_b);

  ControlMessage dir(MessageType::kDirectionRequest, 42);
  dir.add_string(AttrType::kFqdn, "A.dc.test.");  // case and a trailing dot do not matter
  b->send(dc_ep_, b->seal(dir));

  std::optional<ControlMessage> resp, rd_b, rd_a;
  for (int i = 0; i < 2; ++i) {  // B's direction response and route direction, either order
    auto m = receive_control(*b);
    ASSERT_TRUE(m);
    (m->type == MessageType::kDirectionResponse ? resp : rd_b) = m;
  }
  rd_a = receive_control(*a);
  ASSERT_TRUE(resp && rd_a && rd_b);
  EXPECT_EQ(resp->message_id, 42u);
  EXPECT_EQ(resp->get_string(AttrType::kFqdn), "a.dc.test");
  EXPECT_EQ(resp->get_fixed<4>(AttrType::kPeerVip4), reg_a->get_fixed<4>(AttrType::kVip4));
  ASSERT_EQ(rd_a->type, MessageType::kRouteDirection);
  ASSERT_EQ(rd_b->type, MessageType::kRouteDirection);
  auto id = resp->get_u32(AttrType::kDirectionId);
  ASSERT_TRUE(id);
  EXPECT_EQ(rd_a->get_u32(AttrType::kDirectionId), id);
  EXPECT_EQ(rd_b->get_u32(AttrType::kDirectionId), id);
  auto ta = rd_a->get_key(AttrType::kTemporalKey), tb = rd_b->get_key(AttrType::kTemporalKey);
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(*ta, *tb);
  // The requested node (A) sends the tunnel request, to B as the DC sees it (B is behind a
  // NAT: its mapped address); B, whose application waits, punches towards A's public address
  // and answers. One node is reachable: no relay.
  EXPECT_EQ(rd_a->get_u8(AttrType::kRole), uint8_t(proto::Role::kInitiator));
  EXPECT_EQ(rd_b->get_u8(AttrType::kRole), uint8_t(proto::Role::kResponder));
  auto to_b = rd_a->get_candidates(), to_a = rd_b->get_candidates();
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].kind, proto::CandidateKind::kMapped);
  EXPECT_EQ(to_b[0].endpoint, b->endpoint());
  ASSERT_EQ(to_a.size(), 1u);
  EXPECT_EQ(to_a[0].kind, proto::CandidateKind::kPublic);
  EXPECT_EQ(to_a[0].endpoint, a->endpoint());
  EXPECT_FALSE(rd_a->find(AttrType::kRelayTicket));
  EXPECT_FALSE(rd_b->find(AttrType::kRelayTicket));
  EXPECT_EQ(rd_b->get_string(AttrType::kPeerFqdn), "a.dc.test");
  EXPECT_EQ(rd_a->get_string(AttrType::kPeerFqdn), "b.dc.test");
  EXPECT_EQ(rd_a->get_fixed<4>(AttrType::kPeerVip4), reg_b->get_fixed<4>(AttrType::kVip4));
  EXPECT_EQ(dc_->stats().directions, 1u);

  // Acknowledged route directions are not sent again (the first retransmission is at 200 ms).
  for (TestNode* n : {a.get(), b.get()}) {
    const ControlMessage& rd = n == a.get() ? *rd_a : *rd_b;
    n->send(dc_ep_, n->seal(ControlMessage(MessageType::kRouteDirectionAck, rd.message_id)));
  }
  EXPECT_FALSE(receive(*a, 400ms));
  EXPECT_FALSE(b->try_receive());
}

TEST_F(DcServerTest, UnacknowledgedRouteDirectionIsRetransmitted) {
  auto a = node(), b = node();
  handshake(*a, 0xa);
  handshake(*b, 0xb);
  ASSERT_TRUE(register_node(*a, "a", true));
  ASSERT_TRUE(register_node(*b, "b", false));
  ControlMessage dir(MessageType::kDirectionRequest, 2);  // IDs are unique per session
  dir.add_string(AttrType::kFqdn, "a.dc.test");
  b->send(dc_ep_, b->seal(dir));
  auto first = receive_control(*a);
  ASSERT_TRUE(first);
  auto again = receive_control(*a);  // no ack: sent again after the retransmission timeout
  ASSERT_TRUE(again);
  EXPECT_EQ(again->type, MessageType::kRouteDirection);
  EXPECT_EQ(again->message_id, first->message_id);
  EXPECT_EQ(again->flags & proto::kFlagRetransmission, proto::kFlagRetransmission);
  EXPECT_EQ(again->get_key(AttrType::kTemporalKey), first->get_key(AttrType::kTemporalKey));
}

TEST_F(DcServerTest, NodeThatMovedIsAnsweredAtItsNewAddressOnlyAfterProof) {
  auto n = node(), peer = node();
  handshake(*n);
  handshake(*peer, 0x200);
  ASSERT_TRUE(register_node(*n, "mn1", true));
  ASSERT_TRUE(register_node(*peer, "cn1", false));
  proto::Endpoint old_ep = n->endpoint();

  // Neither a forged packet nor a copy of the node's last genuine one, sent from elsewhere,
  // moves the node: the next route direction for it still goes to its real endpoint.
  auto intruder = node();
  Bytes genuine_copy = n->last_sent;
  Bytes forged = n->seal(ControlMessage(MessageType::kKeepAlive, 2));
  forged.back() ^= 1;
  intruder->send(dc_ep_, forged);
  intruder->send(dc_ep_, genuine_copy);
  EXPECT_FALSE(receive(*intruder, 100ms));
  ControlMessage dir(MessageType::kDirectionRequest, 5);
  dir.add_string(AttrType::kFqdn, "mn1.dc.test");
  peer->send(dc_ep_, peer->seal(dir));
  auto rd = receive_control(*n);
  ASSERT_TRUE(rd) << "the route direction must reach the node where it really is";
  EXPECT_EQ(rd->type, MessageType::kRouteDirection);
  EXPECT_EQ(rd->get_string(AttrType::kPeerFqdn), "cn1.dc.test");
  EXPECT_FALSE(intruder->try_receive()) << "nothing for the intruder";
  EXPECT_EQ(n->endpoint(), old_ep);

  // The node moves (a NAT rebinding): its next packet authenticates from the new address. The
  // DC answers there at once, but first asks for proof that the node receives there.
  n->rebind();
  ASSERT_FALSE(n->endpoint() == old_ep);
  n->send(dc_ep_, n->seal(ControlMessage(MessageType::kKeepAlive, 3)));
  std::optional<ControlMessage> challenge, ack;
  for (int i = 0; i < 2; ++i) {
    auto m = receive_control(*n);
    ASSERT_TRUE(m);
    (m->type == MessageType::kPathChallenge ? challenge : ack) = m;
  }
  ASSERT_TRUE(challenge && ack);
  EXPECT_EQ(ack->type, MessageType::kKeepAliveAck);
  EXPECT_EQ(ack->get_endpoint(AttrType::kNatAddress), n->endpoint());
  auto token = challenge->get_fixed<8>(AttrType::kPathToken);
  ASSERT_TRUE(token);
  ControlMessage response(MessageType::kPathResponse, challenge->message_id);
  response.add(AttrType::kPathToken, *token);
  n->send(dc_ep_, n->seal(response));
  io_.run_for(20ms);
  EXPECT_EQ(dc_->stats().paths_validated, 1u);
  // Validated: the address other nodes are sent to is the new one (the node re-registers its
  // new real address, as a node does after a move).
  ASSERT_TRUE(register_node(*n, "mn1", true, 4));
  dir.message_id = 6;
  peer->send(dc_ep_, peer->seal(dir));
  std::optional<ControlMessage> resp6;
  std::vector<ControlMessage> rds;
  for (int i = 0; i < 6 && !resp6; ++i) {
    auto m = receive_control(*peer);
    ASSERT_TRUE(m);
    if (m->type == MessageType::kDirectionResponse && m->message_id == 6) resp6 = m;
    if (m->type == MessageType::kRouteDirection) rds.push_back(*m);
  }
  ASSERT_TRUE(resp6);
  std::optional<ControlMessage> from_peer;
  for (int i = 0; i < 6 && !from_peer; ++i) {
    for (auto& m : rds)
      if (m.get_u32(AttrType::kDirectionId) == resp6->get_u32(AttrType::kDirectionId))
        from_peer = m;
    if (from_peer) break;
    auto m = receive_control(*peer);
    ASSERT_TRUE(m);
    if (m->type == MessageType::kRouteDirection) rds.push_back(*m);
  }
  ASSERT_TRUE(from_peer);
  auto candidates = from_peer->get_candidates();
  ASSERT_FALSE(candidates.empty());
  EXPECT_EQ(candidates[0].endpoint, n->endpoint());
}

// ---- Issue 6: a DC that no packet can stop ------------------------------------------------

TEST_F(DcServerTest, AnInitiationFromPortZeroOrAMappedSourceIsDroppedAndTheDcServesOn) {
  // Finding 1: one valid message 1 from UDP source port 0 made send_to throw and the DC abort.
  test::RawInjector raw;
  if (!raw.ok() || geteuid() != 0) GTEST_SKIP() << "needs CAP_NET_RAW (AF_PACKET on lo)";
  auto n = node();
  raw.send4("127.0.0.1", 0, "127.0.0.1", dc_ep_.port(), n->init(1));
  io_.run_for(50ms);
  EXPECT_EQ(dc_->stats().drop_bad_source, 1u);
  EXPECT_EQ(dc_->stats().handshakes, 0u) << "dropped before any crypto";
  handshake(*n, 2);
  EXPECT_TRUE(register_node(*n, "survivor", false)) << "the DC keeps serving";
}

class DcServerV6Test : public DcServerTest {
  void configure(DcConfig& c) override { c.listen = {"[::1]:0"}; }
};

TEST_F(DcServerV6Test, AnIpv4MappedSourceOnTheIpv6OnlySocketIsDropped) {
  test::RawInjector raw;
  if (!raw.ok() || geteuid() != 0) GTEST_SKIP() << "needs CAP_NET_RAW (AF_PACKET on lo)";
  auto n = node();
  raw.send6("::ffff:127.0.0.1", 40000, "::1", dc_ep_.port(), n->init(1));
  raw.send6("::1", 0, "::1", dc_ep_.port(), n->init(2));
  io_.run_for(50ms);
  EXPECT_EQ(dc_->stats().drop_bad_source, 2u);
  EXPECT_EQ(dc_->stats().handshakes, 0u);
}

class DcUnderLoadTest : public DcServerTest {
  void configure(DcConfig& c) override {
    c.handshake_load_threshold = 3;
    c.handshake_rate = 1;
    c.handshake_burst = 2;
  }
};

TEST_F(DcUnderLoadTest, UnderLoadAnInitiationWithoutACookieGetsACookieReplyNotADh) {
  // Finding 2: every initiation cost an X25519 at once. Beyond the load threshold the DC
  // answers with a 64-byte cookie reply and spends no DH until the sender proves its address.
  std::vector<std::unique_ptr<TestNode>> flood;
  for (int i = 0; i < 3; ++i) {
    flood.push_back(node());
    handshake(*flood.back(), 0x10 + i);
  }
  auto n = node();
  n->send(dc_ep_, n->init(0x77));
  auto reply = receive(*n);
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->size(), crypto::kCookieReplySize);
  EXPECT_EQ((*reply)[0], uint8_t(proto::PacketType::kCookieReply));
  EXPECT_EQ(dc_->stats().cookie_replies, 1u);
  EXPECT_EQ(dc_->stats().handshakes, 3u) << "no handshake (no DH) for the initiation";
  // The node takes the cookie and sends the initiation again with mac2: served.
  ASSERT_TRUE(n->cookies_.consume_reply(*reply));
  handshake(*n, 0x78);
  ASSERT_TRUE(n->session);
  EXPECT_TRUE(register_node(*n, "patient", false));
  // With a cookie, a source is still limited (burst 2, 1/s): a third at once is dropped.
  n->send(dc_ep_, n->init(0x79));
  n->send(dc_ep_, n->init(0x7a));
  io_.run_for(50ms);
  EXPECT_GE(dc_->stats().drop_ratelimit, 1u);
}

TEST_F(DcServerTest, JunkInitiationsCostNoDh) {
  auto n = node();
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Bytes junk(proto::kHandshakeInitSize);
    for (auto& b : junk) b = uint8_t(rng());
    junk[0] = 1, junk[1] = junk[2] = junk[3] = 0;
    n->send(dc_ep_, junk);
  }
  EXPECT_FALSE(receive(*n, 200ms));
  EXPECT_EQ(dc_->stats().drop_mac, 200u) << "all stopped by mac1";
  EXPECT_EQ(dc_->stats().drop_handshake, 0u) << "none reached Noise";
}

class DcSessionLimitTest : public DcServerTest {
  void configure(DcConfig& c) override { c.max_sessions = 2; }
};

TEST_F(DcSessionLimitTest, NewIdentitiesBeyondTheSessionLimitAreRefusedRegisteredOnesNot) {
  auto a = node(), b = node(), c = node();
  handshake(*a, 1);
  ASSERT_TRUE(register_node(*a, "a", false));
  handshake(*b, 2);
  c->send(dc_ep_, c->init(3));
  EXPECT_FALSE(receive(*c, 100ms));
  EXPECT_EQ(dc_->stats().drop_session_limit, 1u);
  // a is registered: its new handshake replaces its own session even at the limit.
  a->handshake_ = crypto::HandshakeInitiator(a->priv_, key_.public_key);
  handshake(*a, 4);
  EXPECT_TRUE(register_node(*a, "a", false, 5));
}

TEST_F(DcServerTest, AReplayedInitiationDoesNotCutTheNodeOff) {
  // Before: a new session for the identity deleted the node's working one at once. Now the
  // replayed initiation's session waits for a packet under its keys, which never comes.
  cfg_.registration_lifetime_s = 3;
  auto n = node();
  Bytes init = n->init(1);
  n->send(dc_ep_, init);
  auto resp = receive(*n);
  ASSERT_TRUE(resp);
  auto r = n->handshake_.consume_response(*resp);
  ASSERT_TRUE(r);
  n->session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  ASSERT_TRUE(register_node(*n, "steady", false));
  // A DC restart without a store forgets the timestamp: the old initiation is fresh again.
  start();
  n->send(dc_ep_, init);
  ASSERT_TRUE(receive(*n)) << "answered (the DC cannot tell), making an unconfirmed session";
  // The node's real session is gone with the restart; it handshakes again and keeps working
  // even though the replay is still "pending".
  n->handshake_ = crypto::HandshakeInitiator(n->priv_, key_.public_key);
  handshake(*n, 2);
  ASSERT_TRUE(register_node(*n, "steady", false, 3));
  n->send(dc_ep_, init);  // the replay once more, now older than the accepted timestamp
  EXPECT_FALSE(receive(*n, 100ms));
  auto ack = request(*n, ControlMessage(MessageType::kKeepAlive, 4));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, MessageType::kKeepAliveAck) << "the working session survived";
}

TEST_F(DcServerTest, HandshakeTimestampsSurviveARestartWithTheStore) {
  char tmpl[] = "/tmp/ntm-dc-store.XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl;
  std::string error;
  auto store = BindingStore::open(dir + "/dc.sqlite3", error);
  ASSERT_TRUE(store) << error;
  start(store.get());
  auto n = node();
  Bytes init = n->init(1);
  n->send(dc_ep_, init);
  auto resp = receive(*n);
  ASSERT_TRUE(resp);
  auto r = n->handshake_.consume_response(*resp);
  n->session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  ASSERT_TRUE(register_node(*n, "kept", false));
  store->flush();
  dc_.reset();
  store.reset();  // the DC stops, and comes back
  store = BindingStore::open(dir + "/dc.sqlite3", error);
  ASSERT_TRUE(store) << error;
  start(store.get());
  n->send(dc_ep_, init);  // finding 1: after a restart old initiations replayed
  EXPECT_FALSE(receive(*n, 100ms));
  EXPECT_EQ(dc_->stats().drop_replay, 1u);
  dc_.reset();
  store.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(DcServerTest, AnAuthenticatedRequestFromASpoofedAddressIsNotAmplified) {
  // Finding 3: a node (anyone can be one) sent a 66-byte direction request "from" victim V and
  // the DC sent 1,026 bytes to V. Now V gets at most 3x what came from V until V answers a
  // path challenge, which only the real V could.
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  ASSERT_TRUE(register_node(*a, "a", true));
  ASSERT_TRUE(register_node(*b, "b", false));
  TestNode victim(key_.public_key);  // a socket standing for V
  ControlMessage dir(MessageType::kDirectionRequest, 9);
  dir.add_string(AttrType::kFqdn, "b.dc.test");
  Bytes spoofed = a->seal(dir);  // sealed with a's keys...
  victim.send(dc_ep_, spoofed);  // ...but arriving from V
  size_t received = 0;
  auto deadline = std::chrono::steady_clock::now() + 3s;  // covers the route direction retries
  while (std::chrono::steady_clock::now() < deadline) {
    io_.run_for(5ms);
    while (auto d = victim.try_receive()) received += d->size();
  }
  EXPECT_LE(received, 3 * spoofed.size());
  EXPECT_GT(dc_->stats().sends_suppressed, 0u);
  EXPECT_EQ(dc_->stats().paths_validated, 0u);
}

class DcDirectionRateTest : public DcServerTest {
  void configure(DcConfig& c) override {
    c.direction_rate = 1;
    c.direction_burst = 3;
  }
};

TEST_F(DcDirectionRateTest, DirectionRequestsAreRateLimitedPerNode) {
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  ASSERT_TRUE(register_node(*a, "a", true));
  ASSERT_TRUE(register_node(*b, "b", true));
  int limited = 0, answered = 0;
  for (uint32_t id = 10; id < 16; ++id) {
    ControlMessage dir(MessageType::kDirectionRequest, id);
    dir.add_string(AttrType::kFqdn, "a.dc.test");
    b->send(dc_ep_, b->seal(dir));
    for (int i = 0; i < 4; ++i) {  // skip route directions; find this request's answer
      auto m = receive_control(*b, 300ms);
      if (!m) break;
      if (m->message_id != id) continue;
      ++answered;
      if (m->type == MessageType::kError &&
          m->get_u16(AttrType::kErrorCode) == uint16_t(proto::ErrorCode::kRateLimited))
        ++limited;
      break;
    }
  }
  EXPECT_EQ(answered, 6);
  EXPECT_EQ(limited, 3) << "a burst of 3, then refused";
  EXPECT_EQ(dc_->stats().directions, 3u);
}

class DcRequestRateTest : public DcServerTest {
  void configure(DcConfig& c) override {
    c.request_rate = 0.01;  // one token per 100 s: none comes back during the test
    c.request_burst = 3;
  }
};

TEST_F(DcRequestRateTest, ControlRequestsOverTheRateAreDroppedAndCounted) {
  auto b = node();
  handshake(*b, 2);
  ASSERT_TRUE(register_node(*b, "b", true));  // the first request of b's burst of 3
  // Six new requests (direction requests for a name nobody has: each answered with an error,
  // no route direction): two fit the burst, four are dropped without an answer.
  for (uint32_t id = 10; id < 16; ++id) {
    ControlMessage dir(MessageType::kDirectionRequest, id);
    dir.add_string(AttrType::kFqdn, "nobody.dc.test");
    b->send(dc_ep_, b->seal(dir));
  }
  std::set<uint32_t> answered;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (answered.size() + dc_->stats().drop_ratelimit < 6 &&
         std::chrono::steady_clock::now() < deadline)
    if (auto m = receive_control(*b, 100ms)) answered.insert(m->message_id);
  EXPECT_EQ(answered, (std::set<uint32_t>{10, 11}));
  EXPECT_EQ(dc_->stats().drop_ratelimit, 4u);
  // A retransmission of an answered request is answered again from the cache: no token.
  ControlMessage again(MessageType::kDirectionRequest, 11);
  again.add_string(AttrType::kFqdn, "nobody.dc.test");
  b->send(dc_ep_, b->seal(again));
  auto m = receive_control(*b, 5000ms);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->message_id, 11u);
  EXPECT_EQ(dc_->stats().drop_ratelimit, 4u);
}

TEST_F(DcServerTest, RouteDirectionsNameThePeersStaticKey) {
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  ASSERT_TRUE(register_node(*a, "a", true));
  ASSERT_TRUE(register_node(*b, "b", false));
  ControlMessage dir(MessageType::kDirectionRequest, 3);
  dir.add_string(AttrType::kFqdn, "a.dc.test");
  b->send(dc_ep_, b->seal(dir));
  auto rd_a = receive_control(*a);
  ASSERT_TRUE(rd_a);
  EXPECT_EQ(rd_a->get_key(AttrType::kPeerStaticKey), b->public_key());
  std::optional<ControlMessage> resp, rd_b;
  for (int i = 0; i < 2; ++i) {
    auto m = receive_control(*b);
    ASSERT_TRUE(m);
    (m->type == MessageType::kDirectionResponse ? resp : rd_b) = m;
  }
  ASSERT_TRUE(resp && rd_b);
  EXPECT_EQ(rd_b->get_key(AttrType::kPeerStaticKey), a->public_key());
  EXPECT_EQ(resp->get_key(AttrType::kPeerStaticKey), a->public_key());
}

// The Notification Server (docs/protocol.md §17.4). The NS's DC channel here is a port nobody
// answers: the DC's part is what is checked (attributes, lifetimes, the notification asked
// for, the prompt resend), not the NS's.
class DcNsTest : public DcServerTest {
 protected:
  void configure(DcConfig& c) override {
    c.ns = proto::Endpoint::parse("192.0.2.40:7400");
    c.ns_dc = {*proto::Endpoint::parse("127.0.0.1:9")};
    c.ns_key = crypto::Key{};
    c.ns_key->fill(0x42);
  }
  std::optional<ControlMessage> register_ns(TestNode& n, const std::string& name) {
    ControlMessage m(MessageType::kRegistrationRequest, 7);
    m.add_string(AttrType::kNodeName, name);
    m.add(AttrType::kNotification, {});
    return request(n, m);
  }
};

TEST_F(DcNsTest, ANodeThatAsksGetsTheNsAndTheLongerLifetimeOthersDoNot) {
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  auto ra = register_ns(*a, "a");
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->get_endpoint(AttrType::kNsAddress), proto::Endpoint::parse("192.0.2.40:7400"));
  EXPECT_EQ(ra->get_key(AttrType::kNsKey), cfg_.ns_key);
  EXPECT_EQ(ra->get_u32(AttrType::kLifetime), 3600u);
  auto rb = register_node(*b, "b", false);
  ASSERT_TRUE(rb);
  EXPECT_FALSE(rb->find(AttrType::kNsAddress));
  EXPECT_FALSE(rb->find(AttrType::kNsKey));
  EXPECT_EQ(rb->get_u32(AttrType::kLifetime), 60u);
}

TEST_F(DcNsTest, ARouteDirectionAsksTheNsAndAKeepAliveBringsItAgainAtOnce) {
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  ASSERT_TRUE(register_ns(*a, "a"));
  ASSERT_TRUE(register_node(*b, "b", false));
  ControlMessage dir(MessageType::kDirectionRequest, 3);
  dir.add_string(AttrType::kFqdn, "a.dc.test");
  b->send(dc_ep_, b->seal(dir));
  auto rd = receive_control(*a);
  ASSERT_TRUE(rd);
  ASSERT_EQ(rd->type, MessageType::kRouteDirection);
  EXPECT_EQ(dc_->stats().ns_notifications, 1u) << "only a, the node with the flag";
  // a does not answer (as if the NAT had dropped it), then its keep-alive comes.
  a->send(dc_ep_, a->seal(ControlMessage(MessageType::kKeepAlive, 4)));
  bool ack = false, again = false;
  for (int i = 0; i < 2; ++i) {
    auto m = receive_control(*a, 150ms);
    ASSERT_TRUE(m);
    ack |= m->type == MessageType::kKeepAliveAck;
    again |= m->type == MessageType::kRouteDirection && m->message_id == rd->message_id;
  }
  EXPECT_TRUE(ack);
  EXPECT_TRUE(again);
  EXPECT_EQ(dc_->stats().ns_prompt_resends, 1u);
}

TEST_F(DcServerTest, WithoutAnNsTheFlagChangesNothing) {
  auto a = node(), b = node();
  handshake(*a, 1);
  handshake(*b, 2);
  ControlMessage m(MessageType::kRegistrationRequest, 7);
  m.add_string(AttrType::kNodeName, "a");
  m.add(AttrType::kNotification, {});
  auto ra = request(*a, m);
  ASSERT_TRUE(ra);
  EXPECT_FALSE(ra->find(AttrType::kNsAddress));
  EXPECT_EQ(ra->get_u32(AttrType::kLifetime), 60u);
  ASSERT_TRUE(register_node(*b, "b", false));
  ControlMessage dir(MessageType::kDirectionRequest, 3);
  dir.add_string(AttrType::kFqdn, "a.dc.test");
  b->send(dc_ep_, b->seal(dir));
  ASSERT_TRUE(receive_control(*a));
  a->send(dc_ep_, a->seal(ControlMessage(MessageType::kKeepAlive, 4)));
  auto first = receive_control(*a, 150ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, MessageType::kKeepAliveAck);
  EXPECT_EQ(dc_->stats().ns_notifications, 0u);
  EXPECT_EQ(dc_->stats().ns_prompt_resends, 0u);
}

TEST(PrintableTest, AttackerStringsAreEscapedAndCut) {
  EXPECT_EQ(server::printable("laptop-1"), "laptop-1");
  EXPECT_EQ(server::printable(std::string("a\nb\x1b[31m\\", 9)), "a\\x0ab\\x1b[31m\\x5c");
  EXPECT_EQ(server::printable(std::string("\0\xff", 2)), "\\x00\\xff");
  std::string big(65000, 'x');
  std::string out = server::printable(big);
  EXPECT_EQ(out, std::string(64, 'x') + "...");
}

}  // namespace
}  // namespace ntm::dc
