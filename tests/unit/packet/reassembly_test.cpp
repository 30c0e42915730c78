// Reassembler: what a node relies on when a peer sends UDP datagrams larger than the tunnel
// MTU. Fragments cut the way lwIP cuts them (1400-byte pieces at MTU 1420) come back as the
// original datagram in any order, IPv4 and IPv6; every fragment of a datagram that cannot
// be completed is counted exactly once; memory stays bounded.
#include "packet/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace ntm::packet {
namespace {

using Bytes = std::vector<uint8_t>;
using Status = Reassembler::Status;
using Clock = Reassembler::Clock;

uint16_t checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

Bytes payload(size_t n, uint8_t seed) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(i * 7 + seed + (i >> 8));
  return p;
}

/// An IPv4 UDP datagram (header + 8-byte UDP header + `data`), unfragmented.
Bytes ipv4_datagram(const Bytes& data, uint16_t id, uint8_t src_last = 1) {
  Bytes ip(20 + 8 + data.size());
  ip[0] = 0x45;
  ip[2] = uint8_t(ip.size() >> 8), ip[3] = uint8_t(ip.size());
  ip[4] = uint8_t(id >> 8), ip[5] = uint8_t(id);
  ip[8] = 64, ip[9] = 17;
  uint8_t src[4] = {100, 64, 0, src_last}, dst[4] = {100, 64, 0, 9};
  std::memcpy(&ip[12], src, 4);
  std::memcpy(&ip[16], dst, 4);
  uint16_t c = checksum(ip.data(), 20);
  ip[10] = uint8_t(c >> 8), ip[11] = uint8_t(c);
  size_t udp_len = 8 + data.size();
  ip[24] = uint8_t(udp_len >> 8), ip[25] = uint8_t(udp_len);
  std::memcpy(&ip[28], data.data(), data.size());
  return ip;
}

/// Cuts an IPv4 datagram into fragments of at most `mtu` bytes, as lwIP's ip4_frag does.
std::vector<Bytes> fragment_v4(const Bytes& ip, size_t mtu = 1420) {
  std::vector<Bytes> out;
  size_t chunk = (mtu - 20) / 8 * 8, body = ip.size() - 20;
  for (size_t off = 0; off < body; off += chunk) {
    size_t n = std::min(chunk, body - off);
    Bytes f(20 + n);
    std::memcpy(f.data(), ip.data(), 20);
    std::memcpy(&f[20], &ip[20 + off], n);
    f[2] = uint8_t(f.size() >> 8), f[3] = uint8_t(f.size());
    uint16_t fo = uint16_t(off / 8) | (off + n < body ? 0x2000 : 0);
    f[6] = uint8_t(fo >> 8), f[7] = uint8_t(fo);
    f[10] = f[11] = 0;
    uint16_t c = checksum(f.data(), 20);
    f[10] = uint8_t(c >> 8), f[11] = uint8_t(c);
    out.push_back(f);
  }
  return out;
}

/// An IPv6 UDP datagram with `ext` (already encoded extension headers, first Next Header
/// byte `ext_nh`) between the fixed header and UDP.
Bytes ipv6_datagram(const Bytes& data, const Bytes& ext = {}, uint8_t ext_nh = 17) {
  Bytes ip(40 + ext.size() + 8 + data.size());
  ip[0] = 0x60;
  size_t plen = ip.size() - 40;
  ip[4] = uint8_t(plen >> 8), ip[5] = uint8_t(plen);
  ip[6] = ext.empty() ? 17 : ext_nh;
  ip[7] = 64;
  ip[8] = 0xfd, ip[23] = 1;   // fd00::1
  ip[24] = 0xfd, ip[39] = 2;  // fd00::2
  std::memcpy(&ip[40], ext.data(), ext.size());
  std::memcpy(&ip[40 + ext.size() + 8], data.data(), data.size());
  return ip;
}

