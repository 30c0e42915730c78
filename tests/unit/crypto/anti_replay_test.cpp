// ReplayWindow: every authenticated counter is accepted exactly once, reordering up to the
// window size (≥ 2048, the requirement) is tolerated, and anything older is refused.
#include "crypto/anti_replay.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace ntm::crypto {
namespace {

using Verdict = ReplayWindow::Verdict;
constexpr uint64_t kW = ReplayWindow::kWindowSize;

TEST(ReplayWindowTest, WindowIsAtLeast2048) {
  EXPECT_GE(kW, 2048u);
}

TEST(ReplayWindowTest, InOrderAcceptedOnceThenReplay) {
  ReplayWindow w;
  for (uint64_t c = 0; c < 10000; ++c) ASSERT_EQ(w.check_and_update(c), Verdict::kAccept) << c;
  EXPECT_EQ(w.highest(), 9999u);
  for (uint64_t c = 10000 - kW; c < 10000; ++c)
    ASSERT_EQ(w.check_and_update(c), Verdict::kReplay) << c;
}

TEST(ReplayWindowTest, FirstCounterMayBeAnything) {
  ReplayWindow w;
  EXPECT_EQ(w.check_and_update(123456789), Verdict::kAccept);
  EXPECT_EQ(w.highest(), 123456789u);
  EXPECT_EQ(w.check_and_update(123456789), Verdict::kReplay);
  EXPECT_EQ(w.check_and_update(123456789 - 1), Verdict::kAccept);  // reordered, not yet seen
}

TEST(ReplayWindowTest, ReorderInsideTheWindowAccepted) {
  ReplayWindow w;
  ASSERT_EQ(w.check_and_update(kW), Verdict::kAccept);
  for (uint64_t c = kW; c-- > 0;) ASSERT_EQ(w.check_and_update(c), Verdict::kAccept) << c;
  for (uint64_t c = 0; c <= kW; ++c) ASSERT_EQ(w.check_and_update(c), Verdict::kReplay) << c;
}

TEST(ReplayWindowTest, ExactlyWindowSizeBehindIsTheOldestAccepted) {
  // At every position of the highest counter inside its 64-bit word.
  for (uint64_t highest = 5000; highest < 5000 + 64; ++highest) {
    ReplayWindow w;
    ASSERT_EQ(w.check_and_update(highest), Verdict::kAccept);
    EXPECT_EQ(w.check_and_update(highest - kW - 1), Verdict::kTooOld) << highest;
    EXPECT_EQ(w.check_and_update(highest - kW), Verdict::kAccept) << highest;
    EXPECT_EQ(w.check_and_update(highest - kW), Verdict::kReplay) << highest;
  }
}

TEST(ReplayWindowTest, BehindTheWindowIsTooOldEvenIfNeverSeen) {
  ReplayWindow w;
  ASSERT_EQ(w.check_and_update(100000), Verdict::kAccept);
  EXPECT_EQ(w.check_and_update(0), Verdict::kTooOld);
  EXPECT_EQ(w.check_and_update(100000 - kW - 1000), Verdict::kTooOld);
}

TEST(ReplayWindowTest, JumpFarAheadForgetsEverythingBehindTheNewWindow) {
  ReplayWindow w;
  for (uint64_t c = 0; c < 100; ++c) ASSERT_EQ(w.check_and_update(c), Verdict::kAccept);
  const uint64_t far = 1ull << 40;
  EXPECT_EQ(w.check_and_update(far), Verdict::kAccept);
  EXPECT_EQ(w.highest(), far);
  EXPECT_EQ(w.check_and_update(50), Verdict::kTooOld);
  EXPECT_EQ(w.check_and_update(far), Verdict::kReplay);
  // The ring was wiped: counters just behind the new highest are fresh, whatever bits the
  // same ring positions held for the old counters.
  for (uint64_t c = far - kW; c < far; ++c) ASSERT_EQ(w.check_and_update(c), Verdict::kAccept) << c;
}

TEST(ReplayWindowTest, AdvancingByOneRingClearsReusedWords) {
  // Counters 0..4095 fill all 64 words; 4096..4159 reuse word 0 and must not look replayed.
  ReplayWindow w;
  for (uint64_t c = 0; c < ReplayWindow::kBits; ++c)
    ASSERT_EQ(w.check_and_update(c), Verdict::kAccept);
  for (uint64_t c = ReplayWindow::kBits; c < ReplayWindow::kBits + 200; ++c)
    ASSERT_EQ(w.check_and_update(c), Verdict::kAccept) << c;
}

TEST(ReplayWindowTest, TopOfTheCounterSpace) {
  ReplayWindow w;
  EXPECT_EQ(w.check_and_update(~0ull - 1), Verdict::kAccept);
  EXPECT_EQ(w.check_and_update(~0ull), Verdict::kAccept);
  EXPECT_EQ(w.check_and_update(~0ull), Verdict::kReplay);
  EXPECT_EQ(w.check_and_update(~0ull - kW), Verdict::kAccept);
  EXPECT_EQ(w.check_and_update(~0ull - kW - 1), Verdict::kTooOld);
}

TEST(ReplayWindowTest, ResetForgetsEverything) {
  ReplayWindow w;
  ASSERT_EQ(w.check_and_update(100000), Verdict::kAccept);
  w.reset();
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_EQ(w.check_and_update(0), Verdict::kAccept);
  EXPECT_EQ(w.check_and_update(100000), Verdict::kAccept);
}

TEST(ReplayWindowTest, AgreesWithASetBasedModel) {
  // Reference: accept iff never accepted and no more than kW behind the highest accepted.
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 20; ++round) {
    ReplayWindow w;
    std::set<uint64_t> seen;
    uint64_t highest = 0, base = rng() >> 4;
    bool any = false;
    for (int i = 0; i < 20000; ++i) {
      uint64_t c;
      switch (rng() % 8) {
        case 0:
          c = highest + 1 + rng() % 10000;
          break;  // jump ahead, sometimes far
        case 1:
          c = any ? highest : base;
          break;  // duplicate of the newest
        default:
          c = (any ? highest : base) - rng() % (kW + 200);  // reordered / stale
      }
      Verdict expected;
      if (!any || c > highest)
        expected = Verdict::kAccept;
      else if (highest - c > kW)
        expected = Verdict::kTooOld;
      else
        expected = seen.count(c) ? Verdict::kReplay : Verdict::kAccept;
      ASSERT_EQ(w.check_and_update(c), expected) << "round " << round << " step " << i;
      if (expected == Verdict::kAccept) {
        seen.insert(c);
        if (!any || c > highest) highest = c;
        any = true;
      }
    }
  }
}

}  // namespace
}  // namespace ntm::crypto
