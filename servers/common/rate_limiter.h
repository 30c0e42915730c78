// Token buckets: one for a single actor (a node's control session), and a table of them keyed
// by source address for handshakes (after wireguard-go's ratelimiter.go: per IPv4 address, per
// IPv6 /64, a bounded table whose idle entries are collected).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "proto/endpoint.h"

namespace ntm::server {

using Clock = std::chrono::steady_clock;

/// `rate` tokens per second, at most `burst` stored; each allow() takes one.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
  bool allow(Clock::time_point now = Clock::now());

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_{};
};

/// Per-source token buckets. Sources are IPv4 addresses and IPv6 /64 prefixes (one host gets
/// a whole /64, so a finer key would give it 2^64 buckets). Holds at most `max_entries`
/// sources: when full, a new source is refused until collect() frees idle ones.
class SourceRateLimiter {
 public:
  SourceRateLimiter(double rate, double burst, size_t max_entries = 1 << 16)
      : rate_(rate), burst_(burst), max_entries_(max_entries) {}
  bool allow(const proto::Endpoint& from, Clock::time_point now = Clock::now());
  /// Forgets sources whose buckets have been full for a second (they lost nothing by it).
  void collect(Clock::time_point now = Clock::now());
  size_t size() const { return buckets_.size(); }

 private:
  struct KeyHash {
    size_t operator()(const std::array<uint8_t, 9>& k) const;
  };
  struct Entry {
    TokenBucket bucket;
    Clock::time_point last;
  };
  double rate_, burst_;
  size_t max_entries_;
  std::unordered_map<std::array<uint8_t, 9>, Entry, KeyHash> buckets_;
};

}  // namespace ntm::server