/// Cuts an IPv6 datagram after its `unfrag` unfragmentable bytes, inserting a Fragment
/// header (RFC 8200 §4.5) whose Next Header is the byte at `nh_at`.
std::vector<Bytes> fragment_v6(const Bytes& ip, size_t unfrag = 40, size_t nh_at = 6,
                               uint32_t id = 0x01020304, size_t mtu = 1420) {
  std::vector<Bytes> out;
  size_t chunk = (mtu - unfrag - 8) / 8 * 8, body = ip.size() - unfrag;
  for (size_t off = 0; off < body; off += chunk) {
    size_t n = std::min(chunk, body - off);
    Bytes f(unfrag + 8 + n);
    std::memcpy(f.data(), ip.data(), unfrag);
    f[unfrag] = ip[nh_at];
    f[nh_at] = 44;
    uint16_t fo = uint16_t(off) | (off + n < body ? 1 : 0);
    f[unfrag + 2] = uint8_t(fo >> 8), f[unfrag + 3] = uint8_t(fo);
    f[unfrag + 4] = uint8_t(id >> 24), f[unfrag + 5] = uint8_t(id >> 16);
    f[unfrag + 6] = uint8_t(id >> 8), f[unfrag + 7] = uint8_t(id);
    std::memcpy(&f[unfrag + 8], &ip[unfrag + off], n);
    size_t plen = f.size() - 40;
    f[4] = uint8_t(plen >> 8), f[5] = uint8_t(plen);
    out.push_back(f);
  }
  return out;
}

class ReassemblyTest : public ::testing::Test {
 protected:
  /// Feeds every fragment; returns the statuses and keeps the last complete datagram.
  std::vector<Status> feed_all(const std::vector<Bytes>& frags) {
    std::vector<Status> st;
    for (auto& f : frags) st.push_back(feed(f));
    return st;
  }
  Status feed(const Bytes& f) {
    size_t n = 0;
    Status s = r_.feed(f.data(), f.size(), now_, out_.data(), n);
    if (s == Status::kComplete) got_.assign(out_.begin(), out_.begin() + std::ptrdiff_t(n));
    return s;
  }

  std::atomic<uint64_t> dropped_{0};
  Reassembler r_{dropped_};
  Clock::time_point now_ = Clock::now();
  Bytes out_ = Bytes(Reassembler::kMaxDatagramSize);
  Bytes got_;
};

TEST_F(ReassemblyTest, UnfragmentedPacketsPassThrough) {
  EXPECT_EQ(feed(ipv4_datagram(payload(1000, 1), 7)), Status::kNotFragment);
  EXPECT_EQ(feed(ipv6_datagram(payload(1000, 1))), Status::kNotFragment);
  EXPECT_EQ(feed(Bytes{0x45, 0, 0}), Status::kNotFragment) << "too short: lwIP's to judge";
  EXPECT_EQ(r_.in_progress(), 0u);
  EXPECT_EQ(dropped_, 0u);
}

TEST_F(ReassemblyTest, LargestIpv4DatagramInLwipsFragmentsComesBackWhole) {
  Bytes dgram = ipv4_datagram(payload(65507, 3), 0x1234);
  ASSERT_EQ(dgram.size(), 65535u);
  auto frags = fragment_v4(dgram);
  ASSERT_EQ(frags.size(), 47u);
  auto st = feed_all(frags);
  EXPECT_EQ(std::count(st.begin(), st.end(), Status::kHeld), 46);
  EXPECT_EQ(st.back(), Status::kComplete);
  EXPECT_EQ(got_, dgram) << "header rebuilt (length, no MF, offset 0, checksum) and payload";
  EXPECT_EQ(r_.in_progress(), 0u);
  EXPECT_EQ(dropped_, 0u);
}

TEST_F(ReassemblyTest, FragmentsInAnyOrder) {
  Bytes dgram = ipv4_datagram(payload(20000, 5), 99);
  auto frags = fragment_v4(dgram);
  std::mt19937 rng(7);
  std::shuffle(frags.begin(), frags.end(), rng);
  auto st = feed_all(frags);
  EXPECT_EQ(st.back(), Status::kComplete);
  EXPECT_EQ(got_, dgram);
  std::reverse(frags.begin(), frags.end());
  st = feed_all(frags);
  EXPECT_EQ(st.back(), Status::kComplete);
  EXPECT_EQ(got_, dgram);
}

