// A path to a peer: its address directly, or a relay server's address and the relay session
// that carries the tunnel there (docs/protocol.md §7.9, §12.2). Tunnel packets on a relayed
// path travel behind an 8-byte relay header naming the session.
#pragma once

#include <cstdint>
#include <string>

#include "proto/endpoint.h"

namespace ntm::packet {

struct Path {
  Path() = default;
  /// A direct path to `a` (implicit: most paths are direct).
  Path(const proto::Endpoint& a) : address(a) {}  // NOLINT(google-explicit-constructor)
  Path(const proto::Endpoint& relay_server, uint32_t session)
      : address(relay_server), relay_session(session) {}

  proto::Endpoint address;     ///< the peer's address, or the relay server's
  uint32_t relay_session = 0;  ///< non-zero: relayed through that session

  bool relayed() const { return relay_session != 0; }
  bool operator==(const Path& o) const {
    return relay_session == o.relay_session && address == o.address;
  }
  std::string to_string() const {
    return relayed() ? "relay " + address.to_string() + " session " + std::to_string(relay_session)
                     : address.to_string();
  }
};

}  // namespace ntm::packet
