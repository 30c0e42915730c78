#include "sim.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ntm::tcptest {

constexpr uint32_t kIpA = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kIpB = 0x0a000002;  // 10.0.0.2

bool parse_segment(const uint8_t* p, size_t n, Segment& s) {
  if (n < 20 || (p[0] >> 4) != 4 || p[9] != 6) return false;
  size_t ihl = size_t(p[0] & 0x0f) * 4;
  size_t total = (size_t(p[2]) << 8) | p[3];
  if (ihl < 20 || total > n || total < ihl + 20) return false;
  const uint8_t* t = p + ihl;
  size_t thl = size_t(t[12] >> 4) * 4;
  if (thl < 20 || ihl + thl > total) return false;
  auto be32 = [](const uint8_t* q) {
    return (uint32_t(q[0]) << 24) | (uint32_t(q[1]) << 16) | (uint32_t(q[2]) << 8) | q[3];
  };
  s.src_port = uint16_t((t[0] << 8) | t[1]);
  s.dst_port = uint16_t((t[2] << 8) | t[3]);
  s.seq = be32(t + 4);
  s.ack = be32(t + 8);
  s.flags = t[13];
  s.wnd = uint32_t((t[14] << 8) | t[15]);
  s.payload = uint16_t(total - ihl - thl);
  s.sacks.clear();
  for (size_t i = 20; i < thl;) {
    uint8_t kind = t[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= thl || t[i + 1] < 2 || i + t[i + 1] > thl) break;
    uint8_t len = t[i + 1];
    if (kind == 5)
      for (size_t b = i + 2; b + 8 <= i + len; b += 8)
        s.sacks.emplace_back(be32(t + b), be32(t + b + 4));
    i += len;
  }
  return true;
}

// Replaces the SACK-permitted option (kind 4, length 2) of a SYN with two NOPs, as a
// middlebox that strips it would. lwIP's test stacks do not check TCP checksums.
void strip_sack_permitted(std::vector<uint8_t>& p) {
  size_t ihl = size_t(p[0] & 0x0f) * 4;
  size_t thl = size_t(p[ihl + 12] >> 4) * 4;
  for (size_t i = ihl + 20; i + 1 < ihl + thl;) {
    uint8_t kind = p[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    uint8_t len = p[i + 1];
    if (len < 2) break;
    if (kind == 4 && len == 2) p[i] = p[i + 1] = 1;
    i += len;
  }
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    v[i] = uint8_t(x);
  }
  return v;
}

Sim::Sim(LinkParams params)
    : params_(params), a_(tcpt_stack_a()), b_(tcpt_stack_b()), now_(params.start_us) {
  static bool used = false;
  if (used) {
    std::fprintf(stderr,
                 "lwIP cannot be initialised twice in one process: run one test per process "
                 "(ctest does; by hand: --gtest_filter=Recovery.<name>)\n");
    std::abort();
  }
  used = true;
  host_a_ = {this, &Sim::clock, &Sim::output_a};
  host_b_ = {this, &Sim::clock, &Sim::output_b};
  a_->init(&host_a_, kIpA);
  b_->init(&host_b_, kIpB);
}

uint64_t Sim::clock(void* ctx) {
  return static_cast<Sim*>(ctx)->now_;
}
void Sim::output_a(void* ctx, const uint8_t* p, size_t n) {
  static_cast<Sim*>(ctx)->enqueue(true, p, n);
}
void Sim::output_b(void* ctx, const uint8_t* p, size_t n) {
  static_cast<Sim*>(ctx)->enqueue(false, p, n);
}

