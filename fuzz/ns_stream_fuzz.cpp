// Fuzz target: the Notification Server's parsers (docs/protocol.md §17).
//
// First byte (mode, low 2 bits):
//   0  the rest is a node's TCP byte stream, cut into chunks of (byte 1 % 64) + 1 bytes and fed
//      to proto::ns::FrameReader; the first frame goes to the NS's message 1 checks (size,
//      mac1, HandshakeResponder) with the fixed NS key, later ones to parse_sealed_header and
//      Session::open with fixed keys, then decode_message
//   1  the rest is a sequence of plaintexts (length byte ‖ bytes) sealed with the fixed keys:
//      the path behind a valid AEAD (decode_message on whatever a peer could seal)
//   2  the rest is a DC request (as::AdminMessage::decode) answered by NsServer::
//      handle_dc_request for a listed and an unlisted DC key
//   3  frame encoding round trip: encode_frame of the rest, read back in 1-byte chunks
//
// Invariants beyond "no crash": FrameReader never yields a frame of length 0 or above 1232 and
// yields exactly what encode_frame framed; decode_message accepts exactly 1-byte messages
// 0x01..0x03; a DC response keeps the request's id and op | 0x80, and an unlisted key gets
// status 1; a node without a connection is never reported as notified.
#include <asio/io_context.hpp>
#include <cstdint>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "fuzz_support.h"
#include "ns/ns_server.h"
#include "proto/ns_wire.h"

using namespace ntm;

