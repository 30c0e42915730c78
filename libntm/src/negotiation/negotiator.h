// The negotiation module (paper 002 §3.2): registration and keep-alive with the DC, direction
// requests on name resolution, route directions from the DC, and the tunnel request/response
// exchange with peers that fills the tunnel table. Everything here runs on the negotiation
// thread (one asio::io_context); other threads reach it with asio::post.
//
// Tunnel creation, as this node sees it (paper 002 Fig. 3; steps 3-14 are the DCs' business):
//   1-2.  resolve(FQDN) → direction request → direction response (the peer's vIPs and key)
//   15-16 route direction from the DC (direction ID, temporal key, role, peer's static key,
//         peer endpoints) → accepted only if this node asked for it or it makes a new tunnel
//         (a live tunnel is never handed to another key) → ack
//   17.   initiator: tunnel request = Noise KKpsk0 message 1, retransmitted
//   18.   responder: tunnel response = message 2; both have data keys and the peer's proven
//         static key; the responder's keypair carries traffic once the initiator's first
//         packet confirms it
//   19.   waiters (ntm_wait_tunnel) are woken; queued packets are flushed
// Afterwards (tunnel_timers.cpp): keep-alives on idle tunnels, rekeying by age and packet
// count, expiry of tunnels whose peer went silent.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto/static_key.h"
#include "handover/link_monitor.h"
#include "negotiation/dc_link.h"
#include "notify/ns_link.h"
#include "packet/data_plane.h"

namespace ntm::negotiation {

struct NegotiatorConfig {
  /// The DC's control endpoints, at least one (the same DC at an IPv4 and an IPv6 address,
  /// say): DcLink picks the one to use at each handshake try.
  std::vector<proto::Endpoint> dc_addresses;
  crypto::Key dc_public_key{};
  std::string node_name;
  std::string account, password;  ///< empty: none (open registration at the DC)
  uint32_t keepalive_interval_ms = 15000;
  uint32_t rekey_after_ms = 120000;  ///< WireGuard's REKEY_AFTER_TIME
  uint64_t rekey_after_messages = crypto::Session::kRekeyAfterMessages;
  uint32_t tunnel_timeout_ms = 60000;  ///< no authenticated packet this long: tunnel removed
  /// Watch addresses and default routes over rtnetlink (handover/link_monitor.h) and react to
  /// a change at once (on_network_change). Off: a move is noticed by an unanswered keep-alive.
  bool watch_network = true;
  /// With watch_network: check the host's addresses every 2 s instead of rtnetlink (what the
  /// node falls back to where rtnetlink is not available).
  bool poll_addresses = false;
  /// Use the DC's Notification Server (docs/protocol.md §17; env NTM_NOTIFICATION=1): ask for
  /// it at registration, hold a TCP connection to it, and keep the DC's registration with
  /// keep-alives at a third of its (longer) lifetime while that connection is up.
  bool notification = false;
  uint32_t ns_ping_ms = 600000;  ///< ping interval on the NS connection (env NTM_NS_PING_MS)
};

/// What the DC assigned at registration.
struct Registration {
  std::string fqdn;
  std::optional<uint32_t> vip4;  ///< network byte order
  std::optional<packet::Vip6> vip6;
  proto::Endpoint nat_address;  ///< this node as the DC sees it
  uint32_t lifetime_s = 0;
  bool behind_nat = false;  ///< the DC sees it at none of its own addresses
};

/// Which kind of path a tunnel uses now (ntm_get_path, docs/api.md).
struct PathInfo {
  int kind = 0;             ///< NTM_PATH_*
  proto::Endpoint address;  ///< the peer's address, or the relay server's
};

/// Outcome of resolve(): errno-style code (0, ENOENT, ETIMEDOUT, ...) plus the peer's vIPs.
struct Resolution {
  int error = 0;
  std::string error_text;
  std::optional<uint32_t> vip4;
  std::optional<packet::Vip6> vip6;
  std::optional<crypto::Key> peer_static;  ///< the peer's key as the DC states it
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

  void on_datagram(proto::Bytes d, const packet::Path& from);
  /// A path response that was not the roaming challenge's (DataPlaneHooks::on_path_response).
  void on_path_response(uint32_t local_id, uint64_t token, const packet::Path& from);
  /// The path of the tunnel to `dst` now, or nullopt without a tunnel.
  std::optional<PathInfo> path_info(const packet::VipKey& dst) const;
  void on_missing_tunnel(const packet::VipKey& dst);
  /// Resolves an FQDN or numeric vIP and starts the tunnel (direction request).
  void resolve(const std::string& name, std::function<void(Resolution)> done);

