#include "crypto/anti_replay.h"

#include <cstring>

namespace ntm::crypto {

ReplayWindow::Verdict ReplayWindow::check_and_update(uint64_t counter) {
  if (!any_) {
    any_ = true;
    highest_ = counter;
    std::memset(bitmap_, 0, sizeof bitmap_);
    bitmap_[(counter / 64) % kBlocks] |= 1ull << (counter % 64);
    return Verdict::kAccept;
  }
  if (counter > highest_) {
    uint64_t cur_block = highest_ / 64, new_block = counter / 64;
    uint64_t diff = new_block - cur_block;
    if (diff > kBlocks) diff = kBlocks;
    for (uint64_t i = 1; i <= diff; ++i) bitmap_[(cur_block + i) % kBlocks] = 0;
    highest_ = counter;
  } else if (highest_ - counter > kWindowSize) {
    return Verdict::kTooOld;
  }
  uint64_t& word = bitmap_[(counter / 64) % kBlocks];
  uint64_t bit = 1ull << (counter % 64);
  if (word & bit) return Verdict::kReplay;
  word |= bit;
  return Verdict::kAccept;
}

void ReplayWindow::reset() {
  highest_ = 0;
  any_ = false;
  std::memset(bitmap_, 0, sizeof bitmap_);
}

}  // namespace ntm::crypto
