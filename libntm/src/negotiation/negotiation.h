// One tunnel negotiation, created by a route direction and named by its direction ID.
#pragma once

#include <asio/steady_timer.hpp>

#include "crypto/tunnel_keys.h"
#include "negotiation/negotiator.h"

namespace ntm::negotiation {

struct Negotiator::Negotiation {
  explicit Negotiation(asio::io_context& io) : timer(io) {}

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
  bool established = false;
  crypto::Key peer_ephemeral{};   ///< the request we answered (responder)
  proto::Bytes cached_response;   ///< its encoded response, re-sent for duplicates
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace ntm::negotiation
