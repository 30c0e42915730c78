// The DC's side of the channel to its Notification Server (docs/protocol.md §17.3, op 0x20
// notify): when the DC sends a request to a node registered with the NS flag (a route
// direction, a path challenge), it also asks the NS to wake the node, which then sends the DC a
// keep-alive at once (paper 002 Fig. 5 steps 17-20). The channel is the AS's (§14) with the
// NS in the AS's place, and runs on server::ChannelClient (common/channel_client.h) as the
// DC's AsClient does: a Noise IK handshake to the NS's pinned key (mac1, no cookie), then
// sealed admin messages, each retransmitted with its id every kRetransmit until answered or
// `timeout` passes (the NS answers a repeated id from its cache, so a node is notified once per
// request). The session is renewed before the NS's 60 s lifetime runs out, and at once when
// the NS has answered nothing sent on it for kStaleAfter (the NS process restarted and lost
// it). Everything runs on the DC's io_context. One client talks to one NS process; NsFanout
// (ns_fanout.h) holds one per process when several share the node port.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>

#include "common/channel_client.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::dc {

/// The channel's counters (handshakes, retransmissions, drops: NS datagrams not accepted),
/// and the notifications'.
struct NsClientStats : server::ChannelClientStats {
  uint64_t notify_requests = 0;  ///< notifications asked of the NS
  uint64_t sent = 0;             ///< status 0: the NS wrote the notify on the node's connection
  uint64_t no_connection = 0;    ///< status 4: the node has no connection to the NS now
  uint64_t failed = 0;           ///< no answer in time, refused (status 1/2), or too many waiting
};

class NsClient {
 public:
  enum class Result { kSent, kNoConnection, kUnavailable, kRefused };
  using Done = std::function<void(Result)>;
  static constexpr auto kRetransmit = std::chrono::milliseconds(250);
  /// Re-handshake when the session is this old (the NS drops sessions after 60 s).
  static constexpr auto kSessionRenew = std::chrono::seconds(45);
  /// Re-handshake when a request sent this long ago got no authentic datagram back since: the
  /// NS no longer knows the session (restarted). 4 retransmissions.
  static constexpr auto kStaleAfter = std::chrono::milliseconds(1000);
  static constexpr size_t kMaxWaiting = 4096;

  /// `timeout` bounds each notification from its first send to its answer.
  NsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key, const crypto::Key& ns_public,
           const proto::Endpoint& ns, std::chrono::milliseconds timeout);
  /// Opens the UDP socket (an ephemeral port of the NS endpoint's family); false and `error`
  /// set when it cannot.
  bool open(std::string& error) { return channel_.open(error); }
  /// Asks the NS to notify `node`. `done` (may be empty) runs later on the io_context, exactly
  /// once, unless the client is destroyed first.
  void notify(const crypto::Key& node, Done done = nullptr);
  const NsClientStats& stats() const { return stats_; }

 private:
  void finish(Result r, const Done& done);

  asio::io_context& io_;
  NsClientStats stats_;
  server::ChannelClient channel_;  ///< counts into stats_
};

}  // namespace ntm::dc
