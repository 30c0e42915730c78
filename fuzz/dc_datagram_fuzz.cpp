// Fuzz target: the Direction Coordinator as a whole, through its public interface only — a real
// DcServer on 127.0.0.1 port 0 fed datagrams from two node sockets on the same machine.
//
// 1. a fresh DC (fixed key, tiny vIP pools so exhaustion is reachable) per input
// 2. the input is a list of operations (dc_ops.h): raw datagrams, control messages sealed with
//    the node's real session (so the fuzzer's bytes reach the TLV decoder, registration,
//    keep-alive and direction handling), replays, new handshakes, NAT rebinding
// 3. after each operation the DC's io_context runs until idle, and everything the DC sent to
//    the nodes is read back: handshake responses complete the node's handshake (early data in
//    message 1 reaches the DC's control message decoder through the handshake), route
//    directions are acknowledged as a node would
//
// Invariants beyond "no crash": a genuine handshake is always answered and completes; every
// control packet the DC sends opens with the node's session, exactly once, and decodes.
// (A raw 148-byte handshake initiation from the input could be a recorded genuine one that
// replaces a node's session; those inputs skip the session checks.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "common/server_cert.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "dc/dc_server.h"
#include "dc_ops.h"
#include "fuzz_support.h"
#include "proto/control_message.h"

using namespace ntm;
using proto::Bytes;
namespace ops = fuzz::dc_ops;

namespace {

constexpr size_t kMaxOps = 64;
constexpr size_t kMaxDatagram = 4096;

struct Node {
  crypto::Key priv{};
  uint32_t local_index = 0;
  int fd = -1;
  std::unique_ptr<crypto::HandshakeInitiator> handshake;
  std::unique_ptr<crypto::CookieGenerator> cookies;
  bool awaiting_response = false;
  std::unique_ptr<crypto::Session> session;
  /// The sessions before the last handshakes (newest first, at most 4): the DC keeps using
  /// its confirmed one until a newer one is confirmed by a packet under it (docs/protocol.md
  /// §3.7), and handshakes the input makes need not confirm theirs.
  std::vector<std::unique_ptr<crypto::Session>> previous;
  Bytes last;  // the last datagram sent, for kReplay

