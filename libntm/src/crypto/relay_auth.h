// Authentication of relay traffic and hole punches (docs/protocol.md §7.9, §12.3).
//
// A DC and its relay servers share a 32-byte secret, the relay key K. From it:
//
//   KDF(key, label, data)  = BLAKE2b-256(key = key, label ‖ data)     (label: ASCII, no NUL)
//   MAC(key, data)         = BLAKE2b with a 16-byte output, keyed with `key`
//
//   ticket MAC   = MAC(KDF(K, "ntm relay ticket"), ticket bytes 0..71)
//   side key     = KDF(K, "ntm relay side", side ‖ ticket (88 bytes))       one per node
//   bind MAC     = MAC(side key, bind bytes 0..99)
//   bind ack MAC = MAC(side key, ack bytes 0..15)
//   status MACs  = MAC(KDF(K, "ntm relay status"), request bytes 0..11 / status bytes 0..23)
//
// The DC gives each node its side key inside the (encrypted) route direction, so holding it
// proves to the RS that the sender is the node the DC directed, without the RS knowing any
// node key. The punch of a tunnel's responder (§7.9) is MAC'ed with a key from the route
// direction's temporal key T:
//
//   punch key    = KDF(T, "ntm punch", direction ID (u32 BE));   punch MAC over bytes 0..15
#pragma once

#include <string_view>

#include "crypto/aead.h"
#include "proto/bytes.h"
#include "proto/relay.h"

namespace ntm::crypto {

using Mac16 = proto::Mac16;

/// BLAKE2b-256 keyed with `key` over `label ‖ data`.
Key kdf(const Key& key, std::string_view label, proto::ByteView data = {});
/// Keyed BLAKE2b, 16-byte output.
Mac16 mac16(const Key& key, proto::ByteView data);
/// Constant-time comparison of two MACs.
bool mac_equal(const Mac16& a, const uint8_t* b);

/// What a DC and an RS derive from their shared relay key.
class RelayKeys {
 public:
  explicit RelayKeys(const Key& relay_key);
  ~RelayKeys();

  /// DC: a signed ticket (88 bytes) for `session_id` between identities `a` and `b`.
  proto::Bytes issue_ticket(uint32_t session_id, uint32_t expiry, const Key& a, const Key& b) const;
  /// RS: true when the 88 bytes carry a valid MAC under this key.
  bool verify_ticket(proto::ByteView ticket) const;
  /// The side key of node `side` (1 or 2) for the ticket (88 bytes).
  Key side_key(uint8_t side, proto::ByteView ticket) const;

  proto::Bytes make_status_request(uint64_t sequence) const;
  bool verify_status_request(proto::ByteView d) const;
  proto::Bytes make_status(uint64_t sequence, uint32_t sessions, uint64_t packets) const;
  bool verify_status(proto::ByteView d) const;

 private:
  Key key_, ticket_key_, status_key_;
};

/// Node: a relay bind (116 bytes) for `side` with `counter`, MAC'ed with the side key.
proto::Bytes make_relay_bind(uint8_t side, uint64_t counter, proto::ByteView ticket,
                             const Key& side_key);
/// RS: the bind's MAC under `side_key` (the bind was parsed already).
bool verify_relay_bind(proto::ByteView d, const Key& side_key);
/// RS: the ack for an accepted bind (32 bytes).
proto::Bytes make_relay_bind_ack(uint8_t side, uint32_t session_id, uint64_t counter,
                                 const Key& side_key);
/// Node: the ack's MAC (the ack was parsed already).
bool verify_relay_bind_ack(proto::ByteView d, const Key& side_key);

Key punch_key(const Key& temporal_key, uint32_t direction_id);
proto::Bytes make_punch(uint32_t direction_id, uint64_t counter, const Key& punch_key);
bool verify_punch(proto::ByteView d, const Key& punch_key);

}  // namespace ntm::crypto
