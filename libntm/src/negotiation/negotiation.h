// One tunnel negotiation, created by a route direction and named by its direction ID.
#pragma once

#include <sodium.h>
#include <asio/steady_timer.hpp>

#include "crypto/tunnel_keys.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

struct Negotiator::Negotiation {
  explicit Negotiation(asio::io_context& io) : timer(io), confirm_timer(io) {}
  ~Negotiation() {
    sodium_memzero(temporal_key.data(), temporal_key.size());
    sodium_memzero(ephemeral_private.data(), ephemeral_private.size());
  }

  uint32_t direction_id = 0;
  proto::Role role = proto::Role::kResponder;
  crypto::Key temporal_key{};
  std::optional<uint32_t> peer_vip4;
  std::optional<packet::Vip6> peer_vip6;
  std::string peer_fqdn;
  std::vector<proto::Endpoint> peer_endpoints;
  /// Seals/opens tunnel request and response with keys from the temporal key.
  std::unique_ptr<crypto::Session> control;
  crypto::Key ephemeral_private{}, ephemeral_public{};
  uint32_t local_tunnel_id = 0;
  uint32_t request_message_id = 0;
  uint32_t tries = 0;
  /// Initiator: retransmission; responder: expiry while waiting for the request.
  asio::steady_timer timer;
  /// Responder: re-sends the tunnel response until the initiator's first data packet (its
  /// keep-alive) confirms the tunnel, in case that keep-alive or the response was lost.
  asio::steady_timer confirm_timer;
  uint32_t confirm_tries = 0;
  std::shared_ptr<packet::Tunnel> tunnel;
  bool established = false;
  crypto::Key peer_ephemeral{};  ///< the request we answered (responder)
  proto::Bytes cached_response;  ///< its encoded response, re-sent for duplicates
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace ntm::negotiation