TEST_F(ReassemblyTest, InterleavedDatagramsFromTwoSourcesWithTheSameId) {
  Bytes a = ipv4_datagram(payload(5000, 1), 42, 1), b = ipv4_datagram(payload(6000, 2), 42, 2);
  auto fa = fragment_v4(a), fb = fragment_v4(b);
  std::vector<Bytes> done;
  for (size_t i = 0; i < std::max(fa.size(), fb.size()); ++i) {
    if (i < fa.size() && feed(fa[i]) == Status::kComplete) done.push_back(got_);
    if (i < fb.size() && feed(fb[i]) == Status::kComplete) done.push_back(got_);
  }
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], a);
  EXPECT_EQ(done[1], b);
}

TEST_F(ReassemblyTest, LargestIpv6DatagramComesBackWhole) {
  Bytes dgram = ipv6_datagram(payload(65487, 9));
  ASSERT_EQ(dgram.size(), 65535u);
  auto frags = fragment_v6(dgram);
  auto st = feed_all(frags);
  EXPECT_EQ(st.back(), Status::kComplete);
  EXPECT_EQ(std::count(st.begin(), st.end(), Status::kHeld), std::ptrdiff_t(frags.size() - 1));
  EXPECT_EQ(got_, dgram) << "Fragment header removed, Next Header and Payload Length restored";
}

TEST_F(ReassemblyTest, Ipv6ExtensionHeadersBeforeTheFragmentHeaderAreKept) {
  Bytes dest_opts = {17, 0, 1, 4, 0, 0, 0, 0};  // Next Header UDP, 8 bytes, PadN
  Bytes dgram = ipv6_datagram(payload(3000, 4), dest_opts, 60);
  auto frags = fragment_v6(dgram, 48, 40);
  ASSERT_GT(frags.size(), 1u);
  EXPECT_EQ(frags[0][6], 60) << "the fixed header still names the options header";
  EXPECT_EQ(feed_all(frags).back(), Status::kComplete);
  EXPECT_EQ(got_, dgram);
}

TEST_F(ReassemblyTest, Ipv6AtomicFragmentIsDeliveredWithoutItsFragmentHeader) {
  Bytes dgram = ipv6_datagram(payload(100, 2));
  auto frags = fragment_v6(dgram);
  ASSERT_EQ(frags.size(), 1u);
  EXPECT_EQ(feed(frags[0]), Status::kComplete);
  EXPECT_EQ(got_, dgram);
}

TEST_F(ReassemblyTest, AMissingFragmentCountsTheHeldOnesWhenTheDatagramTimesOut) {
  auto frags = fragment_v4(ipv4_datagram(payload(14000, 1), 5));
  ASSERT_EQ(frags.size(), 11u);
  frags.erase(frags.begin() + 4);
  auto st = feed_all(frags);
  EXPECT_EQ(std::count(st.begin(), st.end(), Status::kHeld), 10);
  ASSERT_TRUE(r_.next_deadline());
  EXPECT_EQ(*r_.next_deadline(), now_ + Reassembler::kTimeout);
  r_.expire(now_ + Reassembler::kTimeout - std::chrono::milliseconds(1));
  EXPECT_EQ(dropped_, 0u) << "not yet";
  r_.expire(now_ + Reassembler::kTimeout);
  EXPECT_EQ(dropped_, 10u) << "each held fragment once";
  EXPECT_EQ(r_.in_progress(), 0u);
  EXPECT_FALSE(r_.next_deadline());
}

TEST_F(ReassemblyTest, LateFragmentsOfAnExpiredDatagramAreCountedToo) {
  auto frags = fragment_v4(ipv4_datagram(payload(5000, 1), 6));
  ASSERT_EQ(frags.size(), 4u);
  feed(frags[0]);
  feed(frags[1]);
  now_ += Reassembler::kTimeout;
  EXPECT_EQ(feed(frags[2]), Status::kHeld) << "starts over";
  EXPECT_EQ(dropped_, 2u);
  EXPECT_EQ(feed(frags[3]), Status::kHeld);
  r_.clear();
  EXPECT_EQ(dropped_, 4u);
}

TEST_F(ReassemblyTest, OverlappingFragmentsDiscardTheDatagram) {
  auto frags = fragment_v4(ipv4_datagram(payload(5000, 1), 8));
  feed(frags[0]);
  feed(frags[1]);
  Bytes overlap = frags[2];
  uint16_t fo = uint16_t((1400 + 8) / 8) | 0x2000;  // starts inside fragment 1
  overlap[6] = uint8_t(fo >> 8), overlap[7] = uint8_t(fo);
  EXPECT_EQ(feed(overlap), Status::kDropped);
  EXPECT_EQ(dropped_, 3u);
  EXPECT_EQ(r_.in_progress(), 0u);
}

