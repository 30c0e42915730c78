// Sliding-window anti-replay filter for 64-bit packet counters (RFC 6479 bitmap design, as
// in WireGuard's replay.c). A counter is accepted once: counters above the highest seen slide
// the window forward; counters inside the window are accepted if not yet seen; counters older
// than the window are rejected.
#pragma once

#include <cstdint>

namespace ntm::crypto {

class ReplayWindow {
 public:
  static constexpr uint64_t kBlocks = 64;          ///< ring of 64-bit words
  static constexpr uint64_t kBits = kBlocks * 64;  ///< 4096 bits
  /// Packets this far behind the newest one are still accepted (first-time only).
  static constexpr uint64_t kWindowSize = kBits - 64;  ///< 4032 ≥ 2048 required

  enum class Verdict { kAccept, kReplay, kTooOld };

  /// Checks `counter` and, when accepted, records it. Call only after the packet authenticated:
  /// recording an unauthenticated counter would let forged packets move the window.
  Verdict check_and_update(uint64_t counter);
  void reset();
  uint64_t highest() const { return highest_; }
  /// False until the first counter was accepted.
  bool any() const { return any_; }

 private:
  uint64_t highest_ = 0;
  bool any_ = false;
  uint64_t bitmap_[kBlocks] = {};
};

}  // namespace ntm::crypto
