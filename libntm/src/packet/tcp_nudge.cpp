#include "packet/tcp_nudge.h"

#include <cstring>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"

namespace ntm::packet {
namespace {

bool is_peer(const tcp_pcb* pcb, const std::optional<uint32_t>& vip4,
             const std::optional<Vip6>& vip6) {
  if (IP_IS_V4_VAL(pcb->remote_ip))
    return vip4 && ip4_addr_get_u32(ip_2_ip4(&pcb->remote_ip)) == *vip4;
  return vip6 && std::memcmp(ip_2_ip6(&pcb->remote_ip)->addr, vip6->data(), 16) == 0;
}

/// Whether `pcb`'s sent data waits for a retransmission timer that a working path would
/// not have needed.
bool waiting_for_timer(const tcp_pcb* pcb) {
  if (!pcb->unacked) return false;
  if (pcb->nrtx > 0) return true;
#ifdef LWIP_TCP_NTM_SACK
  uint32_t age = TCP_NOW_US() - pcb->unacked->xmit_us;
  uint32_t overdue = pcb->srtt_us ? 2 * pcb->srtt_us : TCP_RTO_INITIAL_MS * 1000U;
  return age > overdue;
#else
  return false;
#endif
}

}  // namespace

size_t nudge_tcp(std::optional<uint32_t> vip4, const std::optional<Vip6>& vip6) {
  if (!vip4 && !vip6) return 0;
  size_t nudged = 0;
  LOCK_TCPIP_CORE();
  for (tcp_pcb* pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
    if (!is_peer(pcb, vip4, vip6) || !waiting_for_timer(pcb)) continue;
    pcb->nrtx = 0;
#ifdef LWIP_TCP_NTM_SACK
    // The timer fires now: lwIP's retransmission-timeout path resends from the first
    // unacknowledged segment (tcp_timer.c, RFC 6298 §5.4).
    pcb->rtx_due_us = TCP_NOW_US();
    pcb->rtx_armed = 1;
    tcp_timer_kick(pcb->rtx_due_us);
#else
    pcb->rtime = pcb->rto;  // due at the next slow-timer tick
#endif
    ++nudged;
  }
  UNLOCK_TCPIP_CORE();
  return nudged;
}

}  // namespace ntm::packet
