// ntm-ns, the Notification Server (paper 002 §2.3; docs/protocol.md §17): nodes behind NAT
// hold one long-lived TCP connection here instead of refreshing their NAT's UDP binding to the
// DC every 15 s; when the DC has a request waiting for such a node it asks the NS, over the
// UDP channel of §14 (Noise IK to the NS's key, sealed admin messages, op 0x20; the AS's
// channel code, server::ChannelServer), to notify it, and the node then sends its DC a
// keep-alive at once (Fig. 5 steps 17-20).
//
// Node side, per TCP connection (all on one io thread):
// 1. accept: max-connections, then the source's rate (handshake-rate per IPv4 address or IPv6
//    /64); refused connections are closed at once and counted
// 2. frames: the 2-byte length is read into the connection (no other read buffer while idle);
//    a length other than the one the state expects (148 for message 1, 33 for a sealed
//    message) closes the connection before anything is allocated; then the payload is read
//    into a buffer that lives until it is processed
// 3. message 1: mac1 (the NS's public key), Noise IK, the timestamp newer than that of the
//    key's live connection (replay) → message 2, session keys (k1 receive, k2 send)
// 4. sealed frames: receiver index, AEAD, replay window, then a 1-byte message; a ping is
//    answered with a pong. The first authentic frame *confirms* the connection: only then does
//    it replace the key's older connection (a replayed message 1 cannot displace a node)
// 5. a connection silent for idle-timeout (or not confirmed within handshake-timeout) is
//    closed by a once-a-second sweep
// Any failure closes the connection and is counted under one close_*/drop_* counter.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "as/admin_message.h"
#include "common/channel_server.h"
#include "common/logging.h"
#include "common/rate_limiter.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "ns/ns_config.h"
#include "proto/endpoint.h"
#include "proto/ns_wire.h"

namespace ntm::ns {

/// Counters of the NS; every refused connection, closed connection and dropped datagram is
/// counted under exactly one name.
struct NsStats {
  // Node connections.
  uint64_t accepted = 0;       ///< TCP connections taken in (after the limits below)
  uint64_t refused_limit = 0;  ///< closed at accept: max-connections held
  uint64_t refused_rate = 0;   ///< closed at accept: the source's handshake rate exceeded
  uint64_t handshakes = 0;     ///< message 1 accepted, message 2 sent
  uint64_t confirmed = 0;      ///< connections that sent an authentic frame
  uint64_t replaced = 0;       ///< older connections closed for a newer one of the same key
  uint64_t pings = 0, notifications = 0;
  uint64_t closed_by_node = 0;   ///< end of stream or a socket error
  uint64_t closed_idle = 0;      ///< no frame for idle-timeout
  uint64_t closed_timeout = 0;   ///< not confirmed within handshake-timeout
  uint64_t close_frame = 0;      ///< a frame length the connection's state does not allow
  uint64_t close_mac = 0;        ///< message 1 with a wrong mac1
  uint64_t close_handshake = 0;  ///< message 1 not authentic (Noise)
  uint64_t close_replay = 0;     ///< message 1 not newer than the key's live connection's
  uint64_t close_auth = 0;       ///< sealed frame: bad header, index, AEAD or replayed counter
  uint64_t close_message = 0;    ///< sealed frame whose plaintext is not a ping
  uint64_t accept_errors = 0, send_errors = 0;
  // DC channel (UDP, §17.3; the dc_handshakes, dc_requests, dc_answers_resent and dc_drop_*
  // are the channel's counters, server::ChannelServerStats, copied in by stats()).
  uint64_t dc_handshakes = 0, dc_requests = 0, dc_not_authorized = 0, dc_answers_resent = 0;
  uint64_t notify_requests = 0, notify_no_connection = 0;
  uint64_t dc_drop_malformed = 0, dc_drop_mac = 0, dc_drop_ratelimit = 0, dc_drop_handshake = 0,
           dc_drop_replay = 0, dc_drop_unknown_session = 0, dc_drop_auth = 0,
           dc_drop_session_limit = 0;
};

class NsServer {
 public:
  using Clock = std::chrono::steady_clock;
  /// DC channel sessions serve requests this long after their handshake (as the AS's, §14).
  static constexpr auto kDcSessionLifetime = std::chrono::seconds(60);
  /// Answers a DC session keeps for repeated request ids.
  static constexpr size_t kAnswersKept = 64;

  NsServer(asio::io_context& io, const NsConfig& cfg, const crypto::StaticKeyPair& key);
  ~NsServer();
  /// Binds every node-listen (TCP) and dc-listen (UDP) endpoint; false (logged) on failure.
  bool open();
  std::vector<proto::Endpoint> node_endpoints() const;
  std::vector<proto::Endpoint> dc_endpoints() const;
  /// Replaces the dc-key list (SIGHUP).
  void set_dc_keys(const std::vector<crypto::Key>& keys);
  /// Every counter, the DC channel's included.
  NsStats stats() const;
  std::string stats_line() const;
  /// Node connections open (any state), and those confirmed (authenticated by a frame).
  size_t connections() const { return conns_.size(); }
  size_t confirmed_connections() const { return by_key_.size(); }
  /// Answers one decoded DC request from the session key `peer` (§17.3): authorization, op,
  /// the node identity, then the notification. Exposed for tests and the fuzz target; call it
  /// on the io thread.
  as::AdminMessage handle_dc_request(const crypto::Key& peer, const as::AdminMessage& request);

 private:
  struct Conn;
  struct NodeListener {
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
    std::unique_ptr<asio::steady_timer> retry;  ///< after an accept error (EMFILE)
  };
  // Node connections (ns_server.cpp).
  void accept(size_t i);
  void read_header(const std::shared_ptr<Conn>& c);
  void on_frame(Conn& c, proto::ByteView payload);
  void on_handshake(Conn& c, proto::ByteView payload);
  void on_sealed(Conn& c, proto::ByteView payload);
  void send_message(Conn& c, proto::ns::Message m);
  void send_frame(Conn& c, proto::ByteView payload);
  void flush(const std::shared_ptr<Conn>& c);
  void close(Conn& c, uint64_t& counter);
  void sweep();
  asio::io_context& io_;
  NsConfig cfg_;
  crypto::HandshakeResponder responder_;
  crypto::CookieChecker cookies_;
  std::vector<NodeListener> node_listeners_;
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns_;
  std::map<crypto::Key, Conn*> by_key_;  ///< the confirmed connection of each node key
  server::SourceRateLimiter limiter_;
  std::set<crypto::Key> dc_keys_;
  asio::steady_timer sweep_timer_;
  unsigned stats_countdown_ = 0;
  server::LogLimiter log_{20};
  NsStats stats_;
  server::ChannelServerStats dc_stats_;
  server::ChannelServer dc_channel_;  ///< counts into dc_stats_, calls handle_dc_request()
};

}  // namespace ntm::ns
