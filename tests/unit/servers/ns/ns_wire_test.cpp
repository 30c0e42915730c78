// The node ⇄ NS stream format (docs/protocol.md §17.1, §17.2): frame lengths at and beyond
// their bounds, a stream split at every byte, the 1-byte messages, and the documented hex
// examples of a ping and a notify frame, rebuilt with the real Session.
#include "proto/ns_wire.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "crypto/session.h"

namespace ntm::proto::ns {
namespace {

Bytes hex(const std::string& text) {
  Bytes out;
  std::istringstream in(text);
  std::string byte;
  while (in >> byte) out.push_back(uint8_t(std::stoul(byte, nullptr, 16)));
  return out;
}

TEST(NsWire, FrameLengthBounds) {
  const uint8_t zero[2] = {0, 0}, one[2] = {0, 1}, max[2] = {0x04, 0xd0}, over[2] = {0x04, 0xd1},
                huge[2] = {0xff, 0xff};
  EXPECT_FALSE(parse_frame_length(zero));
  EXPECT_EQ(parse_frame_length(one), 1u);
  EXPECT_EQ(parse_frame_length(max), 1232u);
  EXPECT_FALSE(parse_frame_length(over));
  EXPECT_FALSE(parse_frame_length(huge));
}

TEST(NsWire, EncodeFrame) {
  Bytes p = {0xaa, 0xbb, 0xcc};
  EXPECT_EQ(encode_frame(p), (Bytes{0x00, 0x03, 0xaa, 0xbb, 0xcc}));
  EXPECT_TRUE(encode_frame({}).empty());
  EXPECT_EQ(encode_frame(Bytes(1232, 7)).size(), 1234u);
  EXPECT_TRUE(encode_frame(Bytes(1233, 7)).empty());
}

TEST(NsWire, Messages) {
  EXPECT_EQ(decode_message(Bytes{1}), Message::kPing);
  EXPECT_EQ(decode_message(Bytes{2}), Message::kPong);
  EXPECT_EQ(decode_message(Bytes{3}), Message::kNotify);
  for (int b : {0, 4, 0x80, 0xff}) EXPECT_FALSE(decode_message(Bytes{uint8_t(b)})) << b;
  EXPECT_FALSE(decode_message(Bytes{}));
  EXPECT_FALSE(decode_message(Bytes{1, 0}));  // exactly one byte: no trailing bytes
}

TEST(NsWire, ReaderSplitsAStreamCutAnywhere) {
  Bytes a = encode_frame(Bytes{1, 2, 3}), b = encode_frame(Bytes(1232, 9)),
        c = encode_frame(Bytes{4});
  Bytes stream = a;
  stream.insert(stream.end(), b.begin(), b.end());
  stream.insert(stream.end(), c.begin(), c.end());
  for (size_t chunk : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(1000), stream.size()}) {
    FrameReader r;
    std::vector<Bytes> got;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      ByteView piece(stream.data() + at, std::min(chunk, stream.size() - at));
      while (!piece.empty()) {
        size_t used = 0;
        auto st = r.next(piece, used);
        ASSERT_NE(st, FrameReader::Status::kError);
        if (st == FrameReader::Status::kFrame) got.push_back(r.frame());
        piece = piece.subspan(used);
      }
    }
    ASSERT_EQ(got.size(), 3u) << chunk;
    EXPECT_EQ(got[0], (Bytes{1, 2, 3}));
    EXPECT_EQ(got[1], Bytes(1232, 9));
    EXPECT_EQ(got[2], Bytes{4});
  }
}

TEST(NsWire, ReaderRefusesZeroAndOverlongLengthsForGood) {
  for (Bytes bad : {Bytes{0, 0, 1}, Bytes{0x04, 0xd1}, Bytes{0xff, 0xff, 1, 2, 3}}) {
    FrameReader r;
    size_t used = 0;
    EXPECT_EQ(r.next(bad, used), FrameReader::Status::kError);
    EXPECT_LE(used, 2u);
    // A failed stream stays failed, whatever follows.
    Bytes good = encode_frame(Bytes{1});
    EXPECT_EQ(r.next(good, used), FrameReader::Status::kError);
    EXPECT_EQ(used, 0u);
  }
}

