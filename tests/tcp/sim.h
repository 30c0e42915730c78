// The deterministic TCP test bench: two lwIP stacks (stack.h) joined by an in-memory link
// with a fixed one-way delay and serialisation rate, a virtual clock, and a fault script
// that decides the fate of every packet: pass, drop, hold back (reorder) or duplicate.
//
// Nothing depends on wall time or on scheduling: the same test produces the same packets
// at the same virtual microseconds on every run, so a test can name the exact segment to
// lose ("the first transmission of the 40th data segment") and assert how it was repaired.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "stack.h"

namespace ntm::tcptest {

/// A TCP/IPv4 packet as the link sees it (fields in host order).
struct Segment {
  uint32_t seq = 0, ack = 0, wnd = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint16_t payload = 0;  ///< TCP payload bytes
  uint8_t flags = 0;     ///< TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10)
  std::vector<std::pair<uint32_t, uint32_t>> sacks;  ///< SACK blocks [left, right)
  /// Which transmission of this sequence number this is on this direction: 1 for the
  /// first, 2 for the first retransmission, ... (0 for pure ACKs).
  int transmission = 0;
  /// Index among the data-carrying packets (payload or SYN/FIN) of this direction, in order
  /// of first transmission: 0 for the SYN, 1 for the first data segment, ...
  int data_index = -1;
  uint64_t at_us = 0;  ///< virtual time it entered the link
  bool is_pure_ack() const { return payload == 0 && !(flags & 0x07); }
};

enum class Fate { kPass, kDrop, kDuplicate };
struct Verdict {
  Fate fate = Fate::kPass;
  uint64_t extra_delay_us = 0;        ///< held back this long beyond the link's delay (reorders)
  bool strip_sack_permitted = false;  ///< rewrite a SYN's SACK-permitted option to NOPs
};

/// Decides each packet's fate; `forward` is true for the A -> B direction.
using FaultScript = std::function<Verdict(bool forward, const Segment& s)>;

struct LinkParams {
  uint64_t one_way_delay_us = 10000;  ///< 20 ms RTT
  uint64_t rate_bps = 100000000;      ///< 100 Mbit/s serialisation, per direction
  /// Virtual time at the start. lwIP's TCP clock is the low 32 bits of it in microseconds
  /// (it wraps every 71.6 minutes), so a start near 2^32 runs a test across the wrap.
  uint64_t start_us = 1000000;
  /// 0: each packet enters the receiving stack when it arrives. Otherwise the receiver
  /// takes its packets every `rx_batch_us` of virtual time, all that arrived since the last
  /// time in one input batch (stack.h input_batch), as libntm's receive thread takes one
  /// recvmmsg.
  uint64_t rx_batch_us = 0;
};

class Sim {
 public:
  explicit Sim(LinkParams params = {});

  const tcpt_ops& a() const { return *a_; }
  const tcpt_ops& b() const { return *b_; }
  uint64_t now_us() const { return now_; }
  void set_faults(FaultScript script) { faults_ = std::move(script); }

  /// Connects A (client) to B (listening), then runs until established.
  bool connect();
  /// Runs the event loop until `done` is true, nothing is left to do, or `limit_us` of
  /// virtual time have passed. Returns `done()`.
  bool run_until(const std::function<bool()>& done, uint64_t limit_us);

  /// Every packet that entered the link, per direction, as parsed (for assertions).
  const std::vector<Segment>& sent(bool forward) const { return forward ? log_ab_ : log_ba_; }
  int dropped(bool forward) const { return forward ? dropped_ab_ : dropped_ba_; }
  /// One line per packet of a direction (time, seq, length, transmission, SACK blocks).
  std::string trace(bool forward) const;

 private:
  struct InFlight {
    uint64_t due;
    uint64_t order;
    std::vector<uint8_t> bytes;
    bool operator>(const InFlight& o) const { return due != o.due ? due > o.due : order > o.order; }
  };
  struct Direction {
    std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> queue;
    uint64_t wire_free = 0;
    std::map<uint32_t, int> transmissions;  // seq -> times seen
    std::map<uint32_t, int> data_index;     // seq -> index of first transmission
    int next_data_index = 0;
  };
  static void output_a(void* ctx, const uint8_t* p, size_t n);
  static void output_b(void* ctx, const uint8_t* p, size_t n);
  static uint64_t clock(void* ctx);
  void enqueue(bool forward, const uint8_t* p, size_t n);

  LinkParams params_;
  const tcpt_ops* a_;
  const tcpt_ops* b_;
  tcpt_host host_a_{}, host_b_{};
  uint64_t now_;
  uint64_t order_ = 0;
  Direction ab_, ba_;
  std::vector<Segment> log_ab_, log_ba_;
  int dropped_ab_ = 0, dropped_ba_ = 0;
  FaultScript faults_;
};

/// Parses the TCP/IPv4 packet; false when it is not one.
bool parse_segment(const uint8_t* p, size_t n, Segment& out);

/// Rewrites a SYN's SACK-permitted option to NOPs (in place).
void strip_sack_permitted(std::vector<uint8_t>& packet);

/// `n` bytes of a pattern that differs at every offset of a transfer (so a misplaced
/// segment cannot compare equal).
std::vector<uint8_t> pattern(size_t n, uint32_t seed = 1);

}  // namespace ntm::tcptest
