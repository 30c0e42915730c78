// Lingering at ntm_stop(): a userspace stack dies with its process, so before the node goes
// away its closed TCP connections get time to deliver what they still hold, as a kernel
// keeps delivering after close(2) — and what they could not deliver is reported, never
// dropped in silence (docs/api.md, ntm_stop).
#pragma once

#include <cstdint>
#include <string>

namespace ntm::node {

/// What TCP connections still hold: data bytes sent or queued but not acknowledged by the
/// peer, and whether their end of stream (FIN) is unacknowledged.
struct TcpBacklog {
  uint64_t unacked_bytes = 0;
  int connections = 0;   ///< connections with unacknowledged data or FIN
  int fins_unacked = 0;  ///< of those, how many still wait for the FIN's acknowledgment
  bool empty() const { return connections == 0; }
};

/// The stack's backlog now (takes lwIP's core lock).
TcpBacklog tcp_backlog();

struct LingerResult {
  TcpBacklog left;  ///< what was still unacknowledged when the wait ended
  uint32_t waited_ms = 0;
  bool stalled = false;  ///< ended because nothing was acknowledged for `stall_ms`
  /// "1380 bytes on 1 TCP connection not acknowledged by the peer after 2000 ms (...)"
  std::string describe() const;
};

/// Waits until no connection holds unacknowledged data or FIN, or no byte has been
/// acknowledged for `stall_ms`, or `limit_ms` have passed, whichever comes first.
LingerResult linger(uint32_t limit_ms, uint32_t stall_ms);

}  // namespace ntm::node