namespace {

struct World {
  World() {
    ns_key.private_key = fuzz::fixed_key(fuzz::kDcStatic);
    crypto_scalarmult_base(ns_key.public_key.data(), ns_key.private_key.data());
    dc.fill(8);
    stranger.fill(9);
    cfg.dc_keys = {dc};
    server = std::make_unique<ns::NsServer>(io, cfg, ns_key);
  }
  asio::io_context io;
  ns::NsConfig cfg;
  crypto::StaticKeyPair ns_key;
  crypto::Key dc{}, stranger{};
  std::unique_ptr<ns::NsServer> server;
};

World& world() {
  static World w;
  return w;
}

void check_message(proto::ByteView plain) {
  auto m = proto::ns::decode_message(plain);
  FUZZ_CHECK(m.has_value() == (plain.size() == 1 && plain[0] >= 1 && plain[0] <= 3));
}

void stream(const uint8_t* data, size_t size) {
  if (size < 1) return;
  size_t chunk = data[0] % 64 + 1;
  proto::ByteView rest(data + 1, size - 1);
  World& w = world();
  proto::ns::FrameReader reader;
  crypto::HandshakeResponder responder(w.ns_key.private_key);
  crypto::CookieChecker macs(w.ns_key.public_key);
  crypto::Key k1 = fuzz::fixed_key(fuzz::kSessionKey), k2 = fuzz::fixed_key(fuzz::kNodeAStatic);
  crypto::Session session(k2, k1, 1);
  size_t frames = 0;
  while (!rest.empty()) {
    proto::ByteView piece = rest.first(std::min(chunk, rest.size()));
    rest = rest.subspan(piece.size());
    while (!piece.empty()) {
      size_t used = 0;
      auto st = reader.next(piece, used);
      FUZZ_CHECK(used <= piece.size());
      piece = piece.subspan(used);
      if (st == proto::ns::FrameReader::Status::kError) return;
      if (st != proto::ns::FrameReader::Status::kFrame) {
        FUZZ_CHECK(piece.empty());
        continue;
      }
      const proto::Bytes& f = reader.frame();
      FUZZ_CHECK(!f.empty() && f.size() <= proto::ns::kMaxFramePayload);
      if (frames++ == 0) {
        if (f.size() == proto::kHandshakeInitSize && macs.check_mac1(f)) {
          proto::Bytes response;
          if (auto r = responder.consume_init(f, 7, response))
            FUZZ_CHECK(response.size() == proto::kHandshakeRespSize);
        }
        continue;
      }
      crypto::SealedHeader h;
      if (!crypto::parse_sealed_header(f, h)) continue;
      proto::Bytes plain(f.size() - proto::kSealedOverhead);
      if (session.open(h, f, plain.data()) == crypto::Session::OpenStatus::kOk)
        check_message(plain);
    }
  }
}

void sealed(const uint8_t* data, size_t size) {
  crypto::Key k1 = fuzz::fixed_key(fuzz::kSessionKey), k2 = fuzz::fixed_key(fuzz::kNodeAStatic);
  crypto::Session node(k1, k2, 5), ns(k2, k1, 6);
  size_t at = 0;
  while (at < size) {
    size_t len = data[at++];
    len = std::min(len, size - at);
    proto::ByteView plain(data + at, len);
    at += len;
    proto::Bytes packet(len + proto::kSealedOverhead);
    FUZZ_CHECK(node.seal(proto::PacketType::kControl, plain, packet.data()) ==
               crypto::Session::SealStatus::kOk);
    proto::Bytes framed = proto::ns::encode_frame(packet);
    if (packet.size() > proto::ns::kMaxFramePayload) {
      FUZZ_CHECK(framed.empty());
      continue;
    }
    uint8_t hdr[2] = {framed[0], framed[1]};
    FUZZ_CHECK(proto::ns::parse_frame_length(hdr) == packet.size());
    crypto::SealedHeader h;
    FUZZ_CHECK(crypto::parse_sealed_header(packet, h));
    proto::Bytes out(len);
    FUZZ_CHECK(ns.open(h, packet, out.data()) == crypto::Session::OpenStatus::kOk);
    FUZZ_CHECK(std::equal(out.begin(), out.end(), plain.begin()));
    check_message(out);
  }
}

void dc_request(const uint8_t* data, size_t size) {
  auto m = as::AdminMessage::decode(proto::ByteView(data, size));
  if (!m || m->is_response()) return;
  World& w = world();
  uint64_t sent = w.server->stats().notifications;
  auto r = w.server->handle_dc_request(w.dc, *m);
  FUZZ_CHECK(r.id == m->id && r.op == (m->op | 0x80));
  FUZZ_CHECK(r.status != as::AdminStatus::kOk);  // no node is connected in this world
  FUZZ_CHECK(!r.encode().empty());
  auto s = w.server->handle_dc_request(w.stranger, *m);
  FUZZ_CHECK(s.status == as::AdminStatus::kNotAuthorized);
  FUZZ_CHECK(w.server->stats().notifications == sent);
}

void round_trip(const uint8_t* data, size_t size) {
  proto::ByteView payload(data, size);
  proto::Bytes f = proto::ns::encode_frame(payload);
  if (size == 0 || size > proto::ns::kMaxFramePayload) {
    FUZZ_CHECK(f.empty());
    return;
  }
  proto::ns::FrameReader reader;
  bool done = false;
  for (size_t i = 0; i < f.size(); ++i) {
    size_t used = 0;
    auto st = reader.next(proto::ByteView(&f[i], 1), used);
    FUZZ_CHECK(used == 1 && st != proto::ns::FrameReader::Status::kError);
    if (st == proto::ns::FrameReader::Status::kFrame) {
      FUZZ_CHECK(i + 1 == f.size());
      FUZZ_CHECK(
          std::equal(reader.frame().begin(), reader.frame().end(), payload.begin(), payload.end()));
      done = true;
    }
  }
  FUZZ_CHECK(done);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  if (size < 1) return 0;
  switch (data[0] & 3) {
    case 0:
      stream(data + 1, size - 1);
      break;
    case 1:
      sealed(data + 1, size - 1);
      break;
    case 2:
      dc_request(data + 1, size - 1);
      break;
    default:
      round_trip(data + 1, size - 1);
  }
  return 0;
}
