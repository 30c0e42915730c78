// Session: sealed packets (docs/protocol.md §2) between two ends holding mirrored keys. What
// the packet paths rely on: a packet opens exactly once at the other end, whatever the network
// does to ordering; any change to header, ciphertext or tag is refused without moving the
// replay window; and the send counter never reaches the values WireGuard refuses to use.
#include "crypto/session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace ntm::crypto {
namespace {

using proto::Bytes;
using proto::PacketType;
using OpenStatus = Session::OpenStatus;
using SealStatus = Session::SealStatus;

Key filled(uint8_t v) {
  Key k;
  k.fill(v);
  return k;
}

const Key kAtoB = filled(0xab), kBtoA = filled(0xba);
constexpr uint32_t kIndexOfB = 0x0b0b0b0b, kIndexOfA = 0x0a0a0a0a;

Bytes plaintext(size_t n, uint8_t seed = 0) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(seed + i * 31);
  return p;
}

Bytes seal(Session& s, const Bytes& plain, PacketType type = PacketType::kData,
           SealStatus expected = SealStatus::kOk) {
  Bytes out(plain.size() + proto::kSealedOverhead);
  EXPECT_EQ(s.seal(type, plain, out.data()), expected);
  return out;
}

/// Parses and opens like the receive paths do; the plaintext lands in `plain`.
OpenStatus open(Session& s, const Bytes& packet, Bytes* plain = nullptr) {
  SealedHeader h;
  if (!parse_sealed_header(packet, h)) return OpenStatus::kAuthFailed;
  Bytes out(packet.size() - proto::kSealedOverhead);
  OpenStatus st = s.open(h, packet, out.data());
  if (plain) *plain = out;
  return st;
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { init(); }
  Session a_{kAtoB, kBtoA, kIndexOfB};  // sends to B with B's index
  Session b_{kBtoA, kAtoB, kIndexOfA};
};

TEST_F(SessionTest, RoundTripBothWays) {
  Bytes p1 = plaintext(100), p2 = plaintext(1420, 7);
  Bytes got;
  ASSERT_EQ(open(b_, seal(a_, p1), &got), OpenStatus::kOk);
  EXPECT_EQ(got, p1);
  ASSERT_EQ(open(a_, seal(b_, p2), &got), OpenStatus::kOk);
  EXPECT_EQ(got, p2);
  EXPECT_EQ(a_.packets_sent(), 1u);
  EXPECT_EQ(b_.packets_sent(), 1u);
  EXPECT_EQ(a_.remote_index(), kIndexOfB);
}

TEST_F(SessionTest, EmptyPlaintextRoundTrips) {
  Bytes packet = seal(a_, {});
  EXPECT_EQ(packet.size(), proto::kSealedOverhead);
  EXPECT_EQ(open(b_, packet), OpenStatus::kOk);
}

TEST_F(SessionTest, HeaderCarriesTypeReceiverIndexAndCounterBigEndian) {
  seal(a_, plaintext(3));
  seal(a_, plaintext(3));
  Bytes packet = seal(a_, plaintext(5), PacketType::kTunnelHandshake);
  ASSERT_EQ(packet.size(), 5 + proto::kSealedOverhead);
  Bytes head(packet.begin(), packet.begin() + 16);
  EXPECT_EQ(head, (Bytes{0x04, 0, 0, 0, 0x0b, 0x0b, 0x0b, 0x0b, 0, 0, 0, 0, 0, 0, 0, 2}));
  SealedHeader h;
  ASSERT_TRUE(parse_sealed_header(packet, h));
  EXPECT_EQ(h.type, PacketType::kTunnelHandshake);
  EXPECT_EQ(h.receiver_index, kIndexOfB);
  EXPECT_EQ(h.counter, 2u);
}

TEST_F(SessionTest, ParseSealedHeaderRefusesShortPacketsAndReservedBits) {
  Bytes packet = seal(a_, {});
  SealedHeader h;
  for (size_t n = 0; n < proto::kSealedOverhead; ++n)
    EXPECT_FALSE(parse_sealed_header(proto::ByteView(packet.data(), n), h)) << n << " bytes";
  EXPECT_TRUE(parse_sealed_header(packet, h));
  for (int i = 1; i <= 3; ++i) {
    Bytes bad = packet;
    bad[i] = 0x80;
    EXPECT_FALSE(parse_sealed_header(bad, h)) << "reserved byte " << i;
  }
}

