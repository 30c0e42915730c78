// Loss recovery of NTM's lwIP TCP (libntm/lwip/patches/), deterministically: A sends a
// known byte stream to B over a 20 ms RTT, 100 Mbit/s in-memory link while a fault script
// drops, reorders or duplicates chosen packets. Every test checks that B received exactly
// the bytes A sent (and the FIN), and how A repaired each loss — by SACK-based loss recovery
// (RFC 6675, RFC 8985 RACK), a tail loss probe (RFC 8985 §7), or a retransmission timeout
// (RFC 6298) — from the counters the patches keep per connection (tcp_pcb.ntm_stats).
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "sim.h"

namespace ntm::tcptest {
namespace {

constexpr uint64_t kSecond = 1000000;
constexpr size_t kMss = 1380;  // libntm/lwip/lwipopts_tcp.h

// Every test runs once per congestion controller: loss recovery must not depend on it.
class Recovery : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { ASSERT_EQ(sim.a().set_congestion_control(GetParam()), 0) << GetParam(); }

  /// Connects, sends `bytes` from A to B followed by FIN, and runs until B has the FIN and
  /// A has everything acknowledged (or 60 s of virtual time pass).
  void transfer(size_t bytes, FaultScript faults = {}) {
    sim.set_faults(std::move(faults));
    ASSERT_TRUE(sim.connect()) << "handshake did not complete";
    data = pattern(bytes);
    start_us = sim.now_us();
    sim.a().send(data.data(), data.size(), 1);
    bool done = sim.run_until(
        [&] {
          size_t n;
          int fin;
          sim.b().received(&n, &fin);
          tcpt_info i;
          sim.a().info(&i);
          return fin && sim.a().unqueued() == 0 && i.unacked_bytes == 0;
        },
        60 * kSecond);
    elapsed_us = sim.now_us() - start_us;
    sim.a().info(&info);
    EXPECT_TRUE(done) << "transfer did not complete in 60 s of virtual time";
    EXPECT_FALSE(sim.a().failed());
    EXPECT_FALSE(sim.b().failed());
  }

  /// B received exactly what A sent, and the FIN.
  void expect_exact_delivery() {
    size_t n;
    int fin;
    const uint8_t* got = sim.b().received(&n, &fin);
    ASSERT_EQ(n, data.size());
    EXPECT_EQ(0, std::memcmp(got, data.data(), n)) << "delivered bytes differ";
    EXPECT_TRUE(fin) << "no FIN";
  }

  /// 3 % random loss in both directions (a fixed pseudo-random sequence) on a 2 MB transfer:
  /// every byte arrives, and SACK recovery or loss probes, not the timer, repair the losses.
  void random_loss_both_ways() {
    uint32_t x = 12345;
    transfer(2000000, [&x](bool, const Segment& s) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      Verdict v;
      if (s.data_index != 0 && x % 1000 < 30) v.fate = Fate::kDrop;
      return v;
    });
    expect_exact_delivery();
    EXPECT_GT(sim.dropped(true), 20);
    EXPECT_GE(info.rexmit_recovery + info.rexmit_tlp, unsigned(sim.dropped(true)) / 2);
    EXPECT_LE(info.rto_events, 1u);
  }

