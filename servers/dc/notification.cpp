// The DC's part of the Notification Server (paper 002 §2.3, Fig. 5 steps 17-20;
// docs/protocol.md §17.4): nodes registered with the Notification attribute keep their
// registration with rare keep-alives (ns-registration-lifetime) and hold a TCP connection to
// the NS; a request the DC sends such a node (route direction) also goes to the NS as a
// notification, in parallel with the UDP send (which may reach a NAT binding that expired);
// the woken node sends a keep-alive at once, which re-opens its binding, and every request
// still unanswered is sent again right then to where the keep-alive came from. With several NS
// processes (ns-dc repeated) every notification goes to all of them (NsFanout).
#include <spdlog/spdlog.h>

#include "dc/dc_server.h"

namespace ntm::dc {

unsigned DcServer::lifetime_for(bool notification) const {
  return notification && ns_ ? cfg_.ns_registration_lifetime_s : cfg_.registration_lifetime_s;
}

void DcServer::notify_node(uint32_t index) {
  if (!ns_) return;
  auto s = sessions_.find(index);
  if (s == sessions_.end()) return;
  const NodeRecord* r = registry_.find(s->second.identity);
  if (!r || !r->notification) return;
  ++stats_.ns_notifications;
  std::string who = r->fqdn;
  ns_->notify(r->identity, [this, who](NsFanout::Result res) {
    if (res != NsFanout::Result::kSent && event_log_.allow())
      spdlog::info("notification for {} not delivered: {}", who,
                   res == NsFanout::Result::kNoConnection ? "no connection to the NS"
                   : res == NsFanout::Result::kRefused    ? "refused by the NS"
                                                          : "the NS did not answer");
  });
}

std::string DcServer::ns_stats_line() const {
  const NsFanoutStats& f = ns_->stats();
  NsClientStats t = ns_->totals();
  std::string line = fmt::format(
      " ns: notifications={} sent={} no_connection={} failed={} handshakes={} "
      "retransmissions={} drop={} prompt_resends={}",
      stats_.ns_notifications, f.sent, f.no_connection, f.failed, t.handshakes, t.retransmissions,
      t.drops, stats_.ns_prompt_resends);
  if (ns_->size() > 1) {  // which process held the nodes it woke
    line += fmt::format(" processes={} sent_by_process=", ns_->size());
    for (size_t i = 0; i < ns_->size(); ++i)
      line += fmt::format("{}{}", i ? "," : "", ns_->client(i).stats().sent);
  }
  return line;
}

void DcServer::resend_outstanding(const crypto::Key& identity) {
  if (!ns_) return;  // without an NS the DC behaves as before: its retransmission timers
  std::vector<uint32_t> ids;
  for (auto& [id, o] : outstanding_)
    if (o.identity == identity && o.plaintext[1] != uint8_t(proto::MessageType::kPathChallenge))
      ids.push_back(id);
  for (uint32_t id : ids) {
    auto it = outstanding_.find(id);
    if (it == outstanding_.end()) continue;
    ++stats_.ns_prompt_resends;
    it->second.timer->cancel();
    // Not counted against the request's tries: the node asked for it by waking up.
    if (it->second.tries > 0) --it->second.tries;
    transmit_outstanding(id);
  }
}

}  // namespace ntm::dc