  /// Thread-safe: the current registration.
  Registration registration() const;
  /// The errno for the DC's last refusal of a registration (docs/api.md, ntm_start): EACCES,
  /// EDQUOT, EAGAIN or ECONNREFUSED. Read after start()'s callback reported the refusal.
  int refusal_errno() const { return refusal_errno_.load(); }
  /// Thread-safe: blocks until a tunnel to `dst` exists or `timeout_ms` passes.
  bool wait_tunnel(const packet::VipKey& dst, int timeout_ms);
  /// Tunnel negotiations held now (any thread).
  size_t negotiations_open() const { return negotiations_open_.load(); }
  /// Thread-safe: pins (or, with nullopt, unpins) the static key of `name` (a lower-case FQDN
  /// or a canonical numeric vIP).
  void pin(const std::string& name, std::optional<crypto::Key> key);
  /// The path may have changed (a new or removed address or default route; paper 002 Fig. 5
  /// step 1; network_change.cpp): re-registers with the DC at once — a fresh handshake from
  /// wherever the node is now, with its current addresses (steps 2-3) — and sends an
  /// authenticated keep-alive and a path challenge on every tunnel, so that each peer moves the
  /// tunnel to the new endpoint after one trip (roaming, docs/protocol.md §8.3) instead of at
  /// the next keep-alive. Once registered again, every tunnel whose peer has not answered from
  /// the new position yet is re-created through the DC (steps 9-28: direct, punched or relayed
  /// as the new position allows; same vIPs, same peer key). `why` is for the log; `since` is
  /// when the change was first seen (the handover's time is counted from it).
  void on_network_change(const std::string& why, std::chrono::steady_clock::time_point since = {});
  /// The peer of keypair `local_id` moved: its newest packet came from a new address
  /// (DataPlaneHooks::on_roamed), or that address answered our path challenge
  /// (`validated`, on_path_validated); posted here. TCP to it is nudged (network_change.cpp).
  void on_peer_moved(uint32_t local_id, bool validated);
  /// A keypair reached its packet budget (DataPlaneHooks::on_rekey_due, posted here).
  void on_rekey_due(uint32_t local_id);
  /// A responder's keypair was confirmed (DataPlaneHooks::on_confirmed, posted here).
  void on_confirmed(const std::shared_ptr<packet::Tunnel>& t,
                    const std::vector<std::shared_ptr<packet::Tunnel>>& replaced);

 private:
  struct Negotiation;

