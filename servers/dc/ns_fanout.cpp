#include "dc/ns_fanout.h"

namespace ntm::dc {

struct NsFanout::Pending {
  Done done;
  size_t waiting = 0;  ///< processes that have not answered or failed yet
  bool decided = false, no_connection = false, unavailable = false;
};

NsFanout::NsFanout(asio::io_context& io, const crypto::StaticKeyPair& dc_key,
                   const crypto::Key& ns_public, const std::vector<proto::Endpoint>& processes,
                   std::chrono::milliseconds timeout) {
  for (const auto& ep : processes)
    clients_.push_back(std::make_unique<NsClient>(io, dc_key, ns_public, ep, timeout));
}

bool NsFanout::open(std::string& error) {
  for (auto& c : clients_)
    if (!c->open(error)) return false;
  return true;
}

void NsFanout::notify(const crypto::Key& node, Done done) {
  ++stats_.notify_requests;
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  p->waiting = clients_.size();
  // `waiting` counts every process before the first is asked, so even a result that came
  // at once could not decide early.
  for (auto& c : clients_) c->notify(node, [this, p](Result r) { on_result(p, r); });
}

void NsFanout::on_result(const std::shared_ptr<Pending>& p, Result r) {
  --p->waiting;
  if (p->decided) return;
  Result outcome;
  if (r == Result::kSent) {
    outcome = Result::kSent;
  } else {
    if (r == Result::kNoConnection) p->no_connection = true;
    if (r == Result::kUnavailable) p->unavailable = true;
    if (p->waiting > 0) return;
    outcome = p->no_connection ? Result::kNoConnection
              : p->unavailable ? Result::kUnavailable
                               : Result::kRefused;
  }
  p->decided = true;
  ++(outcome == Result::kSent           ? stats_.sent
     : outcome == Result::kNoConnection ? stats_.no_connection
                                        : stats_.failed);
  if (p->done) {
    Done done = std::move(p->done);
    done(outcome);
  }
}

NsClientStats NsFanout::totals() const {
  NsClientStats t;
  for (auto& c : clients_) {
    const NsClientStats& s = c->stats();
    t.notify_requests += s.notify_requests;
    t.sent += s.sent;
    t.no_connection += s.no_connection;
    t.failed += s.failed;
    t.handshakes += s.handshakes;
    t.retransmissions += s.retransmissions;
    t.drops += s.drops;
  }
  return t;
}

}  // namespace ntm::dc