  /// Data segments A sent more than once (the wire's view of retransmissions).
  int wire_retransmissions() const {
    int n = 0;
    for (const Segment& s : sim.sent(true))
      if (s.transmission > 1) ++n;
    return n;
  }

  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr,
                   "A: rexmit recovery %u tlp %u (probe %u) rto %u, rto events %u, "
                   "recoveries %u, total %u; cwnd %u ssthresh %u srtt %u us rto %u ms\n",
                   info.rexmit_recovery, info.rexmit_tlp, info.probe_tlp, info.rexmit_rto,
                   info.rto_events, info.recoveries, info.rexmit_total, info.cwnd, info.ssthresh,
                   info.srtt_us, info.rto_ms);
      std::string t = sim.trace(true);
      if (t.size() > 20000 && !std::getenv("TCPT_FULL_TRACE"))
        t = t.substr(0, 10000) + "...\n" + t.substr(t.size() - 10000);
      std::fprintf(stderr, "A -> B:\n%s", t.c_str());
      t = sim.trace(false);
      if (t.size() > 20000 && !std::getenv("TCPT_FULL_TRACE"))
        t = t.substr(0, 10000) + "...\n" + t.substr(t.size() - 10000);
      std::fprintf(stderr, "B -> A:\n%s", t.c_str());
    }
  }

  /// Link parameters: the defaults; started 1.5 s before the TCP clock wraps for ClockWrap;
  /// 1 Gbit/s for DeepReordering, where its 2 MB transfer stays below the bandwidth-delay
  /// product (2.5 MB), so no queue builds (a growing queue changes the RTT by more than the
  /// reordering window, which would be a different test).
  static LinkParams link_for_this_test() {
    LinkParams p;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string suite = info->test_suite_name(), name = info->name();
    if (suite.find("ClockWrap") != std::string::npos) p.start_us = (uint64_t(1) << 32) - 1500000;
    if (name.find("DeepReordering") != std::string::npos) p.rate_bps = 1000000000;
    if (suite.find("InputBatches") != std::string::npos) p.rx_batch_us = 1000;
    return p;
  }

  Sim sim{link_for_this_test()};
  std::vector<uint8_t> data;
  tcpt_info info{};
  uint64_t start_us = 0, elapsed_us = 0;
};

/// Drops the first transmission of the data segments whose index is in `which`.
FaultScript drop_first_transmission(std::set<int> which) {
  return [which](bool forward, const Segment& s) {
    Verdict v;
    if (forward && s.transmission == 1 && which.count(s.data_index)) v.fate = Fate::kDrop;
    return v;
  };
}

/// Index of the last data-carrying segment of a transfer of `bytes` (SYN is index 0).
int last_data_index(size_t bytes) {
  return int((bytes + kMss - 1) / kMss);
}

TEST_P(Recovery, CleanPathDeliversEverythingWithoutRetransmission) {
  transfer(1000000);
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 0);
  EXPECT_EQ(info.rexmit_total, 0u);
  EXPECT_EQ(info.recoveries, 0u);
}

// RFC 6675: the receiver SACKs what arrives after the hole; once DupThresh segments above
// it are SACKed the hole is retransmitted at once, in one recovery episode, with no RTO.
TEST_P(Recovery, MiddleSegmentRepairedBySack) {
  transfer(1000000, drop_first_transmission({100}));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 1);
  EXPECT_EQ(info.rexmit_recovery, 1u);
  EXPECT_EQ(info.recoveries, 1u);
  EXPECT_EQ(info.rto_events, 0u);
}

// The very first data segment: the initial window holds few segments, so the SACKs that
// reveal the hole must let new data out (pipe falls as segments are SACKed: RFC 6675's
// limited transmit) until DupThresh segments are SACKed.
TEST_P(Recovery, FirstSegmentRepairedBySack) {
  transfer(200000, drop_first_transmission({1}));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 1);
  EXPECT_EQ(info.rexmit_recovery, 1u);
  EXPECT_EQ(info.rto_events, 0u);
}

// Several holes in one window: one recovery episode retransmits each exactly once.
TEST_P(Recovery, SeveralLossesInOneWindowRepairedInOneEpisode) {
  transfer(1000000, drop_first_transmission({200, 203, 204, 230, 260}));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 5);
  EXPECT_EQ(info.rexmit_recovery, 5u);
  EXPECT_EQ(info.recoveries, 1u);
  EXPECT_EQ(info.rto_events, 0u);
}

// A burst: 30 consecutive segments of one window lost, as in a handover.
TEST_P(Recovery, BurstOfThirtyRepairedWithoutTimeout) {
  std::set<int> burst;
  for (int i = 300; i < 330; ++i) burst.insert(i);
  transfer(1500000, drop_first_transmission(burst));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 30);
  EXPECT_EQ(info.rexmit_recovery, 30u);
  EXPECT_EQ(info.rto_events, 0u);
}

