// The node's use of a Notification Server (paper 002 §2.3, Fig. 5 steps 7-8 and 17-20;
// docs/protocol.md §17.4). A node configured for it (NegotiatorConfig::notification) puts the
// Notification attribute in its registration requests; a DC with an NS answers with the NS's
// address and key and a longer registration lifetime. The node then holds a TCP connection
// to the NS (notify/ns_link.h) and, while that connection is up, sends its DC keep-alives
// only every lifetime / 3; while it is down (NS unreachable, restarting) the normal interval
// (keepalive_interval_ms, 15 s) applies, so the node stays reachable through its NAT's UDP
// binding. A notify from the NS makes the node send a keep-alive at once: it re-opens the
// binding, and the DC sends the waiting request to where the keep-alive came from.
#include "negotiation/negotiator.h"
#include "node/log.h"

namespace ntm::negotiation {

void Negotiator::take_notification_offer(const proto::ControlMessage& resp) {
  if (!cfg_.notification) return;
  auto address = resp.get_endpoint(proto::AttrType::kNsAddress);
  auto key = resp.get_key(proto::AttrType::kNsKey);
  if (!address || !key) {
    if (!ns_link_)
      ntm::log().warn(
          "notification server asked for, but the DC offers none: keep-alives every "
          "{} ms",
          cfg_.keepalive_interval_ms);
    return;
  }
  if (!ns_link_) {
    notify::NsLink::Callbacks cb;
    cb.on_state = [this](bool up) { on_ns_state(up); };
    cb.on_notify = [this] { on_ns_notify(); };
    ns_link_ = std::make_unique<notify::NsLink>(
        io_, key_, std::chrono::milliseconds(cfg_.ns_ping_ms), std::move(cb));
  }
  ns_link_->start(*address, *key);
}

uint32_t Negotiator::dc_keepalive_interval() const {
  uint32_t interval = cfg_.keepalive_interval_ms;
  std::lock_guard l(reg_mu_);
  if (!reg_.lifetime_s) return interval;
  uint32_t third = reg_.lifetime_s * 1000 / 3;
  if (ns_link_ && ns_link_->up()) return third;
  return std::min(interval, third);
}

void Negotiator::on_ns_state(bool up) {
  if (stopped_ || recovering_) return;
  ntm::log().info("notification server connection {}: DC keep-alives every {} ms",
                  up ? "up" : "down", dc_keepalive_interval());
  schedule_keepalive();
}

void Negotiator::on_ns_notify() {
  if (stopped_ || recovering_) return;
  schedule_keepalive(0);
}

}  // namespace ntm::negotiation
