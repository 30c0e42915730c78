// The DC as DC_CN (servers/dc/peer_dc.cpp, docs/protocol.md §16): a hand-made peer DC on a
// loopback socket asks for the certificate, makes the DC⇄DC keys and sends NTM information
// requests, byte by byte as §16 writes them. What no other DC may do: make a session without
// a certificate a trusted AS signed, or direct one of this DC's nodes on behalf of a name
// outside its own zone.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <chrono>

#include "common/server_cert.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/relay_auth.h"
#include "crypto/session.h"
#include "dc/dc_server.h"
#include "printers.h"
#include "proto/control_message.h"
#include "proto/relay.h"

namespace ntm::dc {
namespace {

using namespace std::chrono_literals;
using proto::AttrType;
using proto::Bytes;
using proto::ControlMessage;
using proto::MessageType;

/// A UDP socket on 127.0.0.1 that plays a node or a peer DC.
struct Socket {
  Socket() {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Socket() { ::close(fd); }
  proto::Endpoint endpoint() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  void send(const proto::Endpoint& to, const Bytes& d) {
    ::sendto(fd, d.data(), d.size(), 0, to.sa(), to.sa_len());
  }
  std::optional<Bytes> try_receive() {
    uint8_t buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return Bytes(buf, buf + n);
  }
  int fd = -1;
};

Bytes seal(crypto::Session& s, proto::PacketType type, const ControlMessage& m) {
  Bytes plain = m.encode(), out(plain.size() + proto::kSealedOverhead);
  s.seal(type, plain, out.data());
  return out;
}

std::optional<ControlMessage> open(crypto::Session& s, const Bytes& packet) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(packet, h)) return std::nullopt;
  Bytes plain(packet.size() - proto::kSealedOverhead);
  if (s.open(h, packet, plain.data()) != crypto::Session::OpenStatus::kOk) return std::nullopt;
  proto::DecodeError err;
  return ControlMessage::decode(plain, err);
}

class PeerDcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    spdlog::set_level(spdlog::level::off);
    std::array<uint8_t, 32> seed{};
    seed.fill(7);
    as_ = server::sign_key_from_seed(seed);
    key_.private_key = crypto::random_private_key();
    key_.public_key = crypto::public_key(key_.private_key);
    cfg_.listen = {"127.0.0.1:0"};
    cfg_.domain = "dc1.test";
    cfg_.vip4_pool = server::Cidr::parse("100.64.1.0/24");
    cfg_.dc_cert = cert_for("dc1.test", key_.public_key, as_);
    cfg_.trusted_as = {server::verify_key_of(as_)};
    cfg_.resolvers = {*proto::Endpoint::parse("127.0.0.1:9")};
    dc_ = std::make_unique<DcServer>(io_, cfg_, key_);
    ASSERT_TRUE(dc_->open());
    dc_ep_ = dc_->local_endpoints().at(0);
  }

  static Bytes cert_for(const std::string& zone, const crypto::Key& key,
                        const server::SignKey& signer) {
    server::ServerCert c;
    c.name = zone;
    c.static_key = key;
    c.not_before = uint64_t(time(nullptr)) - 60;
    c.not_after = c.not_before + 3600;
    return server::sign_cert(c, signer);
  }

  std::optional<Bytes> receive(Socket& s, std::chrono::milliseconds wait = 500ms) {
    auto end = std::chrono::steady_clock::now() + wait;
    do {
      io_.run_for(2ms);
      if (auto d = s.try_receive()) return d;
    } while (std::chrono::steady_clock::now() < end);
    return std::nullopt;
  }

  /// A node of dc1.test, registered, with its control session.
  struct Node {
    Socket sock;
    std::unique_ptr<crypto::Session> session;
    crypto::Key key{};
  };
  /// `real`: the address the node registers as its own (default: its socket, so the DC sees
  /// it un-NATed; another address makes the DC see it behind NAT).
  void register_node(Node& n, const std::string& name,
                     std::optional<proto::Endpoint> real = std::nullopt) {
    crypto::Key priv = crypto::random_private_key();
    n.key = crypto::public_key(priv);
    crypto::HandshakeInitiator hs(priv, key_.public_key);
    crypto::CookieGenerator cookies(key_.public_key);
    Bytes init = hs.create_init(0x77);
    cookies.add_macs(init);
    n.sock.send(dc_ep_, init);
    auto resp = receive(n.sock);
    ASSERT_TRUE(resp);
    auto r = hs.consume_response(*resp);
    ASSERT_TRUE(r);
    n.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    ControlMessage reg(MessageType::kRegistrationRequest, 1);
    reg.add_string(AttrType::kNodeName, name);
    reg.add_endpoint(AttrType::kRealAddress, real.value_or(n.sock.endpoint()));
    n.sock.send(dc_ep_, seal(*n.session, proto::PacketType::kControl, reg));
    auto ans = receive(n.sock);
    ASSERT_TRUE(ans);
    auto m = open(*n.session, *ans);
    ASSERT_TRUE(m && m->type == MessageType::kRegistrationResponse);
  }

  /// The peer DC's side: hello → certificate; key distribution with `cert` → session.
  std::unique_ptr<crypto::Session> peer_session(Socket& peer, const crypto::Key& priv,
                                                const Bytes& cert) {
    Bytes hello(kDcHelloSize, 0);
    hello[0] = uint8_t(proto::PacketType::kDcHello);
    hello[4] = uint8_t(cfg_.domain.size());
    std::copy(cfg_.domain.begin(), cfg_.domain.end(), hello.begin() + 5);
    peer.send(dc_ep_, hello);
    auto answer = receive(peer);
    EXPECT_TRUE(answer) << "no certificate for the hello";
    if (!answer) return nullptr;
    EXPECT_EQ((*answer)[0], uint8_t(proto::PacketType::kDcCertificate));
    server::ServerCert theirs;
    EXPECT_EQ(server::verify_cert(proto::ByteView(*answer).subspan(4), cfg_.trusted_as,
                                  uint64_t(time(nullptr)), &theirs),
              server::CertError::kOk);
    EXPECT_EQ(theirs.static_key, key_.public_key);
    crypto::HandshakeInitiator hs(priv, theirs.static_key, crypto::kDcDcHandshake);
    crypto::CookieGenerator cookies(theirs.static_key);
    Bytes init = hs.create_init(0x5151, cert);
    cookies.add_macs(init);
    peer.send(dc_ep_, init);
    auto resp = receive(peer);
    if (!resp) return nullptr;
    auto r = hs.consume_response(*resp);
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    return std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  }

  ControlMessage info_request(const std::string& cn, const std::string& mn, uint32_t id,
                              const std::string& mn_real = "127.0.0.1:4444") {
    ControlMessage m(MessageType::kNtmInfoRequest, id);
    m.add_string(AttrType::kFqdn, cn);
    m.add_u32(AttrType::kDirectionId, 0x1235);
    crypto::Key t;
    t.fill(0x42);
    m.add(AttrType::kTemporalKey, t);
    m.add_string(AttrType::kPeerFqdn, mn);
    crypto::Key k;
    k.fill(0x33);
    m.add(AttrType::kPeerStaticKey, k);
    const uint8_t vip[4] = {100, 64, 2, 9};
    m.add(AttrType::kPeerVip4, proto::ByteView(vip, 4));
    auto nat = *proto::Endpoint::parse("127.0.0.1:4444");
    m.add_endpoint(AttrType::kNatAddress, nat);
    m.add_endpoint(AttrType::kRealAddress, *proto::Endpoint::parse(mn_real));
    return m;
  }

  asio::io_context io_;
  server::SignKey as_{};
  crypto::StaticKeyPair key_;
  DcConfig cfg_;
  std::unique_ptr<DcServer> dc_;
  proto::Endpoint dc_ep_;
};

