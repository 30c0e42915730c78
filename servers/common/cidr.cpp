#include "common/cidr.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace ntm::server {

std::optional<Cidr> Cidr::parse(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  std::string addr = text.substr(0, slash), len = text.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  Cidr c;
  c.prefix_len = unsigned(std::stoul(len));
  if (inet_pton(AF_INET, addr.c_str(), c.base.data()) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.base.data()) == 1) {
    c.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  if (c.prefix_len > c.address_bits()) return std::nullopt;
  unsigned bytes = c.address_bits() / 8;
  for (unsigned bit = c.prefix_len; bit < c.address_bits(); ++bit)
    if (c.base[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
  (void)bytes;
  return c;
}

std::array<uint8_t, 16> Cidr::at(uint64_t offset) const {
  std::array<uint8_t, 16> out = base;
  int last = int(address_bits() / 8) - 1;
  unsigned carry = 0;
  for (int i = last; i >= 0 && (offset || carry); --i) {
    unsigned v = out[i] + unsigned(offset & 0xff) + carry;
    out[i] = uint8_t(v);
    carry = v >> 8;
    offset >>= 8;
  }
  return out;
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, base.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix_len);
}

}  // namespace ntm::server
