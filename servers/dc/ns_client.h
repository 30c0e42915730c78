// The DC's side of the channel to its Notification Server (docs/protocol.md §17.3, op 0x20
// notify): when the DC sends a request to a node registered with the NS flag (a route
// direction, a path challenge), it also asks the NS to wake the node, which then sends the DC a
// keep-alive at once (paper 002 Fig. 5 steps 17-20). The channel is the AS's (§14) with the
// NS in the AS's place; this client is made like AsClient (as_client.h): a Noise IK handshake
// to the NS's pinned key (mac1, no cookie), then sealed admin messages, each retransmitted
// with its id every kRetransmit until answered or `timeout` passes (the NS answers a
// repeated id from its cache, so a node is notified once per request). The session is
// renewed before the NS's 60 s lifetime runs out, and at once when the NS has answered nothing
// sent on it for kStaleAfter (the NS process restarted and lost it). Everything runs on the
// DC's io_context. One client talks to one NS process; NsFanout (ns_fanout.h) holds one per
// process when several share the node port.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::dc {

struct NsClientStats {
  uint64_t notify_requests = 0;  ///< notifications asked of the NS
  uint64_t sent = 0;             ///< status 0: the NS wrote the notify on the node's connection
  uint64_t no_connection = 0;    ///< status 4: the node has no connection to the NS now
  uint64_t failed = 0;           ///< no answer in time, refused (status 1/2), or too many waiting
  uint64_t handshakes = 0, retransmissions = 0, drop_ns = 0;  ///< NS datagrams not accepted
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
  bool open(std::string& error);
  /// Asks the NS to notify `node`. `done` (may be empty) runs later on the io_context, exactly
  /// once, unless the client is destroyed first.
  void notify(const crypto::Key& node, Done done = nullptr);
  const NsClientStats& stats() const { return stats_; }

 private:
  struct Request {
    proto::Bytes plaintext;
    Done done;
    std::chrono::steady_clock::time_point created, deadline;
  };
  bool session_usable(std::chrono::steady_clock::time_point now) const;
  void receive();
  void on_datagram(proto::ByteView d);
  void start_handshake();
  void send_request(uint32_t id);
  void tick();
  void finish(uint32_t id, Result r);

  asio::io_context& io_;
  crypto::Key dc_private_{}, ns_public_{};
  proto::Endpoint ns_;
  std::chrono::milliseconds timeout_;
  asio::ip::udp::socket socket_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(2048);
  asio::ip::udp::endpoint from_;
  asio::steady_timer timer_;
  bool timer_running_ = false;
  std::optional<crypto::HandshakeInitiator> handshake_;
  std::chrono::steady_clock::time_point handshake_sent_{}, session_created_{};
  std::chrono::steady_clock::time_point last_heard_{};  ///< last authentic datagram of the NS
  uint32_t local_index_ = 0, handshake_index_ = 0, next_id_;
  std::unique_ptr<crypto::Session> session_;
  std::map<uint32_t, Request> requests_;  // by request id
  NsClientStats stats_;
};

}  // namespace ntm::dc
