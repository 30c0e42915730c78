// Tunnel keys (docs/protocol.md §7). The DC's route direction gives both nodes the same
// 32-byte temporal key T for one direction ID.
//
//   tunnel control keys:  (Ki2r, Kr2i) = HKDF(T, "ntm tunnel control")
//     seal the tunnel request (initiator → responder) and tunnel response (responder → initiator)
//   data keys:            (Di2r, Dr2i) = HKDF(T, X25519(ei, er) || Ei || Er)
//     ei/er: ephemeral private keys carried (as Ei/Er) in tunnel request/response
//
// Only holders of T (the two nodes and their DC) can produce a valid tunnel request, and the
// data keys need an ephemeral private key, so recorded traffic stays secret after T leaks
// (forward secrecy). The initiator sends data with Di2r; the responder with Dr2i.
#pragma once

#include "crypto/aead.h"
#include "proto/messages.h"

namespace ntm::crypto {

struct DirectionalKeys {
  Key send, recv;
};

/// Tunnel-control keys for one side of a direction.
DirectionalKeys tunnel_control_keys(const Key& temporal_key, proto::Role role);
/// Data keys for one side; false when the peer's ephemeral key is a low-order point.
bool tunnel_data_keys(const Key& temporal_key, proto::Role role, const Key& local_ephemeral_priv,
                      const Key& local_ephemeral_pub, const Key& peer_ephemeral_pub,
                      DirectionalKeys& out);

}  // namespace ntm::crypto
