// Inner IP reassembly (reassembly.h has the rules). Every byte here came out of an
// authenticated tunnel packet, but from a peer we do not trust: lengths and offsets are
// checked before any copy, and a datagram that could not be put together is counted.
//
// 1. expire datagrams whose first fragment is kTimeout old
// 2. parse: IPv4 (MF flag or offset) or IPv6 (a Fragment header after the fixed header and
//    any hop-by-hop, routing or destination options headers); anything else passes through
// 3. check the fragment on its own: 8-byte multiple unless last, end within 65,535 bytes
// 4. find its datagram by (source, destination, identification[, protocol]), or start one
//    (evicting the oldest when kMaxDatagrams are in progress)
// 5. check it against its siblings: no overlap, one end; copy it in place
// 6. when the received bytes reach the end: rebuild the header, hand the datagram out
#include "packet/reassembly.h"

#include <algorithm>
#include <cstring>

namespace ntm::packet {
namespace {

constexpr uint8_t kIpv6HopByHop = 0, kIpv6Routing = 43, kIpv6Fragment = 44, kIpv6DestOpts = 60;
constexpr size_t kMaxExtensionHeaders = 8;
constexpr size_t kSpareBuffers = 4;

uint16_t get16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

uint16_t ipv4_header_checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(h + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace

struct Reassembler::Datagram {
  std::array<uint8_t, 37> key{};
  size_t key_len = 0;
  Clock::time_point started;
  std::vector<uint8_t> data = std::vector<uint8_t>(kMaxDatagramSize);  ///< fragmentable part
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  ///< received [begin, end), sorted
  uint32_t received = 0;
  std::optional<uint32_t> end;  ///< set by the last fragment (more == false)
  std::vector<uint8_t> header;  ///< from the fragment at offset 0
  size_t next_header_at = 0;
  uint8_t next_header = 0;
  bool v6 = false;
  size_t fragments = 0;

  void reset() {
    ranges.clear();
    received = 0;
    end.reset();
    header.clear();
    fragments = 0;
  }
};

namespace {

/// One inner packet that is a fragment, as parsed by step 2.
struct Fragment {
  std::array<uint8_t, 37> key{};
  size_t key_len = 0;
  const uint8_t* header = nullptr;  ///< IPv4: the IP header; IPv6: the unfragmentable part
  size_t header_len = 0;
  size_t next_header_at = 0;  ///< IPv6: header byte that named the Fragment header
  uint8_t next_header = 0;    ///< IPv6: the Fragment header's Next Header
  const uint8_t* payload = nullptr;
  uint32_t offset = 0, len = 0;  ///< within the fragmentable part, bytes
  bool more = false;
  bool v6 = false;
};

enum class Parse { kNotFragment, kFragment, kMalformed };

/// Step 2. kMalformed: a fragment whose own headers are inconsistent (counted as dropped).
Parse parse(const uint8_t* ip, size_t len, Fragment& f) {
  if (len >= 20 && (ip[0] >> 4) == 4) {
    size_t hl = size_t(ip[0] & 0x0f) * 4;
    uint16_t total = get16(ip + 2), flags = get16(ip + 6);
    bool more = flags & 0x2000;
    uint32_t offset = uint32_t(flags & 0x1fff) * 8;
    if (!more && offset == 0) return Parse::kNotFragment;
    if (hl < 20 || total < hl || total > len) return Parse::kMalformed;
    f.v6 = false;
    f.key[0] = 4;
    std::memcpy(&f.key[1], ip + 12, 8);  // source, destination
    std::memcpy(&f.key[9], ip + 4, 2);   // identification
    f.key[11] = ip[9];                   // protocol
    f.key_len = 12;
    f.header = ip;
    f.header_len = hl;
    f.payload = ip + hl;
    f.len = uint32_t(total - hl);
    f.offset = offset;
    f.more = more;
    return Parse::kFragment;
  }
  if (len >= 40 && (ip[0] >> 4) == 6) {
    size_t end = 40 + size_t(get16(ip + 4));
    if (end > len) return Parse::kNotFragment;  // lwIP judges (and drops) it
    uint8_t nh = ip[6];
    size_t at = 40, nh_at = 6;
    for (size_t i = 0; i < kMaxExtensionHeaders && nh != kIpv6Fragment; ++i) {
      if (nh != kIpv6HopByHop && nh != kIpv6Routing && nh != kIpv6DestOpts) break;
      if (at + 2 > end) return Parse::kNotFragment;
      nh_at = at;
      nh = ip[at];
      at += (size_t(ip[at + 1]) + 1) * 8;
    }
    if (nh != kIpv6Fragment) return Parse::kNotFragment;
    if (at + 8 > end) return Parse::kMalformed;
    uint16_t fo = get16(ip + at + 2);
    f.v6 = true;
    f.key[0] = 6;
    std::memcpy(&f.key[1], ip + 8, 32);       // source, destination
    std::memcpy(&f.key[33], ip + at + 4, 4);  // identification
    f.key_len = 37;
    f.header = ip;
    f.header_len = at;
    f.next_header_at = nh_at;
    f.next_header = ip[at];
    f.payload = ip + at + 8;
    f.len = uint32_t(end - at - 8);
    f.offset = fo & 0xfff8u;
    f.more = fo & 1;
    return Parse::kFragment;
  }
  return Parse::kNotFragment;
}

}  // namespace

Reassembler::Reassembler(std::atomic<uint64_t>& dropped) : dropped_(dropped) {}
Reassembler::~Reassembler() = default;

Reassembler::Status Reassembler::feed(const uint8_t* ip, size_t len, Clock::time_point now,
                                      uint8_t* out, size_t& out_len) {
  expire(now);  // 1
  Fragment f;
  Parse p = parse(ip, len, f);  // 2
  if (p == Parse::kNotFragment) return Status::kNotFragment;
  if (p == Parse::kMalformed) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return Status::kDropped;
  }
  if (f.v6 && f.offset == 0 && !f.more) {
    // An atomic fragment (RFC 6946): the datagram is all there; drop the Fragment header.
    size_t total = f.header_len + f.len;
    std::memcpy(out, f.header, f.header_len);
    std::memcpy(out + f.header_len, f.payload, f.len);
    out[f.next_header_at] = f.next_header;
    put16(out + 4, uint16_t(total - 40));
    out_len = total;
    return Status::kComplete;
  }
  auto find = [&]() -> std::optional<size_t> {
    for (size_t i = 0; i < datagrams_.size(); ++i)
      if (datagrams_[i]->key_len == f.key_len &&
          std::memcmp(datagrams_[i]->key.data(), f.key.data(), f.key_len) == 0)
        return i;
    return std::nullopt;
  };
  auto reject = [&]() {  // this fragment and everything held for its datagram
    if (auto i = find()) discard(*i);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return Status::kDropped;
  };
  uint32_t frag_end = f.offset + f.len;  // 3
  if ((f.more && (f.len == 0 || f.len % 8 != 0)) || f.header_len + frag_end > kMaxDatagramSize)
    return reject();

  Datagram* d = find_or_create(f.key.data(), f.key_len, f.v6, now);  // 4
  // 5. Overlaps and a second, different end make the datagram ambiguous: discard it.
  auto it =
      std::lower_bound(d->ranges.begin(), d->ranges.end(), std::make_pair(f.offset, uint32_t(0)));
  bool overlaps = (it != d->ranges.end() && it->first < frag_end) ||
                  (it != d->ranges.begin() && std::prev(it)->second > f.offset);
  bool bad_end = (!f.more && ((d->end && *d->end != frag_end) ||
                              (!d->ranges.empty() && d->ranges.back().second > frag_end))) ||
                 (f.more && d->end && frag_end > *d->end);
  if (overlaps || bad_end || d->fragments + 1 > kMaxFragments) return reject();
  if (f.len) {
    std::memcpy(d->data.data() + f.offset, f.payload, f.len);
    d->ranges.insert(it, {f.offset, frag_end});
  }
  if (!f.more) d->end = frag_end;
  if (f.offset == 0) {
    d->header.assign(f.header, f.header + f.header_len);
    d->next_header_at = f.next_header_at;
    d->next_header = f.next_header;
  }
  d->received += f.len;
  ++d->fragments;
  if (!d->end || d->received != *d->end) return Status::kHeld;
  return complete(*d, out, out_len);  // 6
}

Reassembler::Datagram* Reassembler::find_or_create(const uint8_t* key, size_t key_len, bool v6,
                                                   Clock::time_point now) {
  for (auto& d : datagrams_)
    if (d->key_len == key_len && std::memcmp(d->key.data(), key, key_len) == 0) return d.get();
  if (datagrams_.size() >= kMaxDatagrams) discard(0);  // the oldest
  std::unique_ptr<Datagram> d;
  if (!spare_.empty()) {
    d = std::move(spare_.back());
    spare_.pop_back();
  } else {
    d = std::make_unique<Datagram>();
  }
  std::memcpy(d->key.data(), key, key_len);
  d->key_len = key_len;
  d->started = now;
  d->v6 = v6;
  datagrams_.push_back(std::move(d));
  return datagrams_.back().get();
}

Reassembler::Status Reassembler::complete(Datagram& d, uint8_t* out, size_t& out_len) {
  // Non-overlapping ranges adding up to the end cover [0, end), so the first fragment, and
  // with it the header, is here.
  size_t index = size_t(
      std::find_if(datagrams_.begin(), datagrams_.end(), [&](auto& p) { return p.get() == &d; }) -
      datagrams_.begin());
  size_t total = d.header.size() + *d.end;
  if (d.header.empty() || total > kMaxDatagramSize) {
    discard(index);
    return Status::kDropped;
  }
  std::memcpy(out, d.header.data(), d.header.size());
  std::memcpy(out + d.header.size(), d.data.data(), *d.end);
  if (d.v6) {
    out[d.next_header_at] = d.next_header;
    put16(out + 4, uint16_t(total - 40));
  } else {
    put16(out + 2, uint16_t(total));
    put16(out + 6, 0);   // no flags, offset 0
    put16(out + 10, 0);  // checksum over the new header
    put16(out + 10, ipv4_header_checksum(out, d.header.size()));
  }
  out_len = total;
  d.reset();
  if (spare_.size() < kSpareBuffers) spare_.push_back(std::move(datagrams_[index]));
  datagrams_.erase(datagrams_.begin() + std::ptrdiff_t(index));
  return Status::kComplete;
}

void Reassembler::discard(size_t index) {
  auto& d = datagrams_[index];
  dropped_.fetch_add(d->fragments, std::memory_order_relaxed);
  d->reset();
  if (spare_.size() < kSpareBuffers) spare_.push_back(std::move(d));
  datagrams_.erase(datagrams_.begin() + std::ptrdiff_t(index));
}

void Reassembler::expire(Clock::time_point now) {
  while (!datagrams_.empty() && now - datagrams_.front()->started >= kTimeout) discard(0);
}

std::optional<Reassembler::Clock::time_point> Reassembler::next_deadline() const {
  if (datagrams_.empty()) return std::nullopt;
  return datagrams_.front()->started + kTimeout;
}

void Reassembler::clear() {
  while (!datagrams_.empty()) discard(0);
}

}  // namespace ntm::packet