TEST_F(PeerDcTest, AnInfoRequestDirectsTheNodeAndAnswersWithItsData) {
  Node alpha;
  register_node(alpha, "alpha");
  Socket peer;
  crypto::Key peer_priv = crypto::random_private_key();
  auto s = peer_session(peer, peer_priv, cert_for("dc2.test", crypto::public_key(peer_priv), as_));
  ASSERT_TRUE(s) << "no key distribution ack";
  peer.send(dc_ep_, seal(*s, proto::PacketType::kDcControl,
                         info_request("ALPHA.dc1.test", "beta.dc2.test", 9)));
  auto answer = receive(peer);
  ASSERT_TRUE(answer);
  auto m = open(*s, *answer);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, MessageType::kNtmInfoResponse);
  EXPECT_EQ(m->message_id, 9u);
  EXPECT_EQ(m->get_string(AttrType::kFqdn), "alpha.dc1.test");
  EXPECT_EQ(m->get_key(AttrType::kPeerStaticKey), alpha.key);
  EXPECT_TRUE(m->get_fixed<4>(AttrType::kPeerVip4));
  // The CN heard of it from its own DC: a route direction naming the MN, with the peer DC's
  // direction ID and temporal key, and the CN as the initiator.
  auto rd_packet = receive(alpha.sock);
  ASSERT_TRUE(rd_packet);
  auto rd = open(*alpha.session, *rd_packet);
  ASSERT_TRUE(rd);
  ASSERT_EQ(rd->type, MessageType::kRouteDirection);
  EXPECT_EQ(rd->get_string(AttrType::kPeerFqdn), "beta.dc2.test");
  EXPECT_EQ(rd->get_u32(AttrType::kDirectionId), 0x1235u);
  EXPECT_EQ(rd->get_u8(AttrType::kRole), uint8_t(proto::Role::kInitiator));
  crypto::Key t;
  t.fill(0x42);
  EXPECT_EQ(rd->get_key(AttrType::kTemporalKey), t);
  // A retransmission of the request is answered from the cache, not directed again.
  uint64_t directions = dc_->stats().directions;
  auto again = info_request("alpha.dc1.test", "beta.dc2.test", 9);
  peer.send(dc_ep_, seal(*s, proto::PacketType::kDcControl, again));
  ASSERT_TRUE(receive(peer));
  EXPECT_EQ(dc_->stats().directions, directions);
}

