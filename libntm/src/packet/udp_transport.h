// The node's one UDP socket: control messages to the DC and tunnel packets to peers share it,
// so a NAT keeps a single binding for both (paper 003: the DC records NAT outside
// address/port, which is then where peers send tunnel requests).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "packet/path.h"
#include "proto/endpoint.h"

namespace ntm::packet {

class UdpTransport {
 public:
  UdpTransport() = default;
  ~UdpTransport() { close(); }
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  /// Binds `bind` (nullopt: [::]:0 dual-stack, falling back to 0.0.0.0:0 without IPv6).
  bool open(const std::optional<proto::Endpoint>& bind, std::string& error);
  void close();
  int fd() const { return fd_; }

  /// Sends one datagram. Returns false when the kernel refused it (errno set); the caller
  /// counts it. IPv4 destinations are sent as IPv4-mapped on a dual-stack socket.
  bool send(const proto::Endpoint& to, const uint8_t* data, size_t len) const;
  /// Sends one tunnel packet along `path`: as it is on a direct path, behind the relay header
  /// of the session on a relayed one (docs/protocol.md §12.2; one sendmsg, no copy).
  bool send(const Path& path, const uint8_t* data, size_t len) const;

  /// The bound address (may be a wildcard).
  proto::Endpoint local() const;
  /// The addresses this node reports to its DC as its real addresses: the bound address, or
  /// when it is a wildcard, every non-link-local interface address with the bound port.
  std::vector<proto::Endpoint> real_addresses() const;

 private:
  int fd_ = -1;
  bool v6_ = false;
};

}  // namespace ntm::packet
