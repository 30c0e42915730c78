// A UDP endpoint (IPv4 or IPv6 address + port) and its wire encoding inside attributes.
//
// Wire form (docs/protocol.md §5.1), 7 or 19 bytes:
//   family (u8: 4 or 6) | port (u16, big-endian) | address (4 or 16 bytes, network order)
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>

#include "proto/bytes.h"

namespace ntm::proto {

/// An IPv4 or IPv6 socket address. from_sockaddr() normalises IPv4-mapped IPv6 addresses to
/// IPv4, so an endpoint seen on a dual-stack socket compares equal to the same endpoint seen
/// on an IPv4 one; decode() keeps what the wire says.
class Endpoint {
 public:
  Endpoint() = default;
  /// Copies a sockaddr_in or sockaddr_in6; returns nullopt for other families or short lengths.
  static std::optional<Endpoint> from_sockaddr(const sockaddr* sa, socklen_t len);
  /// Parses "1.2.3.4:5" or "[::1]:5" (IPv6 needs brackets; IPv4-mapped IPv6 becomes IPv4).
  /// Returns nullopt when the text is not such an endpoint.
  static std::optional<Endpoint> parse(const std::string& text);
  /// Decodes the 7- or 19-byte wire form; nullopt on any other length or family byte.
  static std::optional<Endpoint> decode(ByteView wire);

  void encode(Writer& w) const;
  size_t encoded_size() const { return is_v4() ? 7 : 19; }

  bool is_v4() const { return ss_.ss_family == AF_INET; }
  bool is_v6() const { return ss_.ss_family == AF_INET6; }
  bool valid() const { return is_v4() || is_v6(); }
  uint16_t port() const;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss_); }
  socklen_t sa_len() const { return is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }
  /// The same endpoint as an IPv4-mapped IPv6 address when it is IPv4 (for sending on an
  /// AF_INET6 dual-stack socket); unchanged otherwise.
  Endpoint as_v6_mapped() const;
  std::string to_string() const;

  bool operator==(const Endpoint& o) const;

 private:
  sockaddr_storage ss_{};
};

}  // namespace ntm::proto
