// ResponseCache and RetransmitPolicy (docs/protocol.md §4.2): a retransmitted request gets the
// byte-identical response without being processed twice, the cache stays bounded under a flood
// of distinct requests, and senders back off exponentially up to a cap.
#include "proto/response_cache.h"

#include <gtest/gtest.h>

namespace ntm::proto {
namespace {

Bytes bytes_of(uint8_t v) {
  return Bytes{v, v, v};
}

TEST(ResponseCacheTest, FindsWhatWasInsertedBySenderAndMessageId) {
  ResponseCache c(8);
  c.insert(1, 100, bytes_of(1));
  c.insert(2, 100, bytes_of(2));  // same message ID, another sender
  c.insert(1, 101, bytes_of(3));
  ASSERT_NE(c.find(1, 100), nullptr);
  EXPECT_EQ(*c.find(1, 100), bytes_of(1));
  EXPECT_EQ(*c.find(2, 100), bytes_of(2));
  EXPECT_EQ(*c.find(1, 101), bytes_of(3));
  EXPECT_EQ(c.find(2, 101), nullptr);
  EXPECT_EQ(c.find(3, 100), nullptr);
  EXPECT_EQ(c.size(), 3u);
}

TEST(ResponseCacheTest, FullKeyRangeIsDistinct) {
  ResponseCache c(8);
  c.insert(~0ull, ~0u, bytes_of(1));
  c.insert(0, 0, bytes_of(2));
  EXPECT_EQ(*c.find(~0ull, ~0u), bytes_of(1));
  EXPECT_EQ(*c.find(0, 0), bytes_of(2));
  EXPECT_EQ(c.find(0xffffffff, ~0u), nullptr);  // the sender is 64 bits, not truncated
}

TEST(ResponseCacheTest, StaysWithinCapacityDroppingTheOldestFirst) {
  ResponseCache c(4);
  for (uint32_t id = 0; id < 10; ++id) {
    c.insert(7, id, bytes_of(uint8_t(id)));
    EXPECT_LE(c.size(), 4u);
  }
  EXPECT_EQ(c.size(), 4u);
  for (uint32_t id = 0; id < 6; ++id) EXPECT_EQ(c.find(7, id), nullptr) << id;
  for (uint32_t id = 6; id < 10; ++id) {
    ASSERT_NE(c.find(7, id), nullptr) << id;
    EXPECT_EQ(*c.find(7, id), bytes_of(uint8_t(id)));
  }
}

TEST(ResponseCacheTest, ReinsertReplacesWithoutTakingAnotherSlot) {
  ResponseCache c(2);
  c.insert(1, 1, bytes_of(1));
  c.insert(1, 1, bytes_of(9));
  c.insert(1, 2, bytes_of(2));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(*c.find(1, 1), bytes_of(9));
  EXPECT_EQ(*c.find(1, 2), bytes_of(2));
  c.insert(1, 3, bytes_of(3));  // evicts (1,1): its age counts from the first insert
  EXPECT_EQ(c.find(1, 1), nullptr);
  EXPECT_NE(c.find(1, 2), nullptr);
  EXPECT_NE(c.find(1, 3), nullptr);
}

TEST(ResponseCacheTest, BoundHoldsUnderAFlood) {
  ResponseCache c(1024);
  for (uint32_t i = 0; i < 100000; ++i) c.insert(i % 13, i, Bytes(16, uint8_t(i)));
  EXPECT_EQ(c.size(), 1024u);
  EXPECT_NE(c.find(99999 % 13, 99999), nullptr);
  EXPECT_EQ(c.find(0, 0), nullptr);
}

TEST(RetransmitPolicyTest, DoublesFromInitialUpToTheCap) {
  RetransmitPolicy p{200, 2000, 6};
  EXPECT_EQ(p.timeout_ms(1), 200u);
  EXPECT_EQ(p.timeout_ms(2), 400u);
  EXPECT_EQ(p.timeout_ms(3), 800u);
  EXPECT_EQ(p.timeout_ms(4), 1600u);
  EXPECT_EQ(p.timeout_ms(5), 2000u);
  EXPECT_EQ(p.timeout_ms(6), 2000u);
  EXPECT_EQ(p.timeout_ms(1000000), 2000u);
  EXPECT_EQ(p.timeout_ms(~0u), 2000u);
}

TEST(RetransmitPolicyTest, DefaultsAreTheDocumentedSchedule) {
  RetransmitPolicy p;
  EXPECT_EQ(p.initial_ms, 200u);
  EXPECT_EQ(p.max_ms, 2000u);
  EXPECT_EQ(p.max_tries, 6u);
  uint64_t total = 0;
  for (uint32_t a = 1; a <= p.max_tries; ++a) total += p.timeout_ms(a);
  EXPECT_EQ(total, 200u + 400 + 800 + 1600 + 2000 + 2000);  // a request gives up after 7 s
}

TEST(RetransmitPolicyTest, NeverExceedsTheCapNorOverflows) {
  RetransmitPolicy big{0x80000000u, 0xffffffffu, 40};
  EXPECT_EQ(big.timeout_ms(1), 0x80000000u);
  EXPECT_EQ(big.timeout_ms(2), 0xffffffffu);  // 2^32 capped, not wrapped to 0
  EXPECT_EQ(big.timeout_ms(40), 0xffffffffu);
  RetransmitPolicy inverted{5000, 1000, 3};  // initial above the cap: the cap wins
  EXPECT_EQ(inverted.timeout_ms(1), 1000u);
  RetransmitPolicy odd{3, 100, 10};
  EXPECT_EQ(odd.timeout_ms(5), 48u);
  EXPECT_EQ(odd.timeout_ms(6), 96u);
  EXPECT_EQ(odd.timeout_ms(7), 100u);
}

}  // namespace
}  // namespace ntm::proto