// A relay that stopped answering the MN (FailedRelay in its direction request) travels in the
// NTM information request (docs/protocol.md §16.4): DC_CN chooses the relay, so DC_CN must
// avoid it until it answers a status request sent after the report (§12).
TEST_F(PeerDcTest, AFailedRelayInTheInfoRequestIsNotGrantedAgain) {
  Socket relay;
  crypto::Key relay_key;
  relay_key.fill(0x5A);
  crypto::RelayKeys relay_keys(relay_key);
  cfg_.relay_endpoints = {{relay.endpoint()}};
  cfg_.relay_key = relay_key;
  cfg_.relay_check_interval_ms = 100;
  dc_ = std::make_unique<DcServer>(io_, cfg_, key_);
  ASSERT_TRUE(dc_->open());
  dc_ep_ = dc_->local_endpoints().at(0);
  // The relay answers every status request of the DC at once (it is alive throughout).
  int answered = 0;
  auto pump = [&] {
    io_.run_for(2ms);
    while (auto d = relay.try_receive()) {
      proto::RelayStatusRequest r;
      if (!proto::parse_relay_status_request(*d, r)) continue;
      relay.send(dc_ep_, relay_keys.make_status(r.sequence, 0, 0));
      ++answered;
    }
  };
  for (int i = 0; i < 2500 && answered < 2; ++i) pump();  // bounded: 5 s
  ASSERT_GE(answered, 2) << "the DC sent no status requests to the relay";
  // Both nodes behind NAT (real address != the address the DC sees): the path needs a relay.
  Node alpha;
  register_node(alpha, "alpha", proto::Endpoint::parse("10.1.1.1:5000"));
  Socket peer;
  crypto::Key peer_priv = crypto::random_private_key();
  auto s = peer_session(peer, peer_priv, cert_for("dc2.test", crypto::public_key(peer_priv), as_));
  ASSERT_TRUE(s);
  // DC_CN's answer to an information request: the relay it grants the MN, if any.
  auto relay_in = [&](uint32_t id, std::optional<proto::Endpoint> failed) {
    auto req = info_request("alpha.dc1.test", "beta.dc2.test", id, "10.2.2.2:5000");
    if (failed) req.add_endpoint(AttrType::kFailedRelay, *failed);
    peer.send(dc_ep_, seal(*s, proto::PacketType::kDcControl, req));
    std::optional<Bytes> answer;
    for (int i = 0; i < 2500 && !answer; ++i) {  // bounded: 5 s
      pump();
      answer = peer.try_receive();
    }
    EXPECT_TRUE(answer) << "no answer to information request " << id;
    if (!answer) return std::optional<proto::Endpoint>();
    auto m = open(*s, *answer);
    EXPECT_TRUE(m && m->type == MessageType::kNtmInfoResponse);
    return m ? m->get_endpoint(AttrType::kRelayEndpoint) : std::nullopt;
  };
  EXPECT_EQ(relay_in(9, std::nullopt), relay.endpoint()) << "the relay is granted while alive";
  EXPECT_EQ(relay_in(10, relay.endpoint()), std::nullopt)
      << "the MN reported the relay failed: DC_CN must not grant it";
  // Once the relay answers a status request sent after the report, it is granted again.
  std::optional<proto::Endpoint> again;
  for (uint32_t id = 11; id < 60 && again != relay.endpoint(); ++id) {
    for (int i = 0; i < 50; ++i) pump();
    again = relay_in(id, std::nullopt);
  }
  EXPECT_EQ(again, relay.endpoint());
}

