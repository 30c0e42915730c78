// Bounds-checked big-endian readers and writers for wire formats. A Reader never reads past
// its span: every get_* returns false (and leaves the output untouched) when too few bytes
// remain, so parsers written with it cannot over-read hostile input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace ntm::proto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (56 - 8 * i));
}
inline uint16_t get_u16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t get_u64(const uint8_t* p) {
  return uint64_t(get_u32(p)) << 32 | get_u32(p + 4);
}

/// Appends big-endian integers and raw bytes to a growing buffer.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    uint8_t b[2];
    put_u16(b, v);
    raw(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4];
    put_u32(b, v);
    raw(b, 4);
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    put_u64(b, v);
    raw(b, 8);
  }
  void raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void raw(ByteView v) { raw(v.data(), v.size()); }
  size_t size() const { return out_.size(); }

 private:
  Bytes& out_;
};

/// Consumes a byte span front to back; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  size_t remaining() const { return in_.size() - pos_; }
  bool get_u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = in_[pos_++];
    return true;
  }
  bool get_u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = proto::get_u16(&in_[pos_]);
    pos_ += 2;
    return true;
  }
  bool get_u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = proto::get_u32(&in_[pos_]);
    pos_ += 4;
    return true;
  }
  bool get_u64(uint64_t& v) {
    if (remaining() < 8) return false;
    v = proto::get_u64(&in_[pos_]);
    pos_ += 8;
    return true;
  }
  bool get_view(size_t n, ByteView& v) {
    if (remaining() < n) return false;
    v = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  ByteView in_;
  size_t pos_ = 0;
};

}  // namespace ntm::proto
