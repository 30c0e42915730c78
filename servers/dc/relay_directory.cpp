#include "dc/relay_directory.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>

namespace ntm::dc {
namespace {

int family_of(const proto::Endpoint& e) {
  return e.is_v4() ? AF_INET : AF_INET6;
}

/// Microseconds since the epoch: status sequences keep increasing across DC restarts (the RS
/// answers only a sequence above the last one it answered).
uint64_t wall_micros() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return uint64_t(tv.tv_sec) * 1000000u + uint64_t(tv.tv_usec);
}

}  // namespace

RelayDirectory::RelayDirectory(std::vector<std::vector<proto::Endpoint>> relays,
                               std::optional<crypto::Key> key,
                               std::chrono::milliseconds check_interval)
    : check_interval_(check_interval) {
  if (key) keys_ = std::make_unique<crypto::RelayKeys>(*key);
  for (auto& eps : relays) {
    Relay r;
    r.endpoints = eps;
    r.last_answer.assign(eps.size(), Clock::time_point{});
    r.reported_failed.assign(eps.size(), Clock::time_point{});
    relays_.push_back(std::move(r));
  }
}

std::vector<std::pair<proto::Endpoint, proto::Bytes>> RelayDirectory::status_requests() {
  std::vector<std::pair<proto::Endpoint, proto::Bytes>> out;
  if (!configured()) return out;
  outstanding_.clear();
  sent_at_ = Clock::now();
  // A sequence of its own for every endpoint: an RS answers each sequence once, and the
  // endpoints of one RS (IPv4, IPv6) share its replay memory.
  for (size_t r = 0; r < relays_.size(); ++r)
    for (size_t i = 0; i < relays_[r].endpoints.size(); ++i) {
      sequence_ = std::max(sequence_ + 1, wall_micros());
      out.push_back({relays_[r].endpoints[i], keys_->make_status_request(sequence_)});
      outstanding_.push_back({r, i, sequence_});
    }
  return out;
}

bool RelayDirectory::on_status(proto::ByteView d, const proto::Endpoint& from,
                               Clock::time_point now) {
  proto::RelayStatus s;
  if (!configured() || !proto::parse_relay_status(d, s) || !keys_->verify_status(d)) return false;
  for (auto [r, i, seq] : outstanding_) {
    if (seq != s.sequence || !(relays_[r].endpoints[i] == from)) continue;
    relays_[r].last_answer[i] = now;
    // An answer to a request sent after the failure report clears it.
    if (relays_[r].reported_failed[i] < sent_at_) relays_[r].reported_failed[i] = {};
    relays_[r].sessions = s.sessions;
    return true;
  }
  return false;
}

void RelayDirectory::report_failure(const proto::Endpoint& endpoint, Clock::time_point now) {
  for (auto& r : relays_)
    for (size_t i = 0; i < r.endpoints.size(); ++i)
      if (r.endpoints[i] == endpoint) r.reported_failed[i] = now;
}

bool RelayDirectory::endpoint_alive(const Relay& r, size_t i, Clock::time_point now) const {
  return r.last_answer[i] != Clock::time_point{} && now - r.last_answer[i] < 3 * check_interval_ &&
         r.reported_failed[i] == Clock::time_point{};
}

std::optional<RelayDirectory::Choice> RelayDirectory::choose(int family_a, int family_b,
                                                             Clock::time_point now) const {
  std::optional<Choice> best;
  uint32_t best_load = 0;
  for (size_t r = 0; r < relays_.size(); ++r) {
    const Relay& relay = relays_[r];
    std::optional<proto::Endpoint> a, b;
    for (size_t i = 0; i < relay.endpoints.size(); ++i) {
      if (!endpoint_alive(relay, i, now)) continue;
      if (!a && family_of(relay.endpoints[i]) == family_a) a = relay.endpoints[i];
      if (!b && family_of(relay.endpoints[i]) == family_b) b = relay.endpoints[i];
    }
    if (!a || !b) continue;
    if (!best || relay.sessions < best_load) {
      best = Choice{*a, *b, r};
      best_load = relay.sessions;
    }
  }
  return best;
}

proto::Bytes RelayDirectory::issue_ticket(uint32_t session_id, uint32_t expiry,
                                          const crypto::Key& a, const crypto::Key& b) const {
  return keys_->issue_ticket(session_id, expiry, a, b);
}

crypto::Key RelayDirectory::side_key(uint8_t side, proto::ByteView ticket) const {
  return keys_->side_key(side, ticket);
}

size_t RelayDirectory::alive(Clock::time_point now) const {
  size_t n = 0;
  for (auto& r : relays_) {
    bool any = false;
    for (size_t i = 0; i < r.endpoints.size(); ++i) any = any || endpoint_alive(r, i, now);
    n += any;
  }
  return n;
}

}  // namespace ntm::dc
