// Outbound inner packets towards a vIP whose tunnel is being negotiated (DESIGN.md §3).
// Bounded per destination and in total; the overflow is dropped and counted by the caller.
#pragma once

#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "packet/vip_key.h"
#include "proto/bytes.h"

namespace ntm::packet {

class PendingQueue {
 public:
  static constexpr size_t kPerDestination = 256;
  static constexpr size_t kTotal = 4096;

  enum class Result { kQueuedFirst, kQueued, kFull };
  /// Queues a copy of one inner IP packet for `dst`.
  Result push(const VipKey& dst, proto::Bytes packet) {
    std::lock_guard l(mu_);
    auto& q = queues_[dst];
    if (q.size() >= kPerDestination || total_ >= kTotal) return Result::kFull;
    q.push_back(std::move(packet));
    ++total_;
    return q.size() == 1 ? Result::kQueuedFirst : Result::kQueued;
  }
  /// Removes and returns everything queued for `dst`.
  std::deque<proto::Bytes> take(const VipKey& dst) {
    std::lock_guard l(mu_);
    auto it = queues_.find(dst);
    if (it == queues_.end()) return {};
    auto q = std::move(it->second);
    queues_.erase(it);
    total_ -= q.size();
    return q;
  }
  void clear() {
    std::lock_guard l(mu_);
    queues_.clear();
    total_ = 0;
  }

 private:
  std::mutex mu_;
  std::unordered_map<VipKey, std::deque<proto::Bytes>, VipKeyHash> queues_;  // guarded by mu_
  size_t total_ = 0;                                                         // guarded by mu_
};

}  // namespace ntm::packet
