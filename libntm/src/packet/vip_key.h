// A vIP as a lookup key: 4 (IPv4) or 16 (IPv6) bytes in network byte order, held inline so
// the packet path never allocates to build or hash one.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>

namespace ntm::packet {

using Vip6 = std::array<uint8_t, 16>;

class VipKey {
 public:
  VipKey() = default;
  /// `len` must be 4 or 16.
  VipKey(const void* bytes, size_t len) : len_(uint8_t(len)) {
    std::memcpy(bytes_.data(), bytes, len);
  }

  size_t size() const { return len_; }
  const char* data() const { return reinterpret_cast<const char*>(bytes_.data()); }
  bool operator==(const VipKey& o) const {
    return len_ == o.len_ && std::memcmp(bytes_.data(), o.bytes_.data(), len_) == 0;
  }
  bool operator<(const VipKey& o) const {
    if (len_ != o.len_) return len_ < o.len_;
    return std::memcmp(bytes_.data(), o.bytes_.data(), len_) < 0;
  }
  /// FNV-1a over the address bytes.
  size_t hash() const {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len_; ++i) h = (h ^ bytes_[i]) * 1099511628211ull;
    return size_t(h);
  }

 private:
  uint8_t len_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

struct VipKeyHash {
  size_t operator()(const VipKey& k) const { return k.hash(); }
};

inline VipKey vip_key4(uint32_t vip4_network_order) {
  return VipKey(&vip4_network_order, 4);
}
inline VipKey vip_key6(const Vip6& v6) {
  return VipKey(v6.data(), 16);
}

}  // namespace ntm::packet
