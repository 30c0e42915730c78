// The relay servers a DC knows (paper 002 §2.4: "DC manages some relay servers to realize load
// balancing and to avoid a single point of failure"), from its configuration. Each RS endpoint
// is probed with an authenticated status request every relay-check-interval; an endpoint is
// alive while its last answer is younger than three intervals. A relay for a tunnel must be
// alive in each node's family; among those the DC picks the one with the fewest sessions, and
// signs a ticket for the two nodes (docs/protocol.md §12.3). The DC never tells an RS about a
// session: the ticket is the authorization.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "crypto/relay_auth.h"
#include "proto/endpoint.h"

namespace ntm::dc {

class RelayDirectory {
 public:
  using Clock = std::chrono::steady_clock;

  struct Relay {
    std::vector<proto::Endpoint> endpoints;  ///< one per family at most
    uint32_t sessions = 0;                   ///< from its last status
    /// Per endpoint: when it last answered, and whether the DC was told it failed.
    std::vector<Clock::time_point> last_answer;
    std::vector<Clock::time_point> reported_failed;
  };

  /// `relays`: each entry the endpoints of one RS ("198.18.0.20:7300,[2001:db8::20]:7300").
  RelayDirectory(std::vector<std::vector<proto::Endpoint>> relays, std::optional<crypto::Key> key,
                 std::chrono::milliseconds check_interval);

  bool configured() const { return !relays_.empty() && keys_ != nullptr; }
  /// Status requests to send now: (endpoint, datagram). Call every check interval.
  std::vector<std::pair<proto::Endpoint, proto::Bytes>> status_requests();
  /// A status datagram from `from`: true when it authenticates and answers our latest request.
  bool on_status(proto::ByteView d, const proto::Endpoint& from, Clock::time_point now);
  /// A node says `endpoint` stopped answering it: not chosen for a while (until it answers a
  /// status request sent after the report).
  void report_failure(const proto::Endpoint& endpoint, Clock::time_point now);

  struct Choice {
    proto::Endpoint endpoint_a, endpoint_b;  ///< where node A and node B bind
    size_t relay = 0;
  };
  /// The least loaded alive relay with an endpoint of `family_a` and one of `family_b`
  /// (AF_INET/AF_INET6), or nullopt.
  std::optional<Choice> choose(int family_a, int family_b, Clock::time_point now) const;
  /// An 88-byte ticket for `session_id` between identities `a` and `b`, valid until `expiry`,
  /// and the two side keys.
  proto::Bytes issue_ticket(uint32_t session_id, uint32_t expiry, const crypto::Key& a,
                            const crypto::Key& b) const;
  crypto::Key side_key(uint8_t side, proto::ByteView ticket) const;
  size_t size() const { return relays_.size(); }
  /// Relays alive now (for the log and the stats).
  size_t alive(Clock::time_point now) const;

 private:
  bool endpoint_alive(const Relay& r, size_t i, Clock::time_point now) const;

  std::vector<Relay> relays_;
  std::unique_ptr<crypto::RelayKeys> keys_;
  Clock::duration check_interval_;
  uint64_t sequence_ = 0;
  struct Probe {
    size_t relay, endpoint;
    uint64_t sequence;
  };
  std::vector<Probe> outstanding_;  ///< the latest round: one sequence per endpoint
  Clock::time_point sent_at_{};
};

}  // namespace ntm::dc