TEST_F(SessionTest, SealsInPlaceAfterAReservedHeader) {
  // The data path builds "header room + inner packet" in one buffer and seals over it.
  Bytes p = plaintext(64);
  Bytes buf(proto::kSealedHeaderSize);
  buf.insert(buf.end(), p.begin(), p.end());
  buf.resize(buf.size() + proto::kTagSize);
  ASSERT_EQ(a_.seal(PacketType::kData, proto::ByteView(buf.data() + 16, p.size()), buf.data()),
            SealStatus::kOk);
  Bytes got;
  ASSERT_EQ(open(b_, buf, &got), OpenStatus::kOk);
  EXPECT_EQ(got, p);
}

TEST_F(SessionTest, ReorderInsideTheWindowAccepted) {
  std::vector<Bytes> packets;
  for (int i = 0; i < 3000; ++i) packets.push_back(seal(a_, plaintext(8, uint8_t(i))));
  for (size_t i = packets.size(); i-- > 0;) {
    Bytes got;
    ASSERT_EQ(open(b_, packets[i], &got), OpenStatus::kOk) << i;
    EXPECT_EQ(got, plaintext(8, uint8_t(i)));
  }
}

TEST_F(SessionTest, ReplayRejected) {
  Bytes p1 = seal(a_, plaintext(10)), p2 = seal(a_, plaintext(10));
  EXPECT_EQ(open(b_, p2), OpenStatus::kOk);
  EXPECT_EQ(open(b_, p2), OpenStatus::kReplay);
  EXPECT_EQ(open(b_, p1), OpenStatus::kOk);
  EXPECT_EQ(open(b_, p1), OpenStatus::kReplay);
  EXPECT_EQ(open(b_, p2), OpenStatus::kReplay);
}

TEST_F(SessionTest, TooOldBehindTheWindowRejected) {
  const uint64_t w = ReplayWindow::kWindowSize;
  ASSERT_GE(w, 2048u);
  std::vector<Bytes> packets;
  for (uint64_t i = 0; i <= w + 10; ++i) packets.push_back(seal(a_, {}));
  ASSERT_EQ(open(b_, packets.back()), OpenStatus::kOk);  // counter w + 10
  EXPECT_EQ(open(b_, packets[0]), OpenStatus::kTooOld);
  EXPECT_EQ(open(b_, packets[9]), OpenStatus::kTooOld);          // w + 1 behind
  EXPECT_EQ(open(b_, packets[10]), OpenStatus::kOk);             // exactly w behind
  EXPECT_EQ(open(b_, packets[10 + w - 2048]), OpenStatus::kOk);  // 2048 behind
}

TEST_F(SessionTest, EveryTamperedHeaderByteRejected) {
  Bytes packet = seal(a_, plaintext(40));
  for (size_t i = 0; i < proto::kSealedHeaderSize; ++i) {
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      Bytes bad = packet;
      bad[i] ^= flip;
      EXPECT_NE(open(b_, bad), OpenStatus::kOk) << "header byte " << i;
    }
  }
  // The forgeries did not touch the replay window: the genuine packet still opens once.
  EXPECT_EQ(open(b_, packet), OpenStatus::kOk);
}

TEST_F(SessionTest, HeaderFieldsAreAuthenticatedEvenWhenParsedSeparately) {
  // A receiver that trusts a parsed header with a different counter must still fail.
  Bytes packet = seal(a_, plaintext(40));
  SealedHeader h;
  ASSERT_TRUE(parse_sealed_header(packet, h));
  h.counter += 1;
  Bytes out(40);
  EXPECT_EQ(b_.open(h, packet, out.data()), OpenStatus::kAuthFailed);
}

