// The negotiation module (paper 002 §3.2): registration and keep-alive with the DC, direction
// requests on name resolution, route directions from the DC, and the tunnel request/response
// exchange with peers that fills the tunnel table. Everything here runs on the negotiation
// thread (one asio::io_context); other threads reach it with asio::post.
//
// Tunnel creation, as this node sees it (paper 002 Fig. 3; steps 3-14 are the DCs' business):
//   1-2.  resolve(FQDN) → direction request → direction response (the peer's vIPs)
//   15-16 route direction from the DC (direction ID, temporal key, role, peer endpoints) → ack
//   17.   initiator: tunnel request (ephemeral key, tunnel ID) to the peer, retransmitted
//   18.   responder: tunnel response; both derive data keys and install the tunnel
//   19.   waiters (ntm_wait_tunnel) are woken; queued packets are flushed
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto/static_key.h"
#include "crypto/tunnel_keys.h"
#include "negotiation/dc_link.h"
#include "packet/data_plane.h"

namespace ntm::negotiation {

struct NegotiatorConfig {
  proto::Endpoint dc_address;
  crypto::Key dc_public_key{};
  std::string node_name;
  uint32_t keepalive_interval_ms = 15000;
};

/// What the DC assigned at registration.
struct Registration {
  std::string fqdn;
  std::optional<uint32_t> vip4;  ///< network byte order
  std::optional<packet::Vip6> vip6;
  proto::Endpoint nat_address;  ///< this node as the DC sees it
  uint32_t lifetime_s = 0;
};

/// Outcome of resolve(): errno-style code (0, ENOENT, ETIMEDOUT, ...) plus the peer's vIPs.
struct Resolution {
  int error = 0;
  std::string error_text;
  std::optional<uint32_t> vip4;
  std::optional<packet::Vip6> vip6;
};

class Negotiator {
 public:
  Negotiator(asio::io_context& io, NegotiatorConfig cfg, const crypto::StaticKeyPair& key,
             packet::UdpTransport& udp, packet::TunnelTable& tunnels, packet::Stats& stats);
  ~Negotiator();

  /// Handshake + registration; `done(true, "")` once registered, or `done(false, reason)`.
  void start(std::function<void(bool, std::string)> done);
  void set_data_plane(packet::DataPlane* dp) { data_plane_ = dp; }
  void shutdown();

  void on_datagram(proto::Bytes d, const proto::Endpoint& from);
  void on_missing_tunnel(const packet::VipKey& dst);
  /// Resolves an FQDN or numeric vIP and starts the tunnel (direction request).
  void resolve(const std::string& name, std::function<void(Resolution)> done);

  /// Thread-safe: the current registration.
  Registration registration() const;
  /// Thread-safe: blocks until a tunnel to `dst` exists or `timeout_ms` passes.
  bool wait_tunnel(const packet::VipKey& dst, int timeout_ms);

 private:
  struct Negotiation;

  // negotiator.cpp
  void send_registration(std::function<void(bool, std::string)> done);
  void schedule_keepalive();
  void recover();
  // direction.cpp
  void send_direction_request(const std::string& key, proto::ControlMessage req);
  void on_route_direction(const proto::ControlMessage& m);
  // tunnel_setup.cpp
  void send_tunnel_request(Negotiation& n);
  void on_tunnel_control(proto::ByteView d, const proto::Endpoint& from);
  void consume_tunnel_request(Negotiation& n, const proto::ControlMessage& m,
                              const proto::Endpoint& from);
  void consume_tunnel_response(Negotiation& n, const proto::ControlMessage& m,
                               const proto::Endpoint& from);
  void install(Negotiation& n, const crypto::DirectionalKeys& keys, uint32_t peer_tunnel_id,
               const proto::Endpoint& from);
  void schedule_confirm_check(Negotiation& n);
  // tunnel_keepalive.cpp
  void schedule_tunnel_keepalive();
  void fail_negotiation(uint32_t direction_id, const char* why);
  void send_tunnel_control(Negotiation& n, const proto::ControlMessage& m);
  bool tunnel_exists(const std::optional<uint32_t>& vip4,
                     const std::optional<packet::Vip6>& vip6) const;

  asio::io_context& io_;
  NegotiatorConfig cfg_;
  crypto::StaticKeyPair key_;
  packet::UdpTransport& udp_;
  packet::TunnelTable& tunnels_;
  packet::Stats& stats_;
  packet::DataPlane* data_plane_ = nullptr;
  DcLink dc_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer tunnel_keepalive_timer_;
  /// Packets each tunnel had sent at the last tunnel keep-alive tick, by local tunnel ID.
  std::map<uint32_t, uint64_t> sent_at_last_tick_;
  bool recovering_ = false;
  bool stopped_ = false;

  mutable std::mutex reg_mu_;
  Registration reg_;  // guarded by reg_mu_

  /// Direction requests in flight, by FQDN or vIP key; each with its waiters.
  std::map<std::string, std::vector<std::function<void(Resolution)>>> resolving_;
  /// FQDN → vIPs learned from direction responses.
  std::map<std::string, Resolution> names_;
  std::map<uint32_t, std::unique_ptr<Negotiation>> negotiations_;  // by direction ID
  /// Peer vIPs whose direction response arrived but whose route direction may not have yet:
  /// a packet queued for them in that gap must not start a second direction request.
  std::map<packet::VipKey, std::chrono::steady_clock::time_point> directed_;
  /// Tunnel requests that arrived before their route direction: at most kMaxEarly, each kept
  /// for kEarlyLifetime at most.
  struct Early {
    proto::Bytes packet;
    proto::Endpoint from;
    std::chrono::steady_clock::time_point at;
  };
  std::map<uint32_t, Early> early_;

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
};

}  // namespace ntm::negotiation
