// The tunnel table (paper 002 §3.2: the negotiation module fills it, the packet manipulation
// module reads it). Outbound lookup by the peer's vIP (IPv4 or IPv6), inbound lookup by our
// receiver tunnel ID. Readers on the packet path take a shared lock and hold a shared_ptr
// copy, so a tunnel replaced by the control thread stays alive until in-flight packets finish.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "crypto/aead.h"
#include "crypto/session.h"
#include "packet/path.h"
#include "packet/vip_key.h"
#include "proto/bytes.h"

namespace ntm::packet {

/// One tunnel keypair towards a peer: a data session (keys from one tunnel handshake), the
/// peer's vIPs and static key, and the peer's endpoint with its validation state. A rekey
/// makes a new Tunnel (new local ID, new keys) for the same peer.
/// A data packet that arrived for a reserved receiver index before its tunnel existed.
struct HeldPacket {
  proto::Bytes datagram;  ///< the whole sealed packet, as received
  Path from;
};

struct Tunnel {
  /// Anti-amplification factor towards a peer address not yet validated (RFC 9000 §8).
  static constexpr uint64_t kAmplificationFactor = 3;

  uint32_t local_id = 0;      ///< receiver index peers put in data packets to us
  uint32_t direction_id = 0;  ///< the route direction that created the tunnel
  bool has_vip4 = false, has_vip6 = false;
  uint32_t peer_vip4 = 0;  ///< network byte order
  Vip6 peer_vip6{};
  crypto::Key peer_static{};  ///< the peer's static public key, proven by the handshake
  std::chrono::steady_clock::time_point born = std::chrono::steady_clock::now();
  std::unique_ptr<crypto::Session> session;
  /// The peer is known to hold this keypair: set at once on the handshake initiator (it holds
  /// the tunnel response), on the responder by the first authenticated data packet. Until then
  /// the responder's keypair only receives (TunnelTable::insert_inbound).
  std::atomic<bool> confirmed{false};
  /// Authenticated data packets received (the negotiation thread watches it for expiry).
  std::atomic<uint64_t> rx_packets{0};
  /// When the last authenticated packet arrived (steady clock, ns): dead-path detection.
  std::atomic<int64_t> last_rx_ns{0};
  /// Tunnel messages (path challenges and responses) sealed under this keypair: the
  /// negotiation's idle and dead-path checks look at what else was sent (packets_sent() minus
  /// these), so that two idle nodes do not keep each other's checks going — a response to the
  /// peer's check is not traffic that needs an answer.
  std::atomic<uint64_t> tx_tunnel_messages{0};
  /// Rekey by packet count (docs/protocol.md §7.8): on the handshake initiator's keypairs, the
  /// packet path reports once (DataPlaneHooks::on_rekey_due) when either direction's counter
  /// reaches rekey_after_messages.
  bool rekey_driver = false;
  uint64_t rekey_after_messages = ~0ull;
  std::atomic<bool> rekey_requested{false};
  /// Data packets held for this tunnel's ID before it was installed (TunnelTable::hold), in
  /// arrival order; DataPlane::deliver_held() passes them to the stack before any packet
  /// that came later. `has_held` is set at install and cleared once they are delivered.
  std::mutex held_mu;
  std::vector<HeldPacket> held;  // guarded by held_mu
  std::atomic<bool> has_held{false};

