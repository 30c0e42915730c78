// Duplicate detection for requests (docs/protocol.md §4.2): the receiver of a request keeps
// the encoded response per (sender, message ID); a retransmitted request gets the same
// response again without being processed twice. Bounded: the oldest entries go first.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <utility>

#include "proto/bytes.h"

namespace ntm::proto {

class ResponseCache {
 public:
  explicit ResponseCache(size_t capacity = 1024) : capacity_(capacity) {}

  /// The cached response for `message_id` from `sender`, or nullptr.
  const Bytes* find(uint64_t sender, uint32_t message_id) const {
    auto it = entries_.find({sender, message_id});
    return it == entries_.end() ? nullptr : &it->second;
  }
  void insert(uint64_t sender, uint32_t message_id, Bytes response) {
    auto key = std::make_pair(sender, message_id);
    if (entries_.insert_or_assign(key, std::move(response)).second) order_.push_back(key);
    while (order_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }
  size_t size() const { return entries_.size(); }

 private:
  size_t capacity_;
  std::map<std::pair<uint64_t, uint32_t>, Bytes> entries_;
  std::deque<std::pair<uint64_t, uint32_t>> order_;
};

/// Retransmission schedule for requests: first timeout `initial_ms`, doubling each try up to
/// `max_ms`, at most `max_tries` transmissions in all.
struct RetransmitPolicy {
  uint32_t initial_ms = 200;
  uint32_t max_ms = 2000;
  uint32_t max_tries = 6;
  /// Timeout after transmission number `attempt` (1-based).
  uint32_t timeout_ms(uint32_t attempt) const {
    uint64_t t = initial_ms;
    for (uint32_t i = 1; i < attempt && t < max_ms; ++i) t *= 2;
    return uint32_t(t < max_ms ? t : max_ms);
  }
};

}  // namespace ntm::proto
