// The node's connection to its Notification Server (docs/protocol.md §17; paper 002 §2.3,
// Fig. 5 steps 7-8 and 17-20). One TCP connection: handshake message 1 (Noise IK to the
// NS's static key, as to a DC, §3.2) in the first frame, message 2 back, then sealed 1-byte
// messages: this side sends a ping every `ping_ms` and expects a pong within kPongTimeout;
// the NS sends a notify when the node's DC has a request waiting. The link is *up* once the
// first pong came (the NS has confirmed the connection as this node's). Any failure (refused
// connection, close, a frame that does not authenticate, a missing pong) closes it and a new
// connection follows after a backoff of 1 s doubling to 60 s (reset once up again).
// Runs on the negotiation thread's io_context only.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"
#include "proto/ns_wire.h"

namespace ntm::notify {

class NsLink {
 public:
  struct Callbacks {
    std::function<void(bool up)> on_state;  ///< the link came up, or went down
    std::function<void()> on_notify;        ///< the NS says the DC has a request waiting
  };
  struct Stats {
    uint64_t connects = 0;  ///< connections attempted
    uint64_t ups = 0;       ///< connections that came up (first pong)
    uint64_t failures = 0;  ///< connections that failed or broke
    uint64_t pings = 0, pongs = 0, notifies = 0;
  };
  static constexpr auto kPongTimeout = std::chrono::seconds(10);
  /// Connect, handshake and the first pong must complete within this.
  static constexpr auto kSetupTimeout = std::chrono::seconds(10);
  static constexpr auto kBackoffMin = std::chrono::seconds(1),
                        kBackoffMax = std::chrono::seconds(60);

  NsLink(asio::io_context& io, const crypto::StaticKeyPair& key, std::chrono::milliseconds ping,
         Callbacks cb);
  ~NsLink();
  /// Connects to `ns` (TCP) with the NS's static key `ns_public`; keeps the connection up from
  /// then on. A call with the target already in use changes nothing.
  void start(const proto::Endpoint& ns, const crypto::Key& ns_public);
  /// Closes the connection and stops reconnecting.
  void stop();
  /// Drops the connection now and connects again at once (the node's address changed).
  void reconnect();
  bool up() const { return state_ == State::kUp; }
  const Stats& stats() const { return stats_; }

 private:
  enum class State { kIdle, kConnecting, kHandshake, kConfirming, kUp, kWaiting };
  void connect();
  void read();
  void on_frame(proto::ByteView f);
  void send_ping();
  void write(proto::Bytes frame);
  void fail(const std::string& why);
  void arm_timer(std::chrono::steady_clock::duration d);
  void on_timer();

  asio::io_context& io_;
  crypto::StaticKeyPair key_;
  std::chrono::milliseconds ping_;
  Callbacks cb_;
  std::optional<proto::Endpoint> ns_;
  crypto::Key ns_public_{};
  std::unique_ptr<asio::ip::tcp::socket> socket_;
  asio::steady_timer timer_;
  State state_ = State::kIdle;
  /// Bumped per connection and at destruction; handlers hold it (shared) and do nothing when
  /// it moved on, so they never touch a connection they do not belong to, or a dead link.
  std::shared_ptr<uint64_t> generation_ = std::make_shared<uint64_t>(0);
  std::chrono::steady_clock::duration backoff_ = kBackoffMin;
  std::optional<crypto::HandshakeInitiator> initiator_;
  uint32_t local_index_ = 0;
  std::unique_ptr<crypto::Session> session_;
  proto::ns::FrameReader reader_;
  std::array<uint8_t, 512> buf_{};
  proto::Bytes out_pending_, out_writing_;
  bool writing_ = false;
  bool pong_due_ = false;
  Stats stats_;
};

}  // namespace ntm::notify
