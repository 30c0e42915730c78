// Reassembly of fragmented inner IP datagrams (RFC 791 §3.2, RFC 8200 §4.5) on the receive
// path, before they enter lwIP.
//
// A UDP datagram larger than the tunnel MTU (1420) leaves the peer's lwIP in fragments: up to
// 47 of them for 65,507 bytes. lwIP's own reassembly is bounded by IP_REASS_MAX_PBUFS (10 in
// the packaged build: nothing over ~14 KB survived) and counts nothing we can read, so
// datagrams vanished silently. Here every fragment is accounted for: it completes a datagram,
// waits for its siblings, or is counted in drop_reassembly — with the fragments already held
// for its datagram — when the datagram cannot be completed:
//   - a sibling is missing kTimeout after the first fragment arrived,
//   - fragments overlap or disagree about the datagram's end (RFC 5722 for IPv6),
//   - the datagram would exceed 65,535 bytes or kMaxFragments fragments,
//   - kMaxDatagrams are in progress and this one is the oldest (evicted for a newer one).
// Memory is bounded: kMaxDatagrams buffers of 64 KiB at most. Used by the receive thread only.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace ntm::packet {

class Reassembler {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxDatagrams = 64;
  static constexpr size_t kMaxFragments = 128;       ///< per datagram; lwIP sends <= 52 at MTU 1280
  static constexpr size_t kMaxDatagramSize = 65535;  ///< whole reassembled IP packet, bytes
  static constexpr auto kTimeout = std::chrono::seconds(5);

  /// `dropped` counts discarded fragments (struct ntm_stats.drop_reassembly).
  explicit Reassembler(std::atomic<uint64_t>& dropped);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  enum class Status {
    kNotFragment,  ///< an ordinary packet: hand `ip` to the stack unchanged
    kHeld,         ///< a fragment, kept until its datagram is complete
    kComplete,     ///< this fragment completed a datagram, written to `out` (`out_len` bytes)
    kDropped,      ///< this fragment (and its datagram) was discarded and counted
  };

  /// Feeds one inner IP packet of `len` bytes. `out` must hold kMaxDatagramSize bytes.
  Status feed(const uint8_t* ip, size_t len, Clock::time_point now, uint8_t* out, size_t& out_len);
  /// Discards (and counts) datagrams whose first fragment arrived kTimeout ago or earlier.
  void expire(Clock::time_point now);
  /// When the oldest datagram in progress times out; nullopt when none is in progress.
  std::optional<Clock::time_point> next_deadline() const;
  size_t in_progress() const { return datagrams_.size(); }
  /// Forgets everything in progress (counted as dropped).
  void clear();

 private:
  struct Datagram;

  Datagram* find_or_create(const uint8_t* key, size_t key_len, bool v6, Clock::time_point now);
  void discard(size_t index);
  Status complete(Datagram& d, uint8_t* out, size_t& out_len);

  std::atomic<uint64_t>& dropped_;
  std::vector<std::unique_ptr<Datagram>> datagrams_;  ///< in progress, oldest first
  std::vector<std::unique_ptr<Datagram>> spare_;      ///< buffers kept for reuse
};

}  // namespace ntm::packet
