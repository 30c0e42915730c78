#include "proto/endpoint.h"

#include <arpa/inet.h>

#include <cstring>

namespace ntm::proto {

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Endpoint e;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    std::memcpy(&e.ss_, sa, sizeof(sockaddr_in));
    return e;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&e.ss_);
      s4->sin_family = AF_INET;
      s4->sin_port = s6->sin6_port;
      std::memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
      return e;
    }
    std::memcpy(&e.ss_, sa, sizeof(sockaddr_in6));
    reinterpret_cast<sockaddr_in6*>(&e.ss_)->sin6_flowinfo = 0;
    return e;
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An IPv6 address needs brackets: "2001:db8::1:4500" is ambiguous.
    if (host.find(':') != std::string::npos) return std::nullopt;
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  unsigned long p = std::stoul(port);
  if (p > 65535) return std::nullopt;
  Endpoint e;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&e.ss_);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&e.ss_);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(uint16_t(p));
    return e;
  }
  if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(uint16_t(p));
    // "[::ffff:a.b.c.d]:p" is the IPv4 endpoint, as from_sockaddr() sees it on the wire.
    return from_sockaddr(e.sa(), sizeof(sockaddr_in6));
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::decode(ByteView wire) {
  Endpoint e;
  if (wire.size() == 7 && wire[0] == 4) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&e.ss_);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(get_u16(&wire[1]));
    std::memcpy(&s4->sin_addr, &wire[3], 4);
    return e;
  }
  if (wire.size() == 19 && wire[0] == 6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&e.ss_);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(get_u16(&wire[1]));
    std::memcpy(&s6->sin6_addr, &wire[3], 16);
    return e;
  }
  return std::nullopt;
}

void Endpoint::encode(Writer& w) const {
  if (is_v4()) {
    auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss_);
    w.u8(4);
    w.u16(ntohs(s4->sin_port));
    w.raw(&s4->sin_addr, 4);
  } else {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss_);
    w.u8(6);
    w.u16(ntohs(s6->sin6_port));
    w.raw(&s6->sin6_addr, 16);
  }
}

uint16_t Endpoint::port() const {
  if (is_v4()) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port);
  if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
  return 0;
}

Endpoint Endpoint::as_v6_mapped() const {
  if (!is_v4()) return *this;
  Endpoint e;
  auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss_);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&e.ss_);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = s4->sin_port;
  s6->sin6_addr.s6_addr[10] = 0xff;
  s6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
  return e;
}

std::string Endpoint::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (is_v4()) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (is_v6()) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "invalid";
}

bool Endpoint::operator==(const Endpoint& o) const {
  if (ss_.ss_family != o.ss_.ss_family) return false;
  if (is_v4()) {
    auto *a = reinterpret_cast<const sockaddr_in*>(&ss_),
         *b = reinterpret_cast<const sockaddr_in*>(&o.ss_);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (is_v6()) {
    auto *a = reinterpret_cast<const sockaddr_in6*>(&ss_),
         *b = reinterpret_cast<const sockaddr_in6*>(&o.ss_);
    return a->sin6_port == b->sin6_port && std::memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0 &&
           a->sin6_scope_id == b->sin6_scope_id;
  }
  return true;
}

}  // namespace ntm::proto
