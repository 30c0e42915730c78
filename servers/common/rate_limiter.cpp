#include "common/rate_limiter.h"

#include <algorithm>
#include <cstring>

namespace ntm::server {

bool TokenBucket::allow(Clock::time_point now) {
  if (last_ != Clock::time_point{}) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
  }
  last_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

size_t SourceRateLimiter::KeyHash::operator()(const std::array<uint8_t, 9>& k) const {
  uint64_t a;
  std::memcpy(&a, k.data() + 1, 8);
  return std::hash<uint64_t>()(a ^ (uint64_t(k[0]) << 56));
}

bool SourceRateLimiter::allow(const proto::Endpoint& from, Clock::time_point now) {
  std::array<uint8_t, 9> key{};
  if (from.is_v4()) {
    key[0] = 4;
    std::memcpy(&key[1], &reinterpret_cast<const sockaddr_in*>(from.sa())->sin_addr, 4);
  } else {
    key[0] = 6;
    std::memcpy(&key[1], &reinterpret_cast<const sockaddr_in6*>(from.sa())->sin6_addr, 8);
  }
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_entries_) return false;
    it = buckets_.emplace(key, Entry{TokenBucket(rate_, burst_), now}).first;
  }
  it->second.last = now;
  return it->second.bucket.allow(now);
}

void SourceRateLimiter::collect(Clock::time_point now) {
  // A bucket refills completely burst/rate seconds after its last use.
  auto idle = std::chrono::duration<double>(burst_ / rate_ + 1.0);
  for (auto it = buckets_.begin(); it != buckets_.end();)
    it = now - it->second.last > idle ? buckets_.erase(it) : std::next(it);
}

}  // namespace ntm::server