  /// The path to the peer now (direct or relayed); changes only after an authenticated,
  /// newest packet, or when the negotiation switches paths (a validated better one, §7.9).
  Path endpoint() const {
    std::lock_guard l(endpoint_mu_);
    return endpoint_;
  }
  /// Sets a validated path (from the handshake, or one a path response proved); returns true
  /// when it changed.
  bool set_endpoint(const Path& e) {
    std::lock_guard l(endpoint_mu_);
    probing_ = false;
    current_seen_ = std::chrono::steady_clock::now();
    if (endpoint_ == e) return false;
    endpoint_ = e;
    return true;
  }
  /// A path the negotiation knows, with its rank (lower is better; docs/protocol.md §7.9).
  struct KnownPath {
    Path path;
    int rank = 0;
  };
  /// How long a peer may lag behind our switch to a better path: its newest packets still
  /// arriving along a worse known path within this time after the current path was last heard
  /// are its packets in flight (or its own switch still to come), not a move (on_newest_from).
  static constexpr auto kLagGrace = std::chrono::seconds(1);
  /// The paths the negotiation knows and their ranks (replaces the previous list).
  void set_known_paths(std::vector<KnownPath> paths) {
    std::lock_guard l(endpoint_mu_);
    known_ = std::move(paths);
  }
  /// Where to send `bytes` now: false when the path is being validated and this datagram
  /// would exceed 3× the bytes received from it.
  bool endpoint_for_send(size_t bytes, Path& out) {
    std::lock_guard l(endpoint_mu_);
    out = endpoint_;
    if (!probing_) return true;
    if (probe_out_ + bytes > kAmplificationFactor * probe_in_) return false;
    probe_out_ += bytes;
    return true;
  }
  /// An authenticated packet with the highest counter so far came from `from` (`bytes` long).
  /// Returns a fresh path-challenge token when `from` is a new address (the caller sends the
  /// challenge there), 0 otherwise. A known path worse than the current one is followed only
  /// when the current one was not heard for kLagGrace: two nodes moving from the relay to a
  /// punched path one after the other would otherwise chase each other back and forth on
  /// their packets in flight. An unknown path (the peer roamed, its NAT rebound) is followed
  /// at once.
  uint64_t on_newest_from(
      const Path& from, size_t bytes,
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    std::lock_guard l(endpoint_mu_);
    if (from == endpoint_) {
      current_seen_ = now;
      if (probing_) probe_in_ += bytes;
      return 0;
    }
    int from_rank = -1, current_rank = -1;
    for (auto& k : known_) {
      if (k.path == from) from_rank = k.rank;
      if (k.path == endpoint_) current_rank = k.rank;
    }
    if (from_rank >= 0 && current_rank >= 0 && from_rank > current_rank &&
        now - current_seen_ < kLagGrace)
      return 0;
    endpoint_ = from;
    current_seen_ = now;
    return start_probe_locked(bytes);
  }
  /// Treats the current endpoint as not validated yet (`bytes` received from it); returns the
  /// path-challenge token to send there.
  uint64_t start_probe(size_t bytes) {
    std::lock_guard l(endpoint_mu_);
    return start_probe_locked(bytes);
  }
  /// A path response with `token` arrived: true when it validates the current endpoint.
  bool on_path_response(uint64_t token) {
    std::lock_guard l(endpoint_mu_);
    if (!probing_ || token != probe_token_) return false;
    probing_ = false;
    return true;
  }
  bool endpoint_validated() const {
    std::lock_guard l(endpoint_mu_);
    return !probing_;
  }
  /// The token of the path challenge still unanswered, or 0.
  uint64_t probe_token() const {
    std::lock_guard l(endpoint_mu_);
    return probing_ ? probe_token_ : 0;
  }

 private:
  uint64_t start_probe_locked(size_t bytes) {
    probing_ = true;
    probe_in_ = bytes;
    probe_out_ = 0;
    do crypto::random_bytes(&probe_token_, sizeof probe_token_);
    while (probe_token_ == 0);
    return probe_token_;
  }

