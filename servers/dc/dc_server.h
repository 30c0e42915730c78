// The Direction Coordinator's control endpoint: UDP sockets (IPv4 and IPv6), Noise IK
// handshakes with nodes behind a cookie/rate-limit guard (handshake.cpp), sealed control
// messages and path validation (dc_server.cpp), registration and keep-alive
// (registration.cpp), direction requests and route directions (direction.cpp).
// Single-threaded: everything runs on one asio::io_context; storage writes go to the
// BindingStore's own writer thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/logging.h"
#include "common/rate_limiter.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "dc/as_client.h"
#include "dc/dc_config.h"
#include "dc/dc_locator.h"
#include "dc/ns_fanout.h"
#include "dc/registry.h"
#include "dc/relay_directory.h"
#include "proto/control_message.h"
#include "proto/response_cache.h"

namespace ntm::dc {

/// Counters an operator (and the tests) can read; printed when the DC stops. Every datagram
/// the DC drops is counted under exactly one drop_* reason.
struct DcStats {
  uint64_t handshakes = 0, registrations = 0, directions = 0, expired = 0, reclaimed = 0;
  uint64_t cookie_replies = 0, path_challenges = 0, paths_validated = 0;
  uint64_t sends_suppressed = 0;  ///< not sent: over a new address's anti-amplification budget
  uint64_t send_errors = 0;       ///< the socket refused a datagram (logged, not fatal)
  uint64_t drop_malformed = 0, drop_bad_source = 0, drop_mac = 0, drop_ratelimit = 0,
           drop_handshake = 0, drop_unknown_session = 0, drop_auth = 0, drop_replay = 0,
           drop_session_limit = 0;
  uint64_t store_dropped = 0;       ///< storage writes lost to a full queue (from BindingStore)
  uint64_t relayed_directions = 0;  ///< directions that included a relay (a ticket)
  uint64_t relay_status = 0;        ///< authenticated answers of relay servers
  uint64_t drop_relay_status = 0;   ///< relay status datagrams that did not authenticate
  /// Registrations with an Account Server (docs/admin.md): logins asked of the AS, answered
  /// from the login cache, and refused (bad credentials, node limit, rate limit, AS down).
  uint64_t logins_asked = 0, logins_cached = 0, logins_refused = 0;
  /// Registration requests that came as early data of a handshake message 1 (§3.2).
  uint64_t early_registrations = 0;
  /// DC⇄DC signaling (docs/protocol.md §16): as DC_MN, direction requests for names in other
  /// zones, answered from DC_CN or failed (no DC serves the zone, it did not answer, or its
  /// certificate did not verify); as DC_CN, hellos answered, sessions made with other DCs and
  /// NTM information requests answered (each one also a route direction to a local node).
  uint64_t foreign_directions = 0, foreign_failed = 0;
  uint64_t peer_hellos = 0, peer_sessions = 0, peer_info_requests = 0;
  uint64_t drop_peer = 0;       ///< DC⇄DC packets out of place (no session, not expected)
  uint64_t drop_peer_cert = 0;  ///< DCs refused: a certificate no trusted AS signed, or expired
  /// Notification Server (docs/protocol.md §17): requests to NS nodes that also asked the NS
  /// to wake the node, and requests retransmitted at once because the node's keep-alive came.
  uint64_t ns_notifications = 0, ns_prompt_resends = 0;
};

/// The paths `to` may use towards `peer`, best first (direction.cpp, docs/protocol.md §7.2).
std::vector<proto::Candidate> candidates_for(const NodeRecord& to, const NodeRecord& peer);

/// DC⇄DC hello (docs/protocol.md §16.2): exactly this long, so that the certificate it asks
/// for (at most 404 bytes) never amplifies what a spoofed source sent.
inline constexpr size_t kDcHelloSize = 512;

class DcServer {
 public:
  /// `store` (may be null: state in memory only) keeps vIP bindings and handshake timestamps
  /// across restarts.
  DcServer(asio::io_context& io, const DcConfig& cfg, const crypto::StaticKeyPair& key,
           BindingStore* store = nullptr);
  /// Opens every listen endpoint; false (logged) when one cannot be bound.
  bool open();
  /// The bound endpoints (ports resolved when 0 was asked).
  std::vector<proto::Endpoint> local_endpoints() const;
  const DcStats& stats() const;
  /// One line of every counter, for the log.
  std::string stats_line() const;
  size_t session_count() const { return sessions_.size(); }
  /// The registered node named `fqdn` (lower case, no trailing dot), or null: a read-only
  /// look into the registration table, for the DNS server (dns_zone.h).
  const NodeRecord* find_node(const std::string& fqdn) { return registry_.find_fqdn(fqdn); }
  /// Relay servers answering their status requests now.
  size_t relays_alive() const { return relays_.alive(Clock::now()); }