// The last segment: nothing follows it to be SACKed, so no duplicate ACK can reveal the
// loss. A tail loss probe (RFC 8985 §7.3) retransmits it after about two RTTs instead of
// waiting for the retransmission timeout.
TEST_P(Recovery, LastSegmentRepairedByTailLossProbe) {
  const size_t bytes = 100 * kMss + 500;
  transfer(bytes, drop_first_transmission({last_data_index(bytes)}));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 1);
  EXPECT_EQ(info.rexmit_tlp, 1u);
  EXPECT_EQ(info.rto_events, 0u);
}

// The last few segments of a transfer: the probe's SACK reveals the rest, which SACK
// recovery repairs.
TEST_P(Recovery, LastThreeSegmentsRepairedByProbeAndSack) {
  const size_t bytes = 100 * kMss;
  int last = last_data_index(bytes);
  transfer(bytes, drop_first_transmission({last - 2, last - 1, last}));
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 3);
  EXPECT_EQ(info.rexmit_tlp, 1u);
  EXPECT_EQ(info.rexmit_recovery, 2u);
  EXPECT_EQ(info.rto_events, 0u);
}

// A lost retransmission: RACK (RFC 8985 §6) notices that segments sent after the
// retransmission were delivered and the retransmission was not, and retransmits again,
// without waiting for the (backed-off) retransmission timeout.
TEST_P(Recovery, LostRetransmissionRepairedByRack) {
  transfer(1000000, [](bool forward, const Segment& s) {
    Verdict v;
    if (forward && s.data_index == 100 && s.transmission <= 2) v.fate = Fate::kDrop;
    return v;
  });
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 2);
  EXPECT_EQ(info.rexmit_recovery, 2u);
  EXPECT_EQ(info.rto_events, 0u);
}

// Lost pure ACKs: later cumulative ACKs cover them; nothing is retransmitted.
TEST_P(Recovery, LostAcksNeedNoRetransmission) {
  int acks = 0;
  transfer(1000000, [&acks](bool forward, const Segment& s) {
    Verdict v;
    // Two of every three ACKs while the bulk of the data flows; not the last ones, whose
    // loss only a retransmission can make up for.
    if (!forward && s.is_pure_ack() && ++acks > 20 && acks < 300 && acks % 3 != 0)
      v.fate = Fate::kDrop;
    return v;
  });
  expect_exact_delivery();
  EXPECT_GT(sim.dropped(false), 100);
  EXPECT_EQ(wire_retransmissions(), 0);
  EXPECT_EQ(info.rexmit_total, 0u);
}

// Reordering by a few segments, after the sender has seen reordering once (a segment that
// arrived two segments late): RACK's reordering window (RFC 8985 §6.2) absorbs it and
// nothing is retransmitted.
TEST_P(Recovery, ReorderingOfAFewSegmentsIsNotLoss) {
  constexpr uint64_t kSegmentTime = 1420 * 8 * kSecond / 100000000 + 1;  // at 100 Mbit/s
  transfer(1500000, [](bool forward, const Segment& s) {
    Verdict v;
    if (forward && s.transmission == 1) {
      if (s.data_index == 50) v.extra_delay_us = 2 * kSegmentTime;  // arrives 2 late
      if (s.data_index % 100 == 0 && s.data_index >= 200) v.extra_delay_us = 5 * kSegmentTime;
    }
    return v;
  });
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 0);
  EXPECT_EQ(info.rexmit_total, 0u);
  EXPECT_EQ(info.rto_events, 0u);
}

