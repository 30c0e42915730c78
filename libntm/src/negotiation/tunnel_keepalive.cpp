// Keep-alives on tunnel paths (paper 002 Fig. 3 step 20: "to keep the NAT table on the
// route"). Every keep-alive interval, a tunnel that sent nothing since the last tick sends
// one empty data packet (docs/protocol.md §8), so the NAT bindings between the two nodes
// stay open while the application is idle. A busy tunnel sends none: the check compares the
// tunnel's packet counter with the last tick's, so the packet path pays nothing for it.
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

void Negotiator::schedule_tunnel_keepalive() {
  tunnel_keepalive_timer_.expires_after(std::chrono::milliseconds(cfg_.keepalive_interval_ms));
  tunnel_keepalive_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    std::map<uint32_t, uint64_t> now;
    for (auto& t : tunnels_.all()) {
      uint64_t sent = t->session->packets_sent();
      auto last = sent_at_last_tick_.find(t->local_id);
      if (last != sent_at_last_tick_.end() && last->second == sent && data_plane_) {
        data_plane_->send_keepalive(*t);
        sent = t->session->packets_sent();
      }
      now[t->local_id] = sent;
    }
    sent_at_last_tick_ = std::move(now);  // forgets removed tunnels
    schedule_tunnel_keepalive();
  });
}

}  // namespace ntm::negotiation