TEST_F(SessionTest, EveryTamperedCiphertextAndTagByteRejected) {
  Bytes packet = seal(a_, plaintext(40));
  for (size_t i = proto::kSealedHeaderSize; i < packet.size(); ++i) {
    Bytes bad = packet;
    bad[i] ^= 0x01;
    EXPECT_EQ(open(b_, bad), OpenStatus::kAuthFailed) << "byte " << i;
  }
  Bytes truncated(packet.begin(), packet.end() - 1);
  EXPECT_EQ(open(b_, truncated), OpenStatus::kAuthFailed);
  Bytes extended = packet;
  extended.push_back(0);
  EXPECT_EQ(open(b_, extended), OpenStatus::kAuthFailed);
  EXPECT_EQ(open(b_, packet), OpenStatus::kOk);
}

TEST_F(SessionTest, WrongKeyRejected) {
  Bytes packet = seal(a_, plaintext(20));
  Session stranger(filled(1), filled(2), 0);
  EXPECT_EQ(open(stranger, packet), OpenStatus::kAuthFailed);
  // Keys are directional: a packet reflected back to its sender does not open.
  EXPECT_EQ(open(a_, packet), OpenStatus::kAuthFailed);
  EXPECT_EQ(open(b_, packet), OpenStatus::kOk);
}

TEST_F(SessionTest, RekeySoonFromRekeyAfterMessages) {
  Session s(kAtoB, kBtoA, kIndexOfB, Session::kRekeyAfterMessages - 1);
  Bytes last_ok = seal(s, plaintext(4), PacketType::kData, SealStatus::kOk);
  Bytes first_soon = seal(s, plaintext(4), PacketType::kData, SealStatus::kRekeySoon);
  seal(s, plaintext(4), PacketType::kData, SealStatus::kRekeySoon);
  // Still valid packets: the receiver accepts them.
  EXPECT_EQ(open(b_, last_ok), OpenStatus::kOk);
  EXPECT_EQ(open(b_, first_soon), OpenStatus::kOk);
}

TEST_F(SessionTest, ExhaustedAtRejectAfterMessagesAndWritesNothing) {
  Session s(kAtoB, kBtoA, kIndexOfB, Session::kRejectAfterMessages - 2);
  Bytes p = plaintext(16);
  Bytes second_last = seal(s, p, PacketType::kData, SealStatus::kRekeySoon);
  Bytes last = seal(s, p, PacketType::kData, SealStatus::kRekeySoon);
  SealedHeader h;
  ASSERT_TRUE(parse_sealed_header(last, h));
  EXPECT_EQ(h.counter, Session::kRejectAfterMessages - 1);
  for (int i = 0; i < 3; ++i) {  // stays exhausted, the counter never wraps to reuse a nonce
    Bytes out(p.size() + proto::kSealedOverhead, 0xaa);
    EXPECT_EQ(s.seal(PacketType::kData, p, out.data()), SealStatus::kExhausted);
    EXPECT_EQ(out, Bytes(out.size(), 0xaa)) << "attempt " << i;
  }
  EXPECT_EQ(open(b_, second_last), OpenStatus::kOk);
  EXPECT_EQ(open(b_, last), OpenStatus::kOk);
}

TEST_F(SessionTest, ReceiverRefusesCountersAtTheRejectLimit) {
  // An authentic packet with a counter the sender may never use (a peer bug or a key reused
  // across sessions) is refused rather than accepted.
  Bytes packet(proto::kSealedOverhead);
  packet[0] = uint8_t(PacketType::kData);
  proto::put_u32(&packet[4], kIndexOfB);
  proto::put_u64(&packet[8], Session::kRejectAfterMessages);
  crypto::seal(kAtoB, Session::kRejectAfterMessages, proto::ByteView(packet.data(), 16), {},
               packet.data() + 16);
  EXPECT_EQ(open(b_, packet), OpenStatus::kTooOld);
}

TEST_F(SessionTest, ConcurrentOpensAcceptEachPacketOnce) {
  std::vector<Bytes> packets;
  for (int i = 0; i < 2000; ++i) packets.push_back(seal(a_, plaintext(32, uint8_t(i))));
  std::atomic<int> accepted{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < packets.size(); ++i) {
        size_t j = (i + size_t(t) * 500) % packets.size();
        OpenStatus st = open(b_, packets[j]);
        if (st == OpenStatus::kOk)
          ++accepted;
        else if (st != OpenStatus::kReplay)
          ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), 2000);
  EXPECT_EQ(other.load(), 0);
}

}  // namespace
}  // namespace ntm::crypto
