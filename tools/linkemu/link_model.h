// One direction of an emulated link: what happens to each packet that crosses it.
//
// A packet arriving at the link is, in this order:
//   1. dropped with probability `loss` (independent Bernoulli trials, seeded generator), or,
//      with a Gilbert-Elliott model set, by the loss probability of the model's state:
//      before each packet the link moves from Good to Bad with probability `ge_p` and from
//      Bad to Good with `ge_r`; Bad loses `ge_loss_bad` of its packets, Good `loss`. The
//      mean loss is ge_p / (ge_p + ge_r) * ge_loss_bad (plus Good's), in bursts of 1/ge_r
//      packets on average (netem's "loss gemodel");
//   2. dropped if `limit` packets are already held (tail drop, counted as overflow);
//   3. serialised at `rate_bps` behind the packets before it, if a rate is set;
//   4. held for `delay`, plus a uniform draw from [-jitter, +jitter], floored at zero;
//   5. released no earlier than the packet before it, unless `reorder` is set
//      (netem lets jittered packets overtake each other; a single real link does not).
// Link is pure bookkeeping on times and packet ids; main.cpp connects it to NFQUEUE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ntm::linkemu {

// Nanoseconds on CLOCK_MONOTONIC.
using Nanos = std::int64_t;

struct LinkParams {
  Nanos delay = 0;              // one-way delay, ns
  Nanos jitter = 0;             // half-width of the uniform delay variation, ns
  double loss = 0.0;            // drop probability, 0..1
  std::uint64_t rate_bps = 0;   // serialisation rate, bit/s; 0 = unlimited
  std::uint32_t limit = 10000;  // packets held at once before tail drop
  bool reorder = false;         // let jittered packets overtake earlier ones
  double ge_p = 0.0;            // Gilbert-Elliott: P(Good -> Bad) per packet; 0 = model off
  double ge_r = 0.0;            // Gilbert-Elliott: P(Bad -> Good) per packet
  double ge_loss_bad = 1.0;     // Gilbert-Elliott: loss probability in Bad

  // Applies one "key=value" setting (delay=5ms, jitter=1ms, loss=10%, rate=100mbit,
  // limit=1000, reorder=1, gemodel=P,R[,LOSS_BAD] e.g. gemodel=0.2%,20% or gemodel=0).
  // Returns an error message, or an empty string on success.
  std::string apply(std::string_view setting);
  std::string describe() const;
};

struct LinkStats {
  std::uint64_t received = 0;    // packets offered to the link
  std::uint64_t passed = 0;      // released after their delay
  std::uint64_t lost = 0;        // dropped by the loss model
  std::uint64_t overflowed = 0;  // dropped because `limit` packets were held
};

enum class Fate { kHold, kDrop };

class Link {
 public:
  Link(const LinkParams& params, std::uint64_t seed);

  // Decides the fate of packet `id` of `bytes` bytes that arrived at `now`.
  Fate admit(std::uint32_t id, std::uint32_t bytes, Nanos now);
  // Release time of the earliest held packet.
  std::optional<Nanos> next_release() const;
  // Moves the ids of every held packet due at or before `until` into `out`, earliest first.
  void release_due(Nanos until, std::vector<std::uint32_t>& out);
  // Moves every held packet's id into `out` (used on shutdown: release, don't drop).
  void release_all(std::vector<std::uint32_t>& out);

  void set_params(const LinkParams& params) { params_ = params; }
  const LinkParams& params() const { return params_; }
  const LinkStats& stats() const { return stats_; }
  std::size_t held() const { return heap_.size(); }

 private:
  struct Held {
    Nanos release;
    std::uint64_t seq;  // arrival order, breaks ties so equal times stay FIFO
    std::uint32_t id;
  };
  struct Later {
    bool operator()(const Held& a, const Held& b) const {
      return a.release != b.release ? a.release > b.release : a.seq > b.seq;
    }
  };

  LinkParams params_;
  LinkStats stats_;
  std::mt19937_64 rng_;
  std::vector<Held> heap_;  // min-heap on (release, seq)
  std::uint64_t next_seq_ = 0;
  bool ge_bad_ = false;     // Gilbert-Elliott state
  Nanos last_release_ = 0;  // latest release time handed out, for in-order release
  Nanos wire_free_ = 0;     // when the serialiser finishes the last admitted packet
};

// Parses "5ms", "250us", "1.5s", "100ns"; a bare number is milliseconds.
std::optional<Nanos> parse_duration(std::string_view text);
// Parses "10%" or "0.1".
std::optional<double> parse_probability(std::string_view text);
// Parses "100mbit", "1.5gbit", "800kbit", "64000" (bit/s); 0 means unlimited.
std::optional<std::uint64_t> parse_rate(std::string_view text);
std::string format_duration(Nanos ns);

}  // namespace ntm::linkemu
