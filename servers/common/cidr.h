// IPv4/IPv6 prefixes in CIDR notation ("100.64.0.0/24", "fd00:6e74::/112").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace ntm::server {

struct Cidr {
  int family = 0;                  ///< AF_INET or AF_INET6
  std::array<uint8_t, 16> base{};  ///< network address, first 4 bytes for IPv4
  unsigned prefix_len = 0;

  /// Parses "addr/len"; nullopt on bad syntax, length out of range, or host bits set.
  static std::optional<Cidr> parse(const std::string& text);
  unsigned address_bits() const { return family == 2 /* AF_INET */ ? 32 : 128; }
  /// Number of host bits (address bits − prefix length).
  unsigned host_bits() const { return address_bits() - prefix_len; }
  /// base + offset (offset < 2^host_bits, caller checks), in network byte order.
  std::array<uint8_t, 16> at(uint64_t offset) const;
  std::string to_string() const;
};

}  // namespace ntm::server
