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

  /// One tunnel packet of a send_batch(): `len` bytes at `data` along `path`.
  struct Datagram {
    Path path;
    const uint8_t* data = nullptr;
    size_t len = 0;
  };
  /// Sends `n` datagrams in order with as few syscalls as the kernel allows: one sendmmsg per
  /// up to kMaxMessages messages, and consecutive datagrams of one size to one path (the last
  /// of a run may be shorter) as one UDP GSO message (UDP_SEGMENT), which the kernel splits
  /// into exactly those datagrams. Relayed paths get their relay header per datagram, as
  /// send(Path) does. Sets `sent[i]` to whether the kernel took datagram i; a refused one is
  /// skipped and the rest still go. Returns the number taken. When the kernel refuses GSO
  /// (no checksum offload on the route, an old kernel), the socket stops using it and the run
  /// goes again datagram by datagram (a refused destination leaves GSO on).
  size_t send_batch(const Datagram* d, size_t n, bool* sent);
  static constexpr size_t kMaxMessages = 64;
  /// At most this many datagrams in one GSO message (the kernel's UDP_MAX_SEGMENTS) and at
  /// most kMaxGsoBytes in all (an IP datagram's payload).
  static constexpr size_t kMaxGsoSegments = 64;
  static constexpr size_t kMaxGsoBytes = 65000;
  /// Whether send_batch() uses UDP GSO on this socket. Off until enable_gso(); the node turns
  /// it on (NTM_UDP_GSO=0 keeps it off). The test network turns tx-udp-segmentation off on
  /// every interface (tests/net/topology.sh), so a GSO message is split at the sender's own
  /// interface and routers and the link emulator still see wire packets.
  bool gso() const { return gso_; }
  void enable_gso() { gso_ = true; }
  /// Asks the kernel to coalesce datagrams of one flow into one receive (UDP_GRO, Linux
  /// 5.0+): the reader must split them by the size in the UDP_GRO control message
  /// (DataPlane's receive loop does). False when the kernel does not offer it.
  bool enable_gro();
  void disable_gso() { gso_ = false; }

  /// The bound address (may be a wildcard).
  proto::Endpoint local() const;
  /// The addresses this node reports to its DC as its real addresses: the bound address, or
  /// when it is a wildcard, every non-link-local interface address with the bound port.
  std::vector<proto::Endpoint> real_addresses() const;

 private:
  int fd_ = -1;
  bool v6_ = false;
  bool gso_ = false;
};

}  // namespace ntm::packet