// Deep reordering (a segment 10 segments late) before any was seen: RACK has no
// reordering window yet and retransmits the late segment once; the original's ACK, faster
// than any round trip, shows it was reordering, not loss, and from then on the window
// (a quarter of the minimum RTT) absorbs the same reordering: no more retransmissions.
TEST_P(Recovery, DeepReorderingCostsAtMostOneSpuriousRetransmission) {
  constexpr uint64_t kSegmentTime = 1420 * 8 * kSecond / 1000000000 + 1;  // at 1 Gbit/s
  transfer(2000000, [](bool forward, const Segment& s) {
    Verdict v;
    if (forward && s.transmission == 1 && s.data_index >= 100 && s.data_index % 100 == 0)
      v.extra_delay_us = 10 * kSegmentTime;
    return v;
  });
  expect_exact_delivery();
  EXPECT_LE(wire_retransmissions(), 1);
  EXPECT_EQ(info.rto_events, 0u);
}

// Duplicated data segments and ACKs are harmless: no spurious retransmission.
TEST_P(Recovery, DuplicatedPacketsCauseNoRetransmission) {
  transfer(1000000, [](bool, const Segment& s) {
    Verdict v;
    if (s.data_index % 7 == 3 || (s.is_pure_ack() && s.ack % 5 == 0)) v.fate = Fate::kDuplicate;
    return v;
  });
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 0);
  EXPECT_EQ(info.rexmit_total, 0u);
}

// Random loss of 3 % in both directions (a fixed pseudo-random sequence): every byte
// arrives, and SACK recovery, not the timer, does the repairing.
TEST_P(Recovery, RandomLossBothWays) {
  random_loss_both_ways();
}

// A peer that does not do SACK (its SACK-permitted option stripped on the way): three
// losses in one window are repaired by duplicate ACKs and NewReno partial ACKs (RFC 6582),
// one per round trip, without a timeout.
TEST_P(Recovery, WithoutSackNewRenoRepairsEachHole) {
  transfer(1000000, [](bool forward, const Segment& s) {
    Verdict v;
    v.strip_sack_permitted = true;
    if (forward && s.transmission == 1 &&
        (s.data_index == 150 || s.data_index == 160 || s.data_index == 170))
      v.fate = Fate::kDrop;
    return v;
  });
  expect_exact_delivery();
  for (const Segment& s : sim.sent(false)) EXPECT_TRUE(s.sacks.empty());
  EXPECT_EQ(wire_retransmissions(), 3);
  EXPECT_EQ(info.rexmit_recovery, 3u);
  EXPECT_EQ(info.rto_events, 0u);
}

// Everything lost for longer than the RTO (a link outage): the timer repairs it, backing
// off, and the connection resumes and completes once the link is back.
TEST_P(Recovery, OutageRepairedByTimeout) {
  uint64_t outage_start = 0;
  transfer(1000000, [&](bool forward, const Segment& s) {
    Verdict v;
    if (forward && s.data_index == 200 && s.transmission == 1) outage_start = s.at_us;
    if (outage_start && s.at_us < outage_start + 700000) v.fate = Fate::kDrop;
    return v;
  });
  expect_exact_delivery();
  EXPECT_GE(info.rto_events, 1u);
  EXPECT_GT(info.rexmit_rto, 0u);
}

// The TCP clock (32 bits of microseconds) wraps during the transfer, 2^31 us after the
// stack's zeroed timestamps: every timer and comparison must use wrapping arithmetic and
// never mistake an unset (zero) time for one in the future. 2 % loss both ways, so
// recovery, probes and (with BBR) pacing all run across the wrap.
class ClockWrap : public Recovery {};
TEST_P(ClockWrap, LossyTransferAcrossTheWrap) {
  uint32_t x = 777;
  transfer(3000000, [&x](bool, const Segment& s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    Verdict v;
    if (s.data_index != 0 && x % 1000 < 20) v.fate = Fate::kDrop;
    return v;
  });
  expect_exact_delivery();
  EXPECT_GT(sim.dropped(true), 10);
  EXPECT_GT(info.rexmit_recovery + info.rexmit_tlp, 0u);
}
INSTANTIATE_TEST_SUITE_P(Cc, ClockWrap, ::testing::Values("cubic", "bbr", "reno"),
                         [](const auto& info) { return std::string(info.param); });

