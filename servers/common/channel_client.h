// The client side of the admin channel (docs/protocol.md §14, and §17.3 which reuses it):
// a Noise IK handshake to the server's pinned static key (message 1 with mac1, mac2 zero, no
// cookie), then sealed admin messages (as/admin_message.h) in that session. Used by the DC
// towards its Account Server (dc/as_client.h, op 0x10) and towards each Notification Server
// process (dc/ns_client.h, op 0x20).
//
// Each request gets a fresh id and is sent at once when the session is usable, then again
// with the same id every `retransmit` until answered or `timeout` passes (the server answers
// a repeated id from its per-session cache, so it acts on a request once). The session is
// replaced by a new handshake once it is `renew` old (servers keep sessions 60 s), and, when
// `stale_after` is set, as soon as a request sent that long ago has had no authentic datagram
// from the server since (the server restarted and lost the session). Requests waiting for a
// session are sent when the handshake completes. Only datagrams from the server's own address
// are read; the rest, and every datagram that is not a valid handshake response or an
// authentic answer to a waiting request, is counted in `drops`. Everything runs on one
// io_context; nothing blocks.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "as/admin_message.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::server {

struct ChannelClientStats {
  uint64_t handshakes = 0;       ///< sessions made (message 2 accepted)
  uint64_t retransmissions = 0;  ///< requests sent again with their id
  uint64_t drops = 0;            ///< server datagrams not accepted
};

class ChannelClient {
 public:
  using Clock = std::chrono::steady_clock;
  /// The server's answer to a request (op | 0x80, same id), or nullopt when none came within
  /// the timeout.
  using Answer = std::function<void(std::optional<as::AdminMessage>)>;
  struct Timing {
    std::chrono::milliseconds retransmit;      ///< also the handshake's retransmission
    std::chrono::milliseconds timeout;         ///< from a request's first send to its answer
    std::chrono::seconds renew{45};            ///< re-handshake when the session is this old
    std::chrono::milliseconds stale_after{0};  ///< see above; 0: only `renew`
  };

  /// `what` names the server in errors ("AS", "NS"). Counts into `stats` (the owner's, which
  /// must outlive the client).
  ChannelClient(asio::io_context& io, const crypto::StaticKeyPair& key,
                const crypto::Key& server_public, const proto::Endpoint& server, Timing timing,
                std::string what, ChannelClientStats& stats);
  ~ChannelClient();
  /// Opens the UDP socket (an ephemeral port of the server endpoint's family); false and
  /// `error` set when it cannot.
  bool open(std::string& error);
  /// Sends `request` (its id is set here) and calls `answer` later on the io_context, exactly
  /// once, unless the client is destroyed first. False when the request cannot be encoded
  /// (AdminMessage::encode() gave nothing): then `answer` is left as it was, never called.
  /// The encoded request is wiped from memory once finished (it may hold a password).
  bool request(as::AdminMessage& request, Answer&& answer);
  size_t waiting() const { return requests_.size(); }

 private:
  struct Request {
    proto::Bytes plaintext;
    uint8_t op = 0;
    Answer answer;
    Clock::time_point created, deadline;
  };
  void receive();
  void on_datagram(proto::ByteView d);
  void start_handshake();
  void send(proto::ByteView d);
  void send_request(uint32_t id);
  bool session_usable(Clock::time_point now) const;
  void tick();
  void finish(uint32_t id, std::optional<as::AdminMessage> answer);

  asio::io_context& io_;
  crypto::Key private_{}, server_public_{};
  proto::Endpoint server_;
  Timing timing_;
  std::string what_;
  asio::ip::udp::socket socket_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(2048);
  asio::ip::udp::endpoint from_;
  asio::steady_timer timer_;
  bool timer_running_ = false;
  std::optional<crypto::HandshakeInitiator> handshake_;
  Clock::time_point handshake_sent_{}, session_created_{}, last_heard_{};
  uint32_t local_index_ = 0, handshake_index_ = 0, next_id_;
  std::unique_ptr<crypto::Session> session_;
  std::map<uint32_t, Request> requests_;  // by request id
  ChannelClientStats& stats_;
};

}  // namespace ntm::server
