// What a DC hands the two nodes of a relayed tunnel, built the way the DC builds it
// (servers/dc/direction.cpp: a ticket under the relay key, side 1 = identity A = the CN,
// side 2 = identity B = the MN, one side key each) and the binds a node sends with it
// (libntm/src/negotiation/path_selection.cpp: crypto::make_relay_bind with a growing counter).
#pragma once

#include <ctime>

#include "crypto/relay_auth.h"
#include "proto/relay.h"

namespace ntm::rs::test {

inline crypto::Key random_key() {
  crypto::Key k;
  crypto::random_bytes(k.data(), k.size());
  return k;
}

inline uint32_t unix_now() {
  return uint32_t(std::time(nullptr));
}

/// A ticket for `session_id` under `relay_key` and the side keys a DC derives from it.
struct Grant {
  Grant(const crypto::Key& relay_key, uint32_t session_id, uint32_t expiry = unix_now() + 3600)
      : identity_a(random_key()), identity_b(random_key()) {
    crypto::RelayKeys keys(relay_key);
    ticket = keys.issue_ticket(session_id, expiry, identity_a, identity_b);
    side_key[0] = keys.side_key(1, ticket);
    side_key[1] = keys.side_key(2, ticket);
  }
  /// A node's bind for `side` (1 or 2) with `counter`, MAC'ed with its side key.
  proto::Bytes bind(uint8_t side, uint64_t counter) const {
    return crypto::make_relay_bind(side, counter, ticket, side_key[side - 1]);
  }

  crypto::Key identity_a, identity_b;
  proto::Bytes ticket;
  crypto::Key side_key[2];
};

/// `inner` (a tunnel packet) behind a relay header for `session_id`.
inline proto::Bytes relay_data(uint32_t session_id, proto::ByteView inner) {
  proto::Bytes d(proto::kRelayHeaderSize + inner.size());
  proto::write_relay_header(d.data(), session_id);
  std::copy(inner.begin(), inner.end(), d.begin() + proto::kRelayHeaderSize);
  return d;
}

}  // namespace ntm::rs::test
