// LogLimiter: a flood of one kind of event logs at most `per_second` lines a second, and
// every event it holds back is counted (the DC reports those as "N more drops not logged").
#include "common/logging.h"

#include <gtest/gtest.h>

namespace ntm::server {
namespace {

TEST(LogLimiter, AFloodLogsAtMostTheRateAndCountsTheRest) {
  LogLimiter limiter(10);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow();
  // The loop takes well under a second, but may straddle one boundary: two windows at most.
  EXPECT_GE(allowed, 10);
  EXPECT_LE(allowed, 20);
  EXPECT_EQ(limiter.take_suppressed(), uint64_t(1000 - allowed));
  EXPECT_EQ(limiter.take_suppressed(), 0u) << "taken once";
}

}  // namespace
}  // namespace ntm::server