void Sim::enqueue(bool forward, const uint8_t* p, size_t n) {
  Direction& d = forward ? ab_ : ba_;
  Segment s;
  if (!parse_segment(p, n, s)) return;
  uint32_t span = s.payload + ((s.flags & 0x03) ? 1 : 0);
  if (span > 0) {
    s.transmission = ++d.transmissions[s.seq];
    auto [it, fresh] = d.data_index.try_emplace(s.seq, d.next_data_index);
    if (fresh) ++d.next_data_index;
    s.data_index = it->second;
  }
  s.at_us = now_;
  (forward ? log_ab_ : log_ba_).push_back(s);
  Verdict v = faults_ ? faults_(forward, s) : Verdict{};
  std::vector<uint8_t> bytes(p, p + n);
  if (v.strip_sack_permitted && (s.flags & 0x02)) strip_sack_permitted(bytes);
  if (v.fate == Fate::kDrop) {
    ++(forward ? dropped_ab_ : dropped_ba_);
    return;
  }
  // Serialisation: the packet occupies the wire after the ones before it.
  uint64_t start = std::max(now_, d.wire_free);
  uint64_t tx =
      params_.rate_bps ? (uint64_t(n) * 8 * 1000000 + params_.rate_bps - 1) / params_.rate_bps : 0;
  d.wire_free = start + tx;
  uint64_t due = d.wire_free + params_.one_way_delay_us + v.extra_delay_us;
  if (params_.rx_batch_us)  // taken at the receiver's next batch
    due = (due + params_.rx_batch_us - 1) / params_.rx_batch_us * params_.rx_batch_us;
  int copies = v.fate == Fate::kDuplicate ? 2 : 1;
  for (int i = 0; i < copies; ++i) d.queue.push(InFlight{due, order_++, bytes});
}

std::string Sim::trace(bool forward) const {
  std::string out;
  char line[160];
  for (const Segment& s : forward ? log_ab_ : log_ba_) {
    std::snprintf(line, sizeof line, "%10.3f ms seq %u ack %u len %u flags %02x tx %d idx %d",
                  double(s.at_us) / 1000.0, s.seq, s.ack, s.payload, s.flags, s.transmission,
                  s.data_index);
    out += line;
    for (auto& [l, r] : s.sacks) {
      std::snprintf(line, sizeof line, " sack %u-%u", l, r);
      out += line;
    }
    out += "\n";
  }
  return out;
}

bool Sim::run_until(const std::function<bool()>& done, uint64_t limit_us) {
  const uint64_t end = now_ + limit_us;
  for (int steps = 0; steps < 10000000; ++steps) {
    if (done()) return true;
    // Everything due now: packets first (in arrival order), then timers.
    bool progressed = true;
    while (progressed) {
      progressed = false;
      for (bool fwd : {true, false}) {
        Direction& d = fwd ? ab_ : ba_;
        const tcpt_ops* to = fwd ? b_ : a_;
        bool batch = params_.rx_batch_us && !d.queue.empty() && d.queue.top().due <= now_;
        if (batch) to->input_batch(1);
        while (!d.queue.empty() && d.queue.top().due <= now_) {
          InFlight f = d.queue.top();
          d.queue.pop();
          to->input(f.bytes.data(), f.bytes.size());
          progressed = true;
        }
        if (batch) to->input_batch(0);
      }
      for (const tcpt_ops* s : {a_, b_})
        if (s->next_timer_us() == 0) {
          s->run_timers();
          progressed = true;
        }
      if (done()) return true;
    }
    uint64_t next = UINT64_MAX;
    for (Direction* d : {&ab_, &ba_})
      if (!d->queue.empty()) next = std::min(next, d->queue.top().due);
    for (const tcpt_ops* s : {a_, b_}) {
      uint64_t t = s->next_timer_us();
      if (t != UINT64_MAX) next = std::min(next, now_ + t);
    }
    if (next == UINT64_MAX || next > end) {
      now_ = std::min(next, end);
      return done();
    }
    now_ = std::max(next, now_ + 1);
  }
  return done();
}

bool Sim::connect() {
  if (b_->listen(5001) != 0 || a_->connect(kIpB, 5001) != 0) return false;
  return run_until(
      [&] {
        tcpt_info ia, ib;
        a_->info(&ia);
        b_->info(&ib);
        return ia.state == 4 && ib.state == 4;  // ESTABLISHED
      },
      5000000);
}

}  // namespace ntm::tcptest
