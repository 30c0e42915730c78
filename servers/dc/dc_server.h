// The Direction Coordinator's control endpoint: UDP sockets (IPv4 and IPv6), Noise IK
// handshakes with nodes, sealed control messages, registration and keep-alive
// (dc_server.cpp), direction requests and route directions (direction.cpp).
// Single-threaded: everything runs on one asio::io_context.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <vector>

#include "common/logging.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "dc/dc_config.h"
#include "dc/registry.h"
#include "proto/control_message.h"
#include "proto/response_cache.h"

namespace ntm::dc {

/// Counters an operator (and the tests) can read from the log's periodic summary.
struct DcStats {
  uint64_t handshakes = 0, registrations = 0, directions = 0, expired = 0;
  uint64_t drop_malformed = 0, drop_handshake = 0, drop_unknown_session = 0, drop_auth = 0,
           drop_replay = 0;
};

class DcServer {
 public:
  /// `store` (may be null: bindings in memory only) keeps vIP bindings across restarts.
  DcServer(asio::io_context& io, const DcConfig& cfg, const crypto::StaticKeyPair& key,
           BindingStore* store = nullptr);
  /// Opens every listen endpoint; false (logged) when one cannot be bound.
  bool open();
  /// The bound endpoints (ports resolved when 0 was asked).
  std::vector<proto::Endpoint> local_endpoints() const;
  const DcStats& stats() const { return stats_; }

 private:
  struct Listener {
    std::unique_ptr<asio::ip::udp::socket> socket;
    asio::ip::udp::endpoint from;
    std::vector<uint8_t> buf = std::vector<uint8_t>(65536);
  };
  /// A node's control session (after its handshake).
  struct ControlSession {
    std::unique_ptr<crypto::Session> session;
    crypto::Key identity{};
    proto::Endpoint endpoint;
    size_t socket = 0;
    Clock::time_point last_seen;
  };
  /// A request the DC sent (route direction) awaiting its answer.
  struct Outstanding {
    uint32_t session_index = 0;
    proto::Bytes plaintext;
    uint32_t tries = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };

  void receive(size_t i);
  void on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_control(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void dispatch(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void on_registration(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void on_keepalive(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  // direction.cpp
  void on_direction_request(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void send_route_direction(const NodeRecord& to, const NodeRecord& peer, uint32_t direction_id,
                            const crypto::Key& temporal_key, proto::Role role);
  void transmit_outstanding(uint32_t message_id);

  void respond(ControlSession& s, uint32_t index, const proto::ControlMessage& request,
               proto::ControlMessage response);
  void send_sealed(ControlSession& s, const proto::Bytes& plaintext);
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);
  void schedule_expiry();

  asio::io_context& io_;
  DcConfig cfg_;
  crypto::HandshakeResponder responder_;
  Registry registry_;
  std::vector<Listener> listeners_;
  std::map<uint32_t, ControlSession> sessions_;  // by DC-side index
  /// Handshake replay protection: the newest message-1 timestamp per node identity, and when
  /// it was seen (entries of unregistered identities are pruned after 3 lifetimes).
  struct LastInit {
    crypto::Timestamp timestamp;
    Clock::time_point seen;
  };
  std::map<crypto::Key, LastInit> last_init_;
  proto::ResponseCache responses_{8192};
  std::map<uint32_t, Outstanding> outstanding_;  // by message ID
  uint32_t next_message_id_;
  asio::steady_timer expiry_timer_;
  server::LogLimiter drop_log_{10};
  DcStats stats_;
};

}  // namespace ntm::dc