  mutable std::mutex endpoint_mu_;
  Path endpoint_;                 // guarded by endpoint_mu_
  std::vector<KnownPath> known_;  // guarded by endpoint_mu_
  /// When endpoint_ was set or last brought a newest packet (guarded by endpoint_mu_).
  std::chrono::steady_clock::time_point current_seen_ = std::chrono::steady_clock::now();
  bool probing_ = false;  // guarded by endpoint_mu_: endpoint_ not validated yet
  uint64_t probe_token_ = 0, probe_in_ = 0, probe_out_ = 0;  // guarded by endpoint_mu_
};

class TunnelTable {
 public:
  std::shared_ptr<Tunnel> find_by_id(uint32_t local_id) const;
  std::shared_ptr<Tunnel> find_by_vip4(uint32_t vip4) const;
  std::shared_ptr<Tunnel> find_by_vip6(const Vip6& vip6) const;

  /// Installs `t`, replacing any tunnel to the same peer vIPs. The replaced tunnel keeps
  /// accepting inbound packets under its old ID until remove() (so packets already in flight
  /// still decrypt); outbound traffic moves to `t` at once. Returns the replaced tunnels.
  std::vector<std::shared_ptr<Tunnel>> insert(std::shared_ptr<Tunnel> t);
  /// Installs `t` for inbound packets only (by its ID): a responder's keypair before the peer
  /// confirmed it. promote() later makes it the outbound tunnel of its vIPs.
  void insert_inbound(std::shared_ptr<Tunnel> t);
  /// Makes an installed `t` the outbound tunnel of its peer vIPs; returns the replaced ones.
  std::vector<std::shared_ptr<Tunnel>> promote(const std::shared_ptr<Tunnel>& t);
  void remove(uint32_t local_id);
  /// A random receiver index not in use (never 0), reserved until release_id() or until a
  /// tunnel with it is installed: data packets for a reserved ID that arrive before the
  /// tunnel (the responder sends as soon as it has answered, so its first packets can overtake
  /// the tunnel response on its way through the negotiation thread) are held by hold() and
  /// move into the tunnel when it is installed.
  uint32_t allocate_id();
  /// Ends a reservation; returns the number of held packets dropped with it.
  size_t release_id(uint32_t id);
  bool reserved(uint32_t id) const;
  /// At most this many packets are held per reserved ID (a window's worth: the responder
  /// sends no more before it hears from the initiator).
  static constexpr size_t kMaxHeld = 64;
  enum class Hold {
    kHeld,         ///< kept, in order, for the tunnel with this ID
    kInstalled,    ///< the tunnel exists now: `installed` is set, deliver the packet to it
    kFull,         ///< kMaxHeld already held: drop
    kNotReserved,  ///< no such ID: drop
  };
  /// Holds a copy of data packet `pkt` for reserved receiver index `id` (one atomic step with
  /// the lookup, so a packet is either held or finds the installed tunnel, never lost between).
  Hold hold(uint32_t id, proto::ByteView pkt, const Path& from, std::shared_ptr<Tunnel>& installed);
  /// Relay sessions this node uses, with their relay server: relay data is accepted only from
  /// the server of its session.
  void add_relay(uint32_t session, const proto::Endpoint& server);
  void remove_relay(uint32_t session);
  bool relay_server(uint32_t session, proto::Endpoint& out) const;
  size_t size() const;
  /// Relay sessions added and not removed.
  size_t relay_sessions() const;
  std::vector<std::shared_ptr<Tunnel>> all() const;
  void clear();

 private:
  /// Moves the packets held for `t`'s ID into `t` and ends the reservation (mu_ held).
  void take_held(Tunnel& t);

  mutable std::shared_mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<Tunnel>> by_id_;              // guarded by mu_
  std::unordered_map<uint32_t, std::shared_ptr<Tunnel>> by_vip4_;            // guarded by mu_
  std::unordered_map<VipKey, std::shared_ptr<Tunnel>, VipKeyHash> by_vip6_;  // guarded by mu_
  std::unordered_map<uint32_t, std::vector<HeldPacket>> reserved_;           // guarded by mu_
  std::unordered_map<uint32_t, proto::Endpoint> relays_;                     // guarded by mu_
};

}  // namespace ntm::packet
