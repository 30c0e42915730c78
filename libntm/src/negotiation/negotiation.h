// One tunnel negotiation, created by a route direction and named by its direction ID. It lives
// as long as the tunnel it makes: the first tunnel handshake (psk = the temporal key), then one
// rekey handshake after another (psk = the previous handshake's rekey secret).
#pragma once

#include <sodium.h>
#include <asio/steady_timer.hpp>

#include "crypto/tunnel_handshake.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

struct Negotiator::Negotiation {
  explicit Negotiation(asio::io_context& io) : timer(io), confirm_timer(io) {}
  ~Negotiation() {
    sodium_memzero(temporal_key.data(), temporal_key.size());
    sodium_memzero(rekey_secret.data(), rekey_secret.size());
    sodium_memzero(pending_rekey_secret.data(), pending_rekey_secret.size());
  }

  uint32_t direction_id = 0;
  /// This node's role in every handshake of the tunnel: the initiator sends tunnel requests
  /// (the first one and each rekey), the responder answers them.
  proto::Role role = proto::Role::kResponder;
  crypto::Key temporal_key{};  ///< psk of the first handshake; wiped once it is answered
  crypto::Key peer_static{};   ///< from the route direction; proven by every handshake
  std::optional<uint32_t> peer_vip4;
  std::optional<packet::Vip6> peer_vip6;
  std::string peer_fqdn;
  std::vector<proto::Endpoint> peer_endpoints;  ///< where tunnel requests go

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