  // negotiator.cpp
  /// A handshake with the registration request as early data (the start and recovery path).
  void register_with_handshake(std::function<void(bool, std::string)> done, std::string no_answer);
  /// Registration under the established session, with the password.
  void send_registration(std::function<void(bool, std::string)> done);
  proto::ControlMessage registration_request(bool with_password) const;
  void on_registration_response(std::optional<proto::ControlMessage> resp,
                                const std::function<void(bool, std::string)>& done,
                                bool sent_password);
  /// Arms the DC keep-alive: after `delay_ms`, or after dc_keepalive_interval().
  void schedule_keepalive(std::optional<uint32_t> delay_ms = std::nullopt);
  // notification.cpp (docs/protocol.md §17)
  /// The registration response's NsAddress and NsKey: connects to that NS when configured to.
  void take_notification_offer(const proto::ControlMessage& resp);
  /// Milliseconds between DC keep-alives: keepalive_interval_ms, or a third of the
  /// registration lifetime while the NS connection is up (never more than lifetime / 3).
  uint32_t dc_keepalive_interval() const;
  void on_ns_state(bool up);
  /// The NS says the DC has a request waiting: a keep-alive now re-opens the NAT's binding.
  void on_ns_notify();
  /// Registers again with a fresh handshake, retrying every 2 s until it succeeds. Does
  /// nothing while a recovery runs, unless `restart` (the path changed under it).
  void recover(bool restart = false);
  void start_link_monitor();
  // network_change.cpp
  /// The registration after a network change succeeded: re-creates the tunnels whose peer
  /// has not answered from the new position.
  void on_registered_again();
  /// Asks the DC for a new tunnel to `n`'s peer (a direction request by vIP, or by name for a
  /// peer of another zone) although a tunnel exists; the new one replaces it when it is up.
  void recreate_tunnel(Negotiation& n);
  /// The path to a tunnel's peer changed and works (the peer answered from our new position,
  /// it moved and proved its new address, or a re-created tunnel replaced the old one): TCP
  /// connections to its vIPs that wait for a backed-off timer retransmit now (tcp_nudge.h).
  void nudge_tcp(const std::optional<uint32_t>& vip4, const std::optional<packet::Vip6>& vip6,
                 const char* why);
  bool tunnel_exists(const std::optional<uint32_t>& vip4,
                     const std::optional<packet::Vip6>& vip6) const;
  /// The pinned key for a name or vIP (nullopt: none).
  std::optional<crypto::Key> pinned(const std::string& name) const;
  // direction.cpp
  void send_direction_request(const std::string& key, proto::ControlMessage req);
  void on_route_direction(const proto::ControlMessage& m);
  /// Why a route direction must be refused, or nullptr to accept it.
  const char* refuse_route_direction(const std::string& peer_fqdn,
                                     const std::optional<uint32_t>& vip4,
                                     const std::optional<packet::Vip6>& vip6,
                                     const crypto::Key& peer_static) const;
  /// Whether a negotiation (established or in progress) has either of these peer vIPs.
  bool negotiating(const std::optional<uint32_t>& vip4,
                   const std::optional<packet::Vip6>& vip6) const;
  bool remember_direction(uint32_t direction_id);
  // tunnel_setup.cpp
  /// Initiator: a new handshake `seq` with `psk`; false when it cannot be made (the peer's
  /// static key is a low-order point).
  bool start_handshake(Negotiation& n, uint32_t seq, const crypto::Key& psk);
  void send_tunnel_request(Negotiation& n);
  void on_tunnel_handshake(proto::ByteView d, const packet::Path& from);
  void consume_tunnel_request(Negotiation& n, proto::ByteView d, const packet::Path& from);
  void consume_tunnel_response(Negotiation& n, proto::ByteView d, const packet::Path& from);
  std::shared_ptr<packet::Tunnel> make_tunnel(Negotiation& n, uint32_t peer_tunnel_id,
                                              const packet::Path& from);
  void on_established(Negotiation& n, const std::shared_ptr<packet::Tunnel>& t,
                      std::vector<std::shared_ptr<packet::Tunnel>> replaced);
  void retire(std::vector<std::shared_ptr<packet::Tunnel>> replaced, uint32_t keep_direction);
  void schedule_confirm_check(Negotiation& n);
  void fail_negotiation(uint32_t direction_id, const char* why);
  /// Removes a negotiation and its keypairs from the tunnel table.
  void erase_negotiation(uint32_t direction_id);
  /// Ends the reservation of a tunnel ID whose handshake will not complete; the packets held
  /// for it count as drop_unknown_tunnel.
  void release_tunnel_id(uint32_t id);
  // path_selection.cpp
  /// Takes the candidates and the relay of a route direction; false when they are malformed.
  bool take_paths(Negotiation& n, const proto::ControlMessage& m);
  /// Starts what a fresh negotiation does besides its handshake: relay binds, punches.
  void start_paths(Negotiation& n);
  /// Where a tunnel request goes now: every candidate (learned ones within their budget for
  /// `bytes`) and the relay.
  std::vector<packet::Path> request_targets(Negotiation& n, size_t bytes);
  void send_relay_bind(Negotiation& n);
  void on_relay_bind_ack(proto::ByteView d, const packet::Path& from);
  void on_relay_notice(proto::ByteView d, const packet::Path& from);
  void send_punches(Negotiation& n);
  void on_punch(proto::ByteView d, const packet::Path& from);
  /// After a keypair is installed: challenges on the candidates better than the current path.
  void start_path_probes(Negotiation& n);
  /// Tells the tunnel's keypairs the known paths and their ranks (Tunnel::on_newest_from).
  void sync_known_paths(Negotiation& n);
  void probe_paths(uint32_t direction_id);
  int rank_of(const Negotiation& n, const packet::Path& p) const;
  /// Tunnel tick: a path that carried our packets but brought nothing back is checked with a
  /// path challenge; returns why the path is dead after three unanswered (then fall_back()).
  const char* check_path(Negotiation& n, std::chrono::steady_clock::time_point now);
  /// The current path is dead: another validated one, the relay, or a new negotiation.
  void fall_back(Negotiation& n, const char* why);
  int path_kind(const Negotiation& n, const packet::Path& p) const;
  void forget_paths(Negotiation& n);
  // tunnel_timers.cpp
  void schedule_tunnel_timers();
  void on_tunnel_tick();
  /// Initiator: starts a rekey handshake on `n`; false when it cannot be made.
  bool start_rekey(Negotiation& n);