// The receiver takes its packets in batches, one every millisecond (about nine data
// segments at 100 Mbit/s), as libntm's receive thread takes one recvmmsg: it acknowledges
// the in-order segments of a batch with one ACK (lwIP patch 0011), and the sender's slow
// start grows by every byte such a stretch ACK delivers (patch 0012).
class InputBatches : public Recovery {
 protected:
  /// B's pure ACKs sent while A's data was in flight (the handshake's and FIN's excluded).
  int data_acks() const {
    int n = 0;
    for (const Segment& s : sim.sent(false))
      if (s.is_pure_ack() && s.at_us > start_us && !(s.flags & 0x01)) ++n;
    return n;
  }
};

TEST_P(InputBatches, OneAckPerBatchOfInOrderSegments) {
  transfer(1000000);
  expect_exact_delivery();
  EXPECT_EQ(wire_retransmissions(), 0);
  int segments = last_data_index(1000000);
  // One ACK per two segments without batches (RFC 5681 4.2): about 362 here.
  EXPECT_LE(data_acks(), segments / 4)
      << "B acknowledged " << segments << " segments with " << data_acks() << " ACKs";
  // No batch gets two: every ACK of B leaves at a different batch time.
  std::set<uint64_t> times;
  for (const Segment& s : sim.sent(false))
    if (s.is_pure_ack() && s.at_us > start_us) EXPECT_TRUE(times.insert(s.at_us).second) << s.at_us;
}

// A loss inside a batch: the segments after the hole are out of order, so each is still
// acknowledged at once with its SACK blocks, and the hole is repaired by SACK recovery, not
// by a timeout. (Under CUBIC and Reno the retransmission waits behind a full queue and its
// ACK reaches A a batch interval - up to 1 ms - after RACK's reordering window closed, so A
// may send it once more; the extra copy is the only cost.)
TEST_P(InputBatches, LossIsStillRepairedBySack) {
  transfer(1000000, drop_first_transmission({100}));
  expect_exact_delivery();
  EXPECT_GE(wire_retransmissions(), 1);
  EXPECT_LE(wire_retransmissions(), 2);
  EXPECT_EQ(info.rexmit_recovery, unsigned(wire_retransmissions()));
  EXPECT_EQ(info.recoveries, 1u);
  EXPECT_EQ(info.rto_events, 0u);
  // The first SACK for the hole left B in the batch the segment after it arrived in.
  bool sacked = false;
  for (const Segment& s : sim.sent(false)) sacked = sacked || !s.sacks.empty();
  EXPECT_TRUE(sacked);
}

TEST_P(InputBatches, RandomLossBothWays) {
  random_loss_both_ways();
}

// Slow start doubles the window every round trip even when each ACK covers ~9 segments:
// with RFC 3465's limit of 2 segments per ACK it would grow by about a quarter per round
// trip. After five round trips (100 ms) from the initial window of 10 segments, A has
// sent at least 150 segments (10 + 20 + 40 + 80 would be 150 by the fourth).
TEST_P(InputBatches, SlowStartKeepsDoublingWithStretchAcks) {
  ASSERT_TRUE(sim.connect());
  data = pattern(8 << 20);
  start_us = sim.now_us();
  sim.a().send(data.data(), data.size(), 1);
  sim.run_until([] { return false; }, 100000);
  int sent = 0;
  for (const Segment& s : sim.sent(true))
    if (s.at_us >= start_us && s.payload > 0) ++sent;
  EXPECT_GE(sent, 150) << "segments sent in the first 5 round trips";
}
INSTANTIATE_TEST_SUITE_P(Cc, InputBatches, ::testing::Values("cubic", "bbr", "reno"),
                         [](const auto& info) { return std::string(info.param); });

INSTANTIATE_TEST_SUITE_P(Cc, Recovery, ::testing::Values("cubic", "bbr", "reno"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace ntm::tcptest