TEST_F(ReassemblyTest, TwoDifferentEndsDiscardTheDatagram) {
  auto frags = fragment_v4(ipv4_datagram(payload(5000, 1), 9));
  feed(frags.back());  // the end: 5008 bytes
  Bytes early_end = frags[1];
  early_end[6] &= ~0x20;  // "last" at 2800 bytes
  EXPECT_EQ(feed(early_end), Status::kDropped);
  EXPECT_EQ(dropped_, 2u);
  feed(frags.back());  // a middle fragment past an end already known
  Bytes far = frags[1];
  uint16_t fo = uint16_t(6000 / 8) | 0x2000;
  far[6] = uint8_t(fo >> 8), far[7] = uint8_t(fo);
  EXPECT_EQ(feed(far), Status::kDropped);
  EXPECT_EQ(dropped_, 4u);
}

TEST_F(ReassemblyTest, MalformedFragmentsAreDroppedAndCounted) {
  auto frags = fragment_v4(ipv4_datagram(payload(5000, 1), 10));
  Bytes odd = frags[0];  // a non-last fragment whose length is not a multiple of 8
  odd.pop_back();
  odd[3] = uint8_t(odd.size()), odd[2] = uint8_t(odd.size() >> 8);
  EXPECT_EQ(feed(odd), Status::kDropped);
  Bytes too_far = frags.back();  // ends beyond 65,535 bytes
  uint16_t fo = uint16_t(65528 / 8);
  too_far[6] = uint8_t(fo >> 8), too_far[7] = uint8_t(fo);
  EXPECT_EQ(feed(too_far), Status::kDropped);
  Bytes lying = frags[1];  // total length beyond the bytes present
  lying[2] = 0xff;
  EXPECT_EQ(feed(lying), Status::kDropped);
  Bytes v6 = fragment_v6(ipv6_datagram(payload(3000, 1)))[0];
  v6.resize(44);  // Fragment header cut short
  v6[4] = 0, v6[5] = 4;
  EXPECT_EQ(feed(v6), Status::kDropped);
  EXPECT_EQ(dropped_, 4u);
  EXPECT_EQ(r_.in_progress(), 0u);
}

TEST_F(ReassemblyTest, TooManyDatagramsInProgressEvictTheOldest) {
  std::vector<std::vector<Bytes>> all;
  for (uint16_t id = 0; id < Reassembler::kMaxDatagrams + 1; ++id) {
    all.push_back(fragment_v4(ipv4_datagram(payload(3000, uint8_t(id)), id)));
    EXPECT_EQ(feed(all.back()[0]), Status::kHeld);
    now_ += std::chrono::milliseconds(1);
  }
  EXPECT_EQ(r_.in_progress(), Reassembler::kMaxDatagrams);
  EXPECT_EQ(dropped_, 1u) << "the oldest datagram's one fragment";
  for (uint16_t id = 1; id <= Reassembler::kMaxDatagrams; ++id) {
    auto st = Status::kHeld;
    for (size_t i = 1; i < all[id].size(); ++i) st = feed(all[id][i]);
    EXPECT_EQ(st, Status::kComplete) << id;
  }
  EXPECT_EQ(r_.in_progress(), 0u);
}

TEST_F(ReassemblyTest, TooManyFragmentsForOneDatagramDiscardIt) {
  // 8-byte fragments: a 65,000-byte datagram would need 8,000 of them.
  Bytes dgram = ipv4_datagram(payload(65000, 1), 11);
  auto frags = fragment_v4(dgram, 28);
  size_t held = 0;
  Status st = Status::kHeld;
  for (auto& f : frags) {
    st = feed(f);
    if (st != Status::kHeld) break;
    ++held;
  }
  EXPECT_EQ(st, Status::kDropped);
  EXPECT_EQ(held, Reassembler::kMaxFragments);
  EXPECT_EQ(dropped_, Reassembler::kMaxFragments + 1);
}

}  // namespace
}  // namespace ntm::packet