  asio::io_context& io_;
  NegotiatorConfig cfg_;
  crypto::StaticKeyPair key_;
  packet::UdpTransport& udp_;
  packet::TunnelTable& tunnels_;
  packet::Stats& stats_;
  packet::DataPlane* data_plane_ = nullptr;
  DcLink dc_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer tunnel_timer_;
  /// Without rtnetlink (start_link_monitor() failed): the host's addresses are compared with
  /// the last registration's every kAddressPollMs, and a difference is a network change.
  static constexpr uint32_t kAddressPollMs = 2000;
  asio::steady_timer address_poll_timer_;
  void poll_addresses();
  /// Idle detection for keep-alives and dead paths: data packets and keep-alives each keypair
  /// had sent at the last check (tunnel messages not counted), and when that count last
  /// changed, by local tunnel ID.
  struct SendActivity {
    uint64_t sent = 0;
    std::chrono::steady_clock::time_point changed;
  };
  std::map<uint32_t, SendActivity> send_activity_;
  bool recovering_ = false;
  /// The last network change: when it was first seen, whether the registration that follows
  /// it is still to come, and when that registration succeeded (network_change.cpp).
  std::chrono::steady_clock::time_point change_at_{}, registered_at_{};
  bool moved_ = false;
  bool stopped_ = false;
  /// The RealAddress list of the latest registration request (set by registration_request()).
  mutable std::vector<proto::Endpoint> registered_addresses_;
  std::unique_ptr<handover::LinkMonitor> link_monitor_;
  std::unique_ptr<notify::NsLink> ns_link_;  ///< when cfg_.notification and the DC has an NS

  mutable std::mutex reg_mu_;
  Registration reg_;  // guarded by reg_mu_
  std::atomic<int> refusal_errno_{ECONNREFUSED};

  /// Direction requests in flight, by FQDN or vIP key; each with its waiters.
  std::map<std::string, std::vector<std::function<void(Resolution)>>> resolving_;
  /// FQDN → vIPs learned from direction responses.
  std::map<std::string, Resolution> names_;
  /// vIP (text) → FQDN of peers in other zones, from direction responses and route
  /// directions: their own DC knows them by vIP, ours only by name (docs/protocol.md §16), so
  /// a packet for such a vIP without a tunnel asks by name. At most kMaxDirections entries.
  std::map<std::string, std::string> foreign_names_;
  void remember_foreign_name(const std::string& fqdn, const std::optional<uint32_t>& vip4,
                             const std::optional<packet::Vip6>& vip6);
  std::map<uint32_t, std::unique_ptr<Negotiation>> negotiations_;  // by direction ID
  /// negotiations_.size() for other threads (ntm_stats.negotiations_open); set after each
  /// insertion or removal.
  std::atomic<size_t> negotiations_open_{0};
  void count_negotiations() { negotiations_open_.store(negotiations_.size()); }
  /// Every direction ID seen in a route direction, for kDirectionMemory (at most
  /// kMaxDirections): a late retransmission of a finished negotiation's route direction must
  /// not start it again (its tunnel handshake would run twice under one temporal key).
  std::map<uint32_t, std::chrono::steady_clock::time_point> directions_seen_;
  /// Peer vIPs whose direction response arrived but whose route direction may not have yet:
  /// a packet queued for them in that gap must not start a second direction request.
  std::map<packet::VipKey, std::chrono::steady_clock::time_point> directed_;
  /// Tunnel requests that arrived before their route direction: at most kMaxEarly, each kept
  /// for kEarlyLifetime at most.
  struct Early {
    proto::Bytes packet;
    packet::Path from;
    std::chrono::steady_clock::time_point at;
  };
  /// Relay servers that stopped answering this node, reported to the DC with the next
  /// direction request for the same peer (FailedRelay).
  std::map<packet::VipKey, proto::Endpoint> failed_relays_;
  std::map<uint32_t, Early> early_;

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;

  mutable std::mutex pins_mu_;
  std::map<std::string, crypto::Key> pins_;  // guarded by pins_mu_
};

}  // namespace ntm::negotiation
