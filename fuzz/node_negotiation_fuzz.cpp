// Fuzz target: a node's negotiation module (negotiation::Negotiator) — everything a node does
// with control datagrams: its DC link (handshake responses, cookie replies, sealed control
// packets), the requests its DC sends it (route directions, path challenges) and the tunnel
// handshakes anybody can send to its UDP port.
//
// Set-up, once per process: a Negotiator bound to 127.0.0.1, registered with a DC played by
// this harness (a real Noise IK handshake and registration with libntm's own crypto). It is
// stateful across inputs, as a running node is; a failing input is reproduced by the corpus
// that led to it. Traffic goes only to loopback: the node's socket is bound to 127.0.0.1, so
// an endpoint from the input elsewhere cannot be reached.
//
// Input: a list of operations, each `code (u8) length (u16 BE) bytes`:
//   code % 3 == 0  the bytes arrive as a datagram from the DC's address (raw)
//   code % 3 == 1  the bytes are a control message the DC seals with the node's session and
//                  sends: they reach the TLV decoder and the handlers of DC requests
//   code % 3 == 2  the bytes arrive as a datagram from a peer's address (tunnel handshakes)
// After each operation the node's event loop runs until idle.
//
// Invariants beyond "no crash": every datagram the node sends to its DC is a handshake
// initiation with a valid mac1 or a control packet that opens under the current session and
// decodes; the harness answers registrations and keep-alives as a DC, so the node stays
// registered (an input may still make it start over, e.g. by an error for its keep-alive).
#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <memory>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "fuzz_support.h"
#include "negotiation/negotiator.h"
#include "packet/data_plane.h"
#include "proto/control_message.h"

using namespace ntm;
using proto::Bytes;

namespace {

constexpr size_t kMaxOps = 32;

class Harness {
 public:
  Harness() {
    dc_fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(::bind(dc_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(dc_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    dc_ep_ = *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), len);
    peer_ep_ = *proto::Endpoint::parse("127.0.0.1:9");  // discard: nothing listens

    std::string error;
    FUZZ_CHECK(udp_.open(proto::Endpoint::parse("127.0.0.1:0"), error));
    node_ep_ = udp_.local();
    crypto::StaticKeyPair node_key{fuzz::fixed_key(fuzz::kNodeAStatic), {}};
    node_key.public_key = crypto::public_key(node_key.private_key);
    dc_key_ = fuzz::fixed_key(fuzz::kDcStatic);
    negotiation::NegotiatorConfig cfg;
    cfg.dc_addresses = {dc_ep_};
    cfg.dc_public_key = crypto::public_key(dc_key_);
    cfg.node_name = "fuzz";
    negotiator_ =
        std::make_unique<negotiation::Negotiator>(io_, cfg, node_key, udp_, tunnels_, stats_);
    bool registered = false;
    negotiator_->start([&](bool ok, std::string) { registered = ok; });
    // Play the DC: answer the handshake, then the registration.
    for (int round = 0; round < 100 && !registered; ++round) {
      io_.poll();
      if (io_.stopped()) io_.restart();
      from_node();
      to_node();
    }
    FUZZ_CHECK(registered);
  }
  ~Harness() {
    negotiator_->shutdown();
    io_.poll();
    ::close(dc_fd_);
  }

  void run(const uint8_t* data, size_t size) {
    size_t pos = 0;
    for (size_t count = 0; pos < size && count < kMaxOps; ++count) {
      uint8_t code = data[pos++];
      size_t len = 0;
      if (pos + 2 <= size) len = size_t(data[pos]) << 8 | data[pos + 1];
      pos = std::min(pos + 2, size);
      len = std::min(len, size - pos);
      Bytes body(data + pos, data + pos + len);
      pos += len;
      if (body.empty()) continue;
      switch (code % 3) {
        case 0:
          negotiator_->on_datagram(body, dc_ep_);
          break;
        case 1:
          negotiator_->on_datagram(seal(body), dc_ep_);
          break;
        case 2:
          negotiator_->on_datagram(body, peer_ep_);
          break;
      }
      pump();
    }
  }

 private:
  Bytes seal(const Bytes& plain) {
    Bytes out(plain.size() + proto::kSealedOverhead);
    if (session_->seal(proto::PacketType::kControl, plain, out.data()) ==
        crypto::Session::SealStatus::kExhausted)
      return {};
    return out;
  }

  void pump() {
    for (int round = 0; round < 16; ++round) {
      size_t handlers = io_.poll();
      if (io_.stopped()) io_.restart();
      bool any = from_node();
      to_node();
      if (!handlers && !any) return;
    }
  }

  /// Reads what the node sent to the DC; the set-up also answers it as a DC.
  bool from_node() {
    bool any = false;
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = ::recv(dc_fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return any;
      any = true;
      proto::ByteView d(buf, size_t(n));
      if (d[0] == uint8_t(proto::PacketType::kHandshakeInit)) {
        crypto::CookieChecker cookies(crypto::public_key(dc_key_));
        FUZZ_CHECK(cookies.check_mac1(d));
        crypto::HandshakeResponder responder(dc_key_);
        auto r = responder.consume_init(d, 0xd0c00001, pending_response_);
        FUZZ_CHECK(r);
        session_ = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
        if (!r->early.empty()) answer(r->early);  // the registration request (§3.2)
        continue;
      }
      FUZZ_CHECK(d[0] == uint8_t(proto::PacketType::kControl));
      crypto::SealedHeader h;
      FUZZ_CHECK(session_ && crypto::parse_sealed_header(d, h));
      Bytes plain(d.size() - proto::kSealedOverhead);
      FUZZ_CHECK(session_->open(h, d, plain.data()) == crypto::Session::OpenStatus::kOk);
      answer(plain);
    }
  }

  /// The DC's answer to a control message from the node (sealed or early data).
  void answer(proto::ByteView plain) {
    proto::DecodeError err;
    auto m = proto::ControlMessage::decode(plain, err);
    FUZZ_CHECK(m);
    if (m->type == proto::MessageType::kRegistrationRequest) {
      proto::ControlMessage resp(proto::MessageType::kRegistrationResponse, m->message_id);
      resp.add_string(proto::AttrType::kFqdn, "fuzz.dc.fuzz");
      uint8_t vip4[4] = {100, 64, 0, 2};
      resp.add(proto::AttrType::kVip4, proto::ByteView(vip4, 4));
      resp.add_u32(proto::AttrType::kLifetime, 600);
      pending_control_.push_back(resp.encode());
    } else if (m->type == proto::MessageType::kKeepAlive) {
      proto::ControlMessage ack(proto::MessageType::kKeepAliveAck, m->message_id);
      pending_control_.push_back(ack.encode());
    }
  }

  void to_node() {
    if (!pending_response_.empty()) {
      negotiator_->on_datagram(pending_response_, dc_ep_);
      pending_response_.clear();
    }
    for (auto& plain : pending_control_) negotiator_->on_datagram(seal(plain), dc_ep_);
    pending_control_.clear();
  }

  asio::io_context io_;
  packet::UdpTransport udp_;
  packet::TunnelTable tunnels_;
  packet::Stats stats_;
  std::unique_ptr<negotiation::Negotiator> negotiator_;
  int dc_fd_ = -1;
  proto::Endpoint dc_ep_, peer_ep_, node_ep_;
  crypto::Key dc_key_{};
  std::unique_ptr<crypto::Session> session_;
  Bytes pending_response_;
  std::vector<Bytes> pending_control_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  fuzz::deterministic_randomness();
  static Harness* h = new Harness;
  h->run(data, size);
  return 0;
}