TEST_F(PeerDcTest, APeerDcCannotSpeakForANameOutsideItsZone) {
  Node alpha;
  register_node(alpha, "alpha");
  Socket peer;
  crypto::Key peer_priv = crypto::random_private_key();
  auto s = peer_session(peer, peer_priv, cert_for("dc2.test", crypto::public_key(peer_priv), as_));
  ASSERT_TRUE(s);
  // Certified for dc2.test, it claims an MN of dc3.test: refused, and alpha hears nothing.
  peer.send(dc_ep_, seal(*s, proto::PacketType::kDcControl,
                         info_request("alpha.dc1.test", "mallory.dc3.test", 10)));
  auto answer = receive(peer);
  ASSERT_TRUE(answer);
  auto m = open(*s, *answer);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, MessageType::kError);
  EXPECT_EQ(m->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kTunnelRefused));
  EXPECT_FALSE(receive(alpha.sock, 300ms)) << "the node was directed on a refused request";
  // Unknown names of its own zone: error 2.
  peer.send(dc_ep_, seal(*s, proto::PacketType::kDcControl,
                         info_request("nobody.dc1.test", "beta.dc2.test", 11)));
  auto unknown = receive(peer);
  ASSERT_TRUE(unknown);
  auto u = open(*s, *unknown);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->get_u16(AttrType::kErrorCode), uint16_t(proto::ErrorCode::kUnknownFqdn));
}

TEST_F(PeerDcTest, ADcWhoseCertificateNoTrustedAsSignedGetsNoSession) {
  Socket peer;
  crypto::Key peer_priv = crypto::random_private_key();
  std::array<uint8_t, 32> seed{};
  seed.fill(9);
  auto rogue = server::sign_key_from_seed(seed);
  EXPECT_FALSE(
      peer_session(peer, peer_priv, cert_for("dc2.test", crypto::public_key(peer_priv), rogue)));
  EXPECT_EQ(dc_->stats().drop_peer_cert, 1u);
  // A trusted certificate for another key than the one making the handshake: refused too.
  crypto::Key other = crypto::public_key(crypto::random_private_key());
  EXPECT_FALSE(peer_session(peer, peer_priv, cert_for("dc2.test", other, as_)));
  EXPECT_EQ(dc_->stats().drop_peer_cert, 2u);
  EXPECT_EQ(dc_->stats().peer_sessions, 0u);
}

TEST_F(PeerDcTest, HellosForAnotherZoneOrOfTheWrongShapeGetNothing) {
  Socket peer;
  Bytes hello(kDcHelloSize, 0);
  hello[0] = uint8_t(proto::PacketType::kDcHello);
  std::string other = "dc9.test";
  hello[4] = uint8_t(other.size());
  std::copy(other.begin(), other.end(), hello.begin() + 5);
  peer.send(dc_ep_, hello);
  Bytes short_hello(hello.begin(), hello.begin() + 100);  // amplification: never answered
  short_hello[4] = uint8_t(cfg_.domain.size());
  std::copy(cfg_.domain.begin(), cfg_.domain.end(), short_hello.begin() + 5);
  peer.send(dc_ep_, short_hello);
  EXPECT_FALSE(receive(peer, 300ms));
  EXPECT_EQ(dc_->stats().peer_hellos, 0u);
  EXPECT_EQ(dc_->stats().drop_peer + dc_->stats().drop_malformed, 2u);
}

}  // namespace
}  // namespace ntm::dc