 private:
  /// Datagrams read per recvmmsg call, and the largest one accepted (control messages are a
  /// few hundred bytes; a longer datagram is truncated and dropped as malformed).
  static constexpr size_t kBatch = 64, kMaxDatagram = 4096;
  struct Listener {
    std::unique_ptr<asio::ip::udp::socket> socket;
    bool v6_only = false;
    std::vector<uint8_t> bufs = std::vector<uint8_t>(kBatch * kMaxDatagram);
  };
  /// A new address a session's authenticated packets came from, not yet proven to be the
  /// node's (docs/protocol.md §4.5): the DC sends there at most 3× what it received from it
  /// until the node answers a path challenge from there.
  struct PathProbe {
    proto::Endpoint endpoint;
    size_t socket = 0;
    uint64_t token = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
  };
  /// A node's control session (after its handshake).
  struct ControlSession {
    ControlSession(const DcConfig& c)
        : requests(c.request_rate, c.request_burst),
          directions(c.direction_rate, c.direction_burst) {}
    std::unique_ptr<crypto::Session> session;
    crypto::Key identity{};
    crypto::Timestamp handshake_timestamp{};
    proto::Endpoint endpoint;  ///< validated: the node has shown it receives here
    size_t socket = 0;
    /// False until the first authenticated packet: a replayed or spoofed message 1 makes a
    /// session nobody can use, so it must not displace the node's working one.
    bool confirmed = false;
    Clock::time_point created, last_seen;
    std::optional<PathProbe> probe;
    server::TokenBucket requests, directions;
  };
  /// A request the DC sent (route direction, path challenge) awaiting its answer.
  struct Outstanding {
    uint32_t session_index = 0;
    crypto::Key identity{};  ///< whose request: a newer confirmed session of it takes over
    proto::Bytes plaintext;
    uint32_t tries = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };

