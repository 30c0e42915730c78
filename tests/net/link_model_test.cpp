// The link emulator's packet-fate model (tools/linkemu/link_model.h), without a kernel:
// times are given, not measured.
#include "link_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ntm::linkemu {
namespace {

constexpr Nanos kMs = 1000000;

LinkParams params(std::initializer_list<const char*> settings) {
  LinkParams p;
  for (const char* s : settings) EXPECT_EQ(p.apply(s), "") << s;
  return p;
}

TEST(LinkModel, ParsesUnits) {
  EXPECT_EQ(parse_duration("5ms"), 5 * kMs);
  EXPECT_EQ(parse_duration("250us"), 250000);
  EXPECT_EQ(parse_duration("1.5s"), 1500 * kMs);
  EXPECT_EQ(parse_duration("7"), 7 * kMs);  // bare number: milliseconds
  EXPECT_FALSE(parse_duration("5 ms"));
  EXPECT_FALSE(parse_duration("ms"));
  EXPECT_EQ(parse_probability("10%"), 0.1);
  EXPECT_EQ(parse_probability("0.25"), 0.25);
  EXPECT_FALSE(parse_probability("120%"));
  EXPECT_EQ(parse_rate("100mbit"), 100000000u);
  EXPECT_EQ(parse_rate("1.5gbit"), 1500000000u);
  EXPECT_FALSE(parse_rate("100mb"));
  LinkParams p;
  EXPECT_NE(p.apply("delay"), "");
  EXPECT_NE(p.apply("colour=blue"), "");
  EXPECT_NE(p.apply("limit=0"), "");
}

TEST(LinkModel, HoldsEachPacketForTheDelay) {
  Link link(params({"delay=5ms"}), 1);
  ASSERT_EQ(link.admit(1, 100, 0), Fate::kHold);
  ASSERT_EQ(link.admit(2, 100, 1 * kMs), Fate::kHold);
  EXPECT_EQ(link.next_release(), 5 * kMs);
  std::vector<std::uint32_t> out;
  link.release_due(5 * kMs - 1, out);
  EXPECT_TRUE(out.empty());
  link.release_due(5 * kMs, out);
  EXPECT_EQ(out, std::vector<std::uint32_t>{1});
  link.release_due(6 * kMs, out);
  EXPECT_EQ(out, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_FALSE(link.next_release());
  EXPECT_EQ(link.stats().passed, 2u);
}

TEST(LinkModel, LossRateIsTheConfiguredProbability) {
  Link link(params({"loss=10%"}), 42);
  int dropped = 0;
  std::vector<std::uint32_t> out;
  for (std::uint32_t id = 0; id < 100000; ++id) {
    if (link.admit(id, 100, 0) == Fate::kDrop) ++dropped;
    link.release_due(0, out);
  }
  EXPECT_NEAR(dropped / 100000.0, 0.10, 0.005);
  EXPECT_EQ(link.stats().lost, static_cast<std::uint64_t>(dropped));
}

/// Fates and release times of 1000 packets, 1 ms apart, through a fresh link.
std::vector<Nanos> pattern(std::uint64_t seed) {
  Link link(params({"loss=30%", "jitter=2ms", "delay=5ms"}), seed);
  std::vector<Nanos> out;
  for (std::uint32_t id = 0; id < 1000; ++id) {
    bool held = link.admit(id, 100, id * kMs) == Fate::kHold;
    out.push_back(held ? -1 : -2);
    std::vector<std::uint32_t> released;
    while (auto t = link.next_release()) {
      out.push_back(*t);
      link.release_due(*t, released);
    }
  }
  return out;
}

TEST(LinkModel, SameSeedSamePatternOtherSeedOtherPattern) {
  EXPECT_EQ(pattern(7), pattern(7));
  EXPECT_NE(pattern(7), pattern(8)) << "the seed must drive loss and jitter";
}

TEST(LinkModel, JitterStaysInBoundsAndKeepsOrder) {
  Link link(params({"delay=5ms", "jitter=2ms"}), 3);
  for (std::uint32_t id = 0; id < 1000; ++id) link.admit(id, 100, id * 10 * kMs);
  Nanos last = 0, lo = 10 * kMs, hi = 0, sum = 0;
  for (std::uint32_t id = 0; id < 1000; ++id) {
    auto t = link.next_release();
    ASSERT_TRUE(t);
    Nanos arrival = id * 10 * kMs;
    EXPECT_GE(*t - arrival, 3 * kMs);
    EXPECT_LE(*t - arrival, 7 * kMs);
    EXPECT_GE(*t, last);
    last = *t;
    lo = std::min(lo, *t - arrival), hi = std::max(hi, *t - arrival), sum += *t - arrival;
    std::vector<std::uint32_t> out;
    link.release_due(*t, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], id);  // in order
  }
  // The draws cover the interval (uniform: 1000 draws leave no gap of 0.5 ms at either end)
  // around the configured delay.
  EXPECT_LT(lo, 3 * kMs + kMs / 2);
  EXPECT_GT(hi, 7 * kMs - kMs / 2);
  EXPECT_NEAR(double(sum) / 1000, 5.0 * kMs, 0.2 * kMs);
}

TEST(LinkModel, ReorderLetsJitteredPacketsOvertake) {
  Link link(params({"delay=5ms", "jitter=4ms", "reorder=1"}), 5);
  for (std::uint32_t id = 0; id < 1000; ++id) link.admit(id, 100, id * 100000);  // 0.1 ms apart
  std::vector<std::uint32_t> out;
  link.release_all(out);
  ASSERT_EQ(out.size(), 1000u);
  int overtaken = 0;
  for (std::size_t i = 1; i < out.size(); ++i) overtaken += out[i] < out[i - 1];
  EXPECT_GT(overtaken, 100);
}

TEST(LinkModel, RateSerialisesBackToBackPackets) {
  // 1250 bytes at 10 Mbit/s = 1 ms on the wire each.
  Link link(params({"rate=10mbit", "delay=5ms"}), 1);
  for (std::uint32_t id = 0; id < 3; ++id) link.admit(id, 1250, 0);
  std::vector<Nanos> releases;
  while (auto t = link.next_release()) {
    releases.push_back(*t);
    std::vector<std::uint32_t> out;
    link.release_due(*t, out);
  }
  EXPECT_EQ(releases, (std::vector<Nanos>{6 * kMs, 7 * kMs, 8 * kMs}));
}

// Gilbert-Elliott: 0.2 % Good -> Bad and 20 % Bad -> Good lose 1 % of the packets on
// average (0.002 / 0.202), in bursts of 5 (1 / 0.2) on average.
TEST(LinkModel, GilbertElliottLosesInBursts) {
  Link link(params({"gemodel=0.2%,20%"}), 3);
  EXPECT_NE(link.params().describe().find("gemodel=0.2%,20%,100%"), std::string::npos);
  int dropped = 0, bursts = 0;
  bool in_burst = false;
  std::vector<std::uint32_t> out;
  for (std::uint32_t id = 0; id < 400000; ++id) {
    bool drop = link.admit(id, 100, 0) == Fate::kDrop;
    dropped += drop;
    if (drop && !in_burst) ++bursts;
    in_burst = drop;
    link.release_due(0, out);
  }
  EXPECT_NEAR(dropped / 400000.0, 0.002 / 0.202, 0.0015);
  ASSERT_GT(bursts, 0);
  EXPECT_NEAR(double(dropped) / bursts, 5.0, 0.75);
  LinkParams p;
  EXPECT_NE(p.apply("gemodel=1%"), "");      // needs both transition probabilities
  EXPECT_NE(p.apply("gemodel=0%,10%"), "");  // P = 0 would never lose
  EXPECT_EQ(p.apply("gemodel=1%,10%,50%"), "");
  EXPECT_EQ(p.ge_loss_bad, 0.5);
  EXPECT_EQ(p.apply("gemodel=0"), "");
  EXPECT_EQ(p.ge_p, 0.0);
}

TEST(LinkModel, TailDropsBeyondTheLimit) {
  Link link(params({"delay=5ms", "limit=3"}), 1);
  for (std::uint32_t id = 0; id < 5; ++id) link.admit(id, 100, 0);
  EXPECT_EQ(link.held(), 3u);
  EXPECT_EQ(link.stats().overflowed, 2u);
}

}  // namespace
}  // namespace ntm::linkemu
