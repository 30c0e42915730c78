#include "node/linger.h"

#include <chrono>
#include <thread>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/tcp.h"
#include "lwip/tcpip.h"

namespace ntm::node {
namespace {

/// Data bytes in the connection's segments not yet acknowledged (the first unacknowledged
/// segment may be acknowledged in part), and whether a FIN is among them.
uint64_t pending_data(const tcp_pcb* pcb, bool& fin) {
  uint64_t bytes = 0;
  fin = false;
  for (const tcp_seg* list : {pcb->unacked, pcb->unsent}) {
    for (const tcp_seg* s = list; s; s = s->next) {
      uint32_t acked = pcb->lastack - lwip_ntohl(s->tcphdr->seqno);
      bytes += s->len - (acked < s->len ? acked : 0);
      if (TCPH_FLAGS(s->tcphdr) & TCP_FIN) fin = true;
    }
  }
  return bytes;
}

}  // namespace

TcpBacklog tcp_backlog() {
  TcpBacklog b;
  LOCK_TCPIP_CORE();
  for (tcp_pcb* pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
    if (!pcb->unsent && !pcb->unacked) continue;
    bool fin;
    b.unacked_bytes += pending_data(pcb, fin);
    ++b.connections;
    if (fin) ++b.fins_unacked;
  }
  UNLOCK_TCPIP_CORE();
  return b;
}

std::string LingerResult::describe() const {
  std::string s = std::to_string(left.unacked_bytes) + " bytes on " +
                  std::to_string(left.connections) + " TCP connection" +
                  (left.connections == 1 ? "" : "s") + " not acknowledged by the peer after " +
                  std::to_string(waited_ms) + " ms";
  if (left.unacked_bytes == 0 && left.fins_unacked > 0) s += " (only the end of stream)";
  s += stalled ? " (no progress)" : " (linger limit)";
  return s;
}

LingerResult linger(uint32_t limit_ms, uint32_t stall_ms) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(limit_ms);
  auto last_progress = start;
  LingerResult r;
  r.left = tcp_backlog();
  uint64_t least = r.left.unacked_bytes;
  int least_connections = r.left.connections;
  while (!r.left.empty()) {
    auto now = Clock::now();
    if (now >= deadline) break;
    if (now - last_progress >= std::chrono::milliseconds(stall_ms)) {
      r.stalled = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    r.left = tcp_backlog();
    if (r.left.unacked_bytes < least || r.left.connections < least_connections) {
      least = std::min(least, r.left.unacked_bytes);
      least_connections = std::min(least_connections, r.left.connections);
      last_progress = Clock::now();
    }
  }
  r.waited_ms =
      uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  return r;
}

}  // namespace ntm::node