  // dc_server.cpp
  void receive(size_t i);
  void drain(size_t i);
  void on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_control(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_authenticated(uint32_t index, ControlSession& s, size_t socket, size_t bytes,
                        const proto::Endpoint& from, bool newest);
  void dispatch(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void on_path_response(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void respond(ControlSession& s, uint32_t index, const proto::ControlMessage& request,
               proto::ControlMessage response);
  void send_sealed(ControlSession& s, const proto::Bytes& plaintext);
  bool send_to(size_t socket, proto::ByteView d, const proto::Endpoint& to);
  /// Sends `plaintext` as a request on session `index` and retransmits it until answered.
  void send_request(uint32_t index, proto::Bytes plaintext);
  void transmit_outstanding(uint32_t message_id);
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);
  void erase_session(uint32_t index);
  void schedule_maintenance();
  // handshake.cpp
  void on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_early_data(uint32_t index, const proto::Bytes& plain, size_t socket,
                     const proto::Endpoint& from);
  bool under_load();
  // registration.cpp
  void on_registration(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void on_keepalive(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void persist_identity(const ControlSession& s);
  /// The registration once the node may register (its account accepted, or no AS).
  void complete_registration(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  void on_login_result(uint32_t index, const proto::ControlMessage& m, AsClient::Result r,
                       const std::string& account, const crypto::Key& digest);
  crypto::Key login_digest(const std::string& account, const std::string& password) const;
  // notification.cpp (docs/protocol.md §17)
  /// The registration lifetime of a node registered with (or without) the Notification flag.
  unsigned lifetime_for(bool notification) const;
  /// Asks the NS (every process of it) to wake the node of session `index`, when it registered
  /// with the flag.
  void notify_node(uint32_t index);
  /// The stats line's " ns: ..." part (counts per notification; per process when several).
  std::string ns_stats_line() const;
  /// The node `identity` is awake (its keep-alive came): its unanswered requests go again now.
  void resend_outstanding(const crypto::Key& identity);
  // direction.cpp
  void on_direction_request(ControlSession& s, uint32_t index, const proto::ControlMessage& m);
  struct RelayGrant {  ///< one node's part of a relay session
    proto::Endpoint endpoint;
    proto::Bytes ticket;
    crypto::Key key{};
    uint8_t side = 0;
  };
  void send_route_direction(const NodeRecord& to, const NodeRecord& peer, uint32_t direction_id,
                            const crypto::Key& temporal_key, proto::Role role,
                            const std::vector<proto::Candidate>& candidates,
                            const RelayGrant* relay);
  /// Steps 4-5 of a direction (direction.cpp): each node's candidates towards the other and,
  /// when the path needs one, a relay (grants for side 1, the CN, and side 2, the MN). Returns
  /// an error message (answering `m`) when the nodes cannot meet.
  struct DirectionPlan {
    std::vector<proto::Candidate> to_cn, to_mn;
    std::optional<RelayGrant> grant_cn, grant_mn;
  };
  std::optional<proto::ControlMessage> plan_direction(const NodeRecord& mn, const NodeRecord& cn,
                                                      const proto::ControlMessage& m,
                                                      DirectionPlan& plan);
  // relay probes (dc_server.cpp)
  void schedule_relay_checks();

  // DC⇄DC signaling (peer_dc.cpp, docs/protocol.md §16; paper 002 Fig. 3 steps 3-16)
  /// Another DC this one asks for its nodes (this DC is DC_MN), by zone.
  struct PeerDc {
    enum class State { kLocating, kHello, kHandshake, kReady };
    State state = State::kLocating;
    std::string zone;
    proto::Endpoint endpoint;  ///< DC_CN's control endpoint: NS address, peer-dc-port
    size_t socket = 0;
    crypto::Key static_key{};  ///< from its certificate
    std::unique_ptr<crypto::HandshakeInitiator> initiator;
    std::unique_ptr<crypto::CookieGenerator> cookies;
    uint32_t local_index = 0;
    std::unique_ptr<crypto::Session> session;
    Clock::time_point session_created;
    std::unique_ptr<asio::steady_timer> timer;  ///< retransmits the hello / key distribution
    uint32_t tries = 0;                         ///< sends of the current hello / handshake
    std::vector<uint32_t> waiting;              ///< foreign directions waiting for the session
  };
  /// A DC that made a session with this one (this DC is DC_CN), by local index.
  struct PeerSession {
    PeerSession() : requests(200, 400) {}
    std::unique_ptr<crypto::Session> session;
    std::string zone;  ///< what its certificate names: the only names it may speak for
    crypto::Key static_key{};
    proto::Endpoint endpoint;
    size_t socket = 0;
    Clock::time_point created, last_seen;
    server::TokenBucket requests;
  };
  /// A local node's direction request for a name in another zone, waiting for DC_CN; keyed by
  /// the message ID of the NTM information request that asks DC_CN.
  struct ForeignDirection {
    uint32_t node_index = 0;  ///< the MN's control session
    crypto::Key mn_identity{};
    proto::ControlMessage request;  ///< the MN's direction request (for its message ID)
    std::string cn_fqdn, zone;
    uint32_t direction_id = 0;
    crypto::Key temporal_key{};
    proto::Bytes info_request;  ///< the NTM information request (plaintext)
    bool sent = false;          ///< on a session (else waiting for one)
    std::unique_ptr<asio::steady_timer> deadline, retransmit;
  };
  bool peering_enabled() const { return cfg_.dc_cert && !cfg_.trusted_as.empty(); }
  uint32_t new_index() const;
  std::optional<size_t> socket_for(const proto::Endpoint& to) const;
  void on_dc_hello(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_dc_certificate(proto::ByteView d, const proto::Endpoint& from);
  void on_dc_handshake_init(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_dc_handshake_resp(proto::ByteView d, const proto::Endpoint& from);
  void on_dc_control(proto::ByteView d, const proto::Endpoint& from);
  void start_foreign_direction(ControlSession& s, uint32_t index, const proto::ControlMessage& m,
                               const NodeRecord& mn, const std::string& fqdn);
  void on_located(const std::string& zone, const DcLocator::Result& r);
  void peer_step(const std::string& zone);
  void peer_failed(const std::string& zone, proto::ErrorCode code, const std::string& text);
  void send_info_request(uint32_t id);
  void finish_foreign(uint32_t id, proto::ControlMessage answer);
  void on_info_request(PeerSession& p, uint32_t index, const proto::ControlMessage& m);
  void on_info_answer(PeerDc& peer, const proto::ControlMessage& m);
  void send_peer(crypto::Session& session, size_t socket, const proto::Endpoint& to,
                 const proto::Bytes& plaintext);
  void expire_peers(Clock::time_point now);

  asio::io_context& io_;
  DcConfig cfg_;
  /// The Account Server's client, when one is configured (registration.cpp).
  std::unique_ptr<AsClient> as_;
  /// The Notification Server's client, when one is configured (notification.cpp).
  std::unique_ptr<NsFanout> ns_;  ///< one channel per NS process (ns-dc)
  /// Node identities the AS accepted: (account, keyed hash of account and password) and until
  /// when the answer holds. Bounded by the registered identities (pruned with expired ones).
  struct CachedLogin {
    std::string account;
    crypto::Key digest;
    Clock::time_point expires;
  };
  std::map<crypto::Key, CachedLogin> login_cache_;
  crypto::Key login_cache_key_{};  ///< random per run: the digests mean nothing elsewhere
  /// Registration requests waiting for the AS: (session index, message ID). A retransmission
  /// of one is ignored until the answer comes.
  std::set<std::pair<uint32_t, uint32_t>> logins_waiting_;
  crypto::HandshakeResponder responder_;
  crypto::CookieChecker cookies_;
  BindingStore* store_;
  Registry registry_;
  std::vector<Listener> listeners_;
  std::map<uint32_t, ControlSession> sessions_;  // by DC-side index
  /// The confirmed and the newest unconfirmed session of each identity (no scan per handshake).
  std::map<crypto::Key, uint32_t> confirmed_by_identity_, pending_by_identity_;
  /// Handshake replay protection: the newest message-1 timestamp per node identity, and when
  /// it was seen. Persisted for registered identities (BindingStore), so it survives restarts;
  /// entries of unregistered identities are pruned after 3 lifetimes.
  struct LastInit {
    crypto::Timestamp timestamp;
    Clock::time_point seen;
  };
  std::map<crypto::Key, LastInit> last_init_;
  /// Handshake initiations with a valid mac1 in the current one-second window (load signal).
  uint32_t window_initiations_ = 0;
  Clock::time_point window_start_{}, under_load_until_{};
  server::SourceRateLimiter handshake_limiter_;
  proto::ResponseCache responses_{8192};
  std::map<uint32_t, Outstanding> outstanding_;  // by message ID
  uint32_t next_message_id_;
  asio::steady_timer maintenance_timer_;
  RelayDirectory relays_;
  asio::steady_timer relay_timer_;
  server::LogLimiter drop_log_{10}, event_log_{20};
  mutable DcStats stats_;
  // DC⇄DC (peer_dc.cpp)
  crypto::StaticKeyPair key_;
  std::unique_ptr<crypto::HandshakeResponder> peer_responder_;
  std::unique_ptr<DcLocator> locator_;
  std::map<std::string, PeerDc> peers_;            // by zone
  std::map<uint32_t, std::string> peer_by_index_;  // PeerDc local index → zone
  std::map<uint32_t, PeerSession> peer_sessions_;  // by local index
  std::map<crypto::Key, uint32_t> peer_session_by_key_;
  std::map<crypto::Key, crypto::Timestamp> peer_last_init_;
  std::map<uint32_t, ForeignDirection> foreign_;             // by NTM information request ID
  std::set<std::pair<uint32_t, uint32_t>> foreign_waiting_;  // (node session, message ID)
  /// Zones whose DC did not answer (hello or key distribution) before every direction waiting
  /// for it gave up: directions to them fail at once until then, so that nodes cannot make this
  /// DC send hellos to an address a zone's NS record names, over and over.
  std::map<std::string, Clock::time_point> peer_unreachable_;
};

}  // namespace ntm::dc