  ~Node() {
    if (fd >= 0) ::close(fd);
  }
  void open_socket() {
    if (fd >= 0) ::close(fd);
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    FUZZ_CHECK(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
};

class Harness {
 public:
  Harness() {
    dc::DcConfig cfg;
    cfg.listen = {"127.0.0.1:0"};
    cfg.domain = ops::kDomain;
    cfg.vip4_pool = server::Cidr::parse("100.64.0.0/29");    // 6 addresses
    cfg.vip6_pool = server::Cidr::parse("fd00:6e74::/125");  // 7 addresses
    cfg.registration_lifetime_s = 60;
    crypto::StaticKeyPair key{fuzz::fixed_key(fuzz::kDcStatic), {}};
    key.public_key = crypto::public_key(key.private_key);
    // DC⇄DC signaling on (docs/protocol.md §16), so raw packets of types 0x0E-0x12 reach its
    // parsers and a direction request for another zone starts a lookup: the resolver is a
    // closed loopback port, so it fails at once (ICMP port unreachable), never waits.
    std::array<uint8_t, 32> seed{};
    seed.fill(0x5a);
    server::SignKey as_key = server::sign_key_from_seed(seed);
    server::ServerCert cert;
    cert.name = ops::kDomain;
    cert.static_key = key.public_key;
    cert.not_before = 0;
    cert.not_after = ~0ull >> 1;
    cfg.dc_cert = server::sign_cert(cert, as_key);
    cfg.trusted_as = {server::verify_key_of(as_key)};
    cfg.resolvers = {*proto::Endpoint::parse("127.0.0.1:9")};
    dc_ = std::make_unique<dc::DcServer>(io_, cfg, key);
    FUZZ_CHECK(dc_->open());
    dc_endpoint_ = dc_->local_endpoints().at(0);
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      n.priv = fuzz::fixed_key(i == 0 ? fuzz::kNodeAStatic : fuzz::kNodeBStatic);
      n.local_index = 0x1000 + uint32_t(i);
      n.handshake = std::make_unique<crypto::HandshakeInitiator>(n.priv, key.public_key);
      n.cookies = std::make_unique<crypto::CookieGenerator>(key.public_key);
      n.open_socket();
    }
  }

  void run(const uint8_t* data, size_t size) {
    size_t pos = 0;
    for (size_t count = 0; pos < size && count < kMaxOps; ++count) {
      uint8_t code = data[pos++];
      Node& n = nodes_[(code & ops::kNodeB) ? 1 : 0];
      uint8_t op = (code & 0x07) % ops::kOps;
      proto::ByteView body;
      if (op == ops::kRaw || op == ops::kSealed || op == ops::kSealedSelf || op == ops::kEarly) {
        size_t len = 0;
        if (pos + 2 <= size) len = size_t(data[pos]) << 8 | data[pos + 1];
        pos = std::min(pos + 2, size);
        len = std::min({len, size - pos, kMaxDatagram});
        body = proto::ByteView(data + pos, len);
        pos += len;
      }
      switch (op) {
        case ops::kRaw:
          if (body.size() == proto::kHandshakeInitSize &&
              body[0] == uint8_t(proto::PacketType::kHandshakeInit))
            raw_initiation_ = true;
          send(n, Bytes(body.begin(), body.end()));
          break;
        case ops::kSealed:
          send_sealed(n, body);
          break;
        case ops::kSealedSelf: {
          proto::ControlMessage self;
          self.add_endpoint(proto::AttrType::kRealAddress, local_endpoint(n));
          Bytes plain(body.begin(), body.end());
          Bytes tlv = self.encode();
          plain.insert(plain.end(), tlv.begin() + proto::kControlHeaderSize, tlv.end());
          send_sealed(n, plain);
          break;
        }
        case ops::kReplay:
          if (!n.last.empty()) send(n, n.last);
          break;
        case ops::kHandshake:
          handshake(n);
          break;
        case ops::kEarly:
          handshake(n, body);
          break;
        case ops::kMove:
          n.open_socket();
          break;
      }
      pump();
    }
  }

  /// With NTM_FUZZ_VERBOSE set: what the input made the DC do (to check a seed does what it says).
  void report() const {
    const dc::DcStats& s = dc_->stats();
    std::fprintf(stderr,
                 "dc: handshakes=%llu registrations=%llu directions=%llu route_direction_acks=%d "
                 "drops: malformed=%llu handshake=%llu unknown_session=%llu auth=%llu "
                 "replay=%llu\n",
                 (unsigned long long)s.handshakes, (unsigned long long)s.registrations,
                 (unsigned long long)s.directions, acks_sent_, (unsigned long long)s.drop_malformed,
                 (unsigned long long)s.drop_handshake, (unsigned long long)s.drop_unknown_session,
                 (unsigned long long)s.drop_auth, (unsigned long long)s.drop_replay);
  }

 private:
  void send(Node& n, const Bytes& d) {
    n.last = d;
    ::sendto(n.fd, d.data(), d.size(), 0, dc_endpoint_.sa(), dc_endpoint_.sa_len());
  }

  static proto::Endpoint local_endpoint(const Node& n) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    FUZZ_CHECK(::getsockname(n.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }

  void send_sealed(Node& n, proto::ByteView plain) {
    if (!n.session) handshake(n);
    if (!n.session) return;
    Bytes packet(plain.size() + proto::kSealedOverhead);
    if (n.session->seal(proto::PacketType::kControl, plain, packet.data()) ==
        crypto::Session::SealStatus::kExhausted)
      return;
    send(n, packet);
  }

  void handshake(Node& n, proto::ByteView early = {}) {
    n.awaiting_response = true;
    Bytes init = n.handshake->create_init(n.local_index, early);
    n.cookies->add_macs(init);
    send(n, init);
    pump();
    FUZZ_CHECK(!n.awaiting_response || raw_initiation_);  // a genuine initiation is answered
    n.awaiting_response = false;
  }

  /// Runs the DC until it is idle and reads what it sent back to the nodes.
  void pump() {
    for (int round = 0; round < 32; ++round) {
      size_t handlers = io_.poll();
      if (io_.stopped()) io_.restart();
      bool received = false;
      for (Node& n : nodes_) received |= drain(n);
      if (!handlers && !received) return;
    }
  }

  bool drain(Node& n) {
    bool any = false;
    for (;;) {
      ssize_t len = ::recv(n.fd, buf_, sizeof buf_, MSG_DONTWAIT);
      if (len < 0) return any;
      any = true;
      on_from_dc(n, proto::ByteView(buf_, size_t(len)));
    }
  }

  void on_from_dc(Node& n, proto::ByteView d) {
    FUZZ_CHECK(!d.empty());
    if (d[0] == uint8_t(proto::PacketType::kHandshakeResp)) {
      if (!n.awaiting_response) return;  // the answer to an initiation from the input
      auto r = n.handshake->consume_response(d);
      FUZZ_CHECK(r || raw_initiation_);
      if (!r) return;
      if (n.session) n.previous.insert(n.previous.begin(), std::move(n.session));
      if (n.previous.size() > 4) n.previous.pop_back();
      n.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
      n.awaiting_response = false;
      return;
    }
    if (d[0] == uint8_t(proto::PacketType::kCookieReply)) {  // only under load
      FUZZ_CHECK(d.size() == crypto::kCookieReplySize);
      n.cookies->consume_reply(d);
      return;
    }
    FUZZ_CHECK(d[0] == uint8_t(proto::PacketType::kControl));
    crypto::SealedHeader h;
    FUZZ_CHECK(crypto::parse_sealed_header(d, h));
    FUZZ_CHECK(h.receiver_index == n.local_index);
    if (!n.session) {
      FUZZ_CHECK(raw_initiation_);
      return;
    }
    Bytes plain(d.size() - proto::kSealedOverhead);
    auto st = n.session->open(h, d, plain.data());
    for (size_t i = 0; st == crypto::Session::OpenStatus::kAuthFailed && i < n.previous.size(); ++i)
      st = n.previous[i]->open(h, d, plain.data());
    if (raw_initiation_ && st != crypto::Session::OpenStatus::kOk) return;
    FUZZ_CHECK(st == crypto::Session::OpenStatus::kOk);
    proto::DecodeError err;
    auto m = proto::ControlMessage::decode(plain, err);
    FUZZ_CHECK(m);
    if (m->type == proto::MessageType::kRouteDirection ||
        m->type == proto::MessageType::kPathChallenge) {  // as a node: answer it
      proto::ControlMessage ack(proto::MessageType::kRouteDirectionAck, m->message_id);
      if (m->type == proto::MessageType::kPathChallenge) {
        ack = proto::ControlMessage(proto::MessageType::kPathResponse, m->message_id);
        if (auto token = m->get_fixed<8>(proto::AttrType::kPathToken))
          ack.add(proto::AttrType::kPathToken, *token);
      }
      Bytes p = ack.encode();
      Bytes packet(p.size() + proto::kSealedOverhead);
      n.session->seal(proto::PacketType::kControl, p, packet.data());
      ::sendto(n.fd, packet.data(), packet.size(), 0, dc_endpoint_.sa(), dc_endpoint_.sa_len());
      ++acks_sent_;
    }
  }

  asio::io_context io_;
  std::unique_ptr<dc::DcServer> dc_;  // destroyed before io_
  proto::Endpoint dc_endpoint_;
  Node nodes_[2];
  bool raw_initiation_ = false;
  int acks_sent_ = 0;
  uint8_t buf_[65536];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  fuzz::deterministic_randomness();
  auto h = std::make_unique<Harness>();
  h->run(data, size);
  static const bool verbose = std::getenv("NTM_FUZZ_VERBOSE") != nullptr;
  if (verbose) h->report();
  return 0;
}