TEST(NsWire, ReaderShortFrameWaitsForTheRest) {
  FrameReader r;
  size_t used = 0;
  Bytes head = {0x00, 0x05, 1, 2};
  EXPECT_EQ(r.next(head, used), FrameReader::Status::kNeedMore);
  EXPECT_EQ(used, 4u);
  Bytes rest = {3, 4, 5, 0x00};  // the frame's last 3 bytes and the next frame's first
  EXPECT_EQ(r.next(rest, used), FrameReader::Status::kFrame);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(r.frame(), (Bytes{1, 2, 3, 4, 5}));
}

// docs/protocol.md §17.2: k1 = 0x00..0x1f (node → NS), k2 = 0x20..0x3f (NS → node), the NS's
// index 0x0a0b0c0d, the node's index 0x01020304; the node's first packet (counter 0) is a
// ping, the NS's first two (counters 0, 1) are a pong and a notify.
struct Keys {
  crypto::Key k1, k2;
  Keys() {
    for (int i = 0; i < 32; ++i) {
      k1[i] = uint8_t(i);
      k2[i] = uint8_t(0x20 + i);
    }
  }
};

Bytes sealed_frame(crypto::Session& s, Message m) {
  uint8_t plain = uint8_t(m), out[kSealedMessageSize];
  EXPECT_EQ(s.seal(PacketType::kControl, ByteView(&plain, 1), out),
            crypto::Session::SealStatus::kOk);
  return encode_frame(ByteView(out, sizeof out));
}

std::string doc_block(const std::string& name) {
  std::ifstream in(NTM_PROTOCOL_MD);
  std::string line, body;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "```hex ns-example=" + name) {
      inside = true;
      continue;
    }
    if (inside && line == "```") break;
    if (inside) body += line + " ";
  }
  return body;
}

TEST(NsWire, DocumentedPingAndNotifyFrames) {
  Keys k;
  crypto::Session node(k.k1, k.k2, 0x0a0b0c0d), ns(k.k2, k.k1, 0x01020304);
  Bytes ping = sealed_frame(node, Message::kPing);
  Bytes pong = sealed_frame(ns, Message::kPong);
  Bytes notify = sealed_frame(ns, Message::kNotify);
  ASSERT_EQ(ping.size(), kSealedFrameSize);
  Bytes doc_ping = hex(doc_block("ping")), doc_notify = hex(doc_block("notify"));
  EXPECT_EQ(ping, doc_ping);
  EXPECT_EQ(notify, doc_notify);
  // The NS's side opens the ping; the node's side opens the notify.
  crypto::SealedHeader h;
  ByteView ping_packet(doc_ping.data() + 2, doc_ping.size() - 2);
  ASSERT_TRUE(crypto::parse_sealed_header(ping_packet, h));
  uint8_t plain[1];
  ASSERT_EQ(ns.open(h, ping_packet, plain), crypto::Session::OpenStatus::kOk);
  EXPECT_EQ(decode_message(ByteView(plain, 1)), Message::kPing);
  ByteView pong_packet(pong.data() + 2, pong.size() - 2),
      notify_packet(doc_notify.data() + 2, doc_notify.size() - 2);
  ASSERT_TRUE(crypto::parse_sealed_header(pong_packet, h));
  ASSERT_EQ(node.open(h, pong_packet, plain), crypto::Session::OpenStatus::kOk);
  EXPECT_EQ(decode_message(ByteView(plain, 1)), Message::kPong);
  ASSERT_TRUE(crypto::parse_sealed_header(notify_packet, h));
  ASSERT_EQ(node.open(h, notify_packet, plain), crypto::Session::OpenStatus::kOk);
  EXPECT_EQ(decode_message(ByteView(plain, 1)), Message::kNotify);
}

}  // namespace
}  // namespace ntm::proto::ns
