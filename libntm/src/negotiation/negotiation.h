// One tunnel negotiation, created by a route direction and named by its direction ID. It lives
// as long as the tunnel it makes: the first tunnel handshake (psk = the temporal key), then one
// rekey handshake after another (psk = the previous handshake's rekey secret). It also keeps
// the paths to the peer (docs/protocol.md §7.9): the DC's candidates, the addresses the peer's
// punches revealed, and a relay session.
#pragma once

#include <sodium.h>
#include <asio/steady_timer.hpp>

#include "crypto/tunnel_handshake.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

/// A random, non-zero path-challenge token (path_selection.cpp).
uint64_t fresh_token();

struct Negotiator::Negotiation {
  explicit Negotiation(asio::io_context& io)
      : punch_timer(io), probe_timer(io), relay_timer(io), timer(io), confirm_timer(io) {}
  ~Negotiation() {
    sodium_memzero(temporal_key.data(), temporal_key.size());
    sodium_memzero(rekey_secret.data(), rekey_secret.size());
    sodium_memzero(pending_rekey_secret.data(), pending_rekey_secret.size());
    sodium_memzero(punch_key.data(), punch_key.size());
    if (relay) sodium_memzero(relay->key.data(), relay->key.size());
  }

  /// A path to the peer (path_selection.cpp). Ranks: the DC's candidates by their order
  /// (0, 1, ...), addresses learned from punches or roaming kLearnedRank, the relay kRelayRank.
  struct PathCandidate {
    static constexpr int kLearnedRank = 50, kRelayRank = 100;
    packet::Path path;
    proto::CandidateKind kind = proto::CandidateKind::kMapped;
    int rank = 0;
    /// Learned from a punch: until the peer answers there, tunnel requests sent to it stay
    /// within 3x the bytes of the punches that came from it.
    bool learned = false;
    uint64_t bytes_in = 0, bytes_out = 0;
    uint64_t token = 0;  ///< its path challenge in flight, after establishment
  };
  /// The relay session of this negotiation (docs/protocol.md §12): where to bind, the ticket
  /// and this node's side key.
  struct RelayClient {
    proto::Endpoint server;
    uint32_t session = 0;
    uint8_t side = 0;
    proto::Bytes ticket;
    crypto::Key key{};
    uint32_t expiry = 0;      ///< Unix seconds, from the ticket
    uint64_t counter = 0;     ///< of the last bind sent
    bool bound = false;       ///< an ack arrived for one of our binds
    uint32_t unanswered = 0;  ///< binds sent since the last ack
    std::chrono::steady_clock::time_point last_ack{};
  };

  uint32_t direction_id = 0;
  /// This node's role in every handshake of the tunnel: the initiator sends tunnel requests
  /// (the first one and each rekey), the responder answers them.
  proto::Role role = proto::Role::kResponder;
  crypto::Key temporal_key{};  ///< psk of the first handshake; wiped once it is answered
  crypto::Key peer_static{};   ///< from the route direction; proven by every handshake
  std::optional<uint32_t> peer_vip4;
  std::optional<packet::Vip6> peer_vip6;
  std::string peer_fqdn;
  std::vector<PathCandidate> paths;  ///< best first; where tunnel requests and probes go
  std::optional<RelayClient> relay;
  /// Punches (docs/protocol.md §7.9): the responder sends them; the initiator accepts a
  /// counter above the last one.
  crypto::Key punch_key{};
  uint64_t punch_counter = 0;
  uint32_t punch_tries = 0;
  asio::steady_timer punch_timer;
  /// Path probing after establishment: the round, and its timer.
  uint32_t probe_round = 0;
  asio::steady_timer probe_timer;
  asio::steady_timer relay_timer;  ///< bind retransmission, then refresh
  /// Dead-path detection: the challenge that checks the current path, and how often it went
  /// unanswered.
  uint64_t liveness_token = 0;
  uint32_t liveness_tries = 0;
  std::chrono::steady_clock::time_point liveness_sent{};
  bool renewing = false;  ///< a direction request for a fresh relay ticket is out
  /// After this node moved (network_change.cpp): the path challenge sent on the tunnel from
  /// the new position, until the peer answers it (0: none outstanding), and when.
  uint64_t move_token = 0;
  std::chrono::steady_clock::time_point moved_at{};

  /// The handshake in flight, or the last one (kept to recognise duplicates).
  std::unique_ptr<crypto::TunnelHandshake> hs;
  uint32_t seq = 0;              ///< HandshakeSeq of hs
  uint32_t confirmed_seq = 0;    ///< HandshakeSeq of `tunnel`
  uint32_t local_tunnel_id = 0;  ///< our receiver index for hs's keypair
  uint32_t request_message_id = 0;
  proto::Bytes request;      ///< initiator: hs's message 1, retransmitted as is
  proto::Bytes response;     ///< responder: hs's message 2, re-sent for a duplicate request
  proto::Bytes answered;     ///< responder: the message 1 `response` answers, byte for byte
  uint32_t duplicates = 0;   ///< responder: duplicates of `answered` answered so far
  crypto::Key response_e{};  ///< initiator: e of the message 2 consumed (duplicates)
  uint32_t tries = 0;
  /// Initiator: retransmission; responder: expiry while waiting for the first request.
  asio::steady_timer timer;
  /// Responder: re-sends its response (at most twice) until the initiator's first data packet
  /// (its keep-alive) confirms the keypair, in case that keep-alive or the response was lost.
  asio::steady_timer confirm_timer;
  uint32_t confirm_tries = 0;

  crypto::Key rekey_secret{};               ///< psk of the next handshake (of `tunnel`'s handshake)
  crypto::Key pending_rekey_secret{};       ///< responder: of `pending`, until it is confirmed
  std::shared_ptr<packet::Tunnel> tunnel;   ///< the keypair carrying outbound traffic
  std::shared_ptr<packet::Tunnel> pending;  ///< responder: answered, not confirmed yet
  bool established = false;                 ///< `tunnel` exists
  bool rekeying = false;                    ///< initiator: a rekey handshake is in flight
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point next_rekey_attempt{};
  /// Expiry: `tunnel`'s rx_packets at the last tick, and when it last changed.
  uint64_t rx_seen = 0;
  std::chrono::steady_clock::time_point rx_changed = std::chrono::steady_clock::now();
};

}  // namespace ntm::negotiation
