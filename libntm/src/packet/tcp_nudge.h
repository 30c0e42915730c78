// TCP after a path change (issue 12; paper 002 Fig. 5 keeps the vIP, so the application's TCP
// connections live on — but their retransmission timers know nothing of the move). While a
// node moves, the segments in flight are lost and each connection's retransmission timer backs
// off (RFC 6298 §5.5: 200 ms, 400 ms, 800 ms, ...); when the new path works, a connection
// would otherwise sit out the rest of its backed-off timer before it sends again. Told that
// the path changed, a connection whose sent data waits for the timer retransmits now, with the
// backoff cleared — the response to a connectivity-change indication of
// draft-schuetz-tcpm-tcp-rlci (and, for ICMP, RFC 6069's reverting of the backoff).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "packet/tunnel_table.h"

namespace ntm::packet {

/// The TCP connections whose remote address is `vip4` (network byte order) or `vip6`: each
/// that has unacknowledged data and either is backed off (at least one retransmission timeout
/// since its last new ACK) or whose oldest unacknowledged segment is overdue (sent more than
/// two smoothed RTTs ago, with the patched lwIP) retransmits now, its backoff reset; others
/// are left alone (nothing was lost, or recovery is already under way). Returns how many were
/// nudged. With the packaged lwIP (no fine-grained timer) the retransmission runs at its next
/// 500 ms tick instead. Takes the lwIP core lock: never call it with the lock held.
size_t nudge_tcp(std::optional<uint32_t> vip4, const std::optional<Vip6>& vip6);

}  // namespace ntm::packet
