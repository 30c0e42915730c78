// The AS's admin messages: the plaintext of the sealed packets between ntm-admin and ntm-as
// (docs/protocol.md §14). Every field is a byte string; numbers travel as decimal text.
//
//   request:   op (u8, 0x01..0x7F) | request id (u32 BE) | count (u8) | count × field
//   response:  op | 0x80 (u8) | request id (u32 BE) | status (u8) | count (u8) | count × field
//   field:     length (u16 BE) | length bytes
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.h"

namespace ntm::as {

enum class AdminOp : uint8_t {
  kAccountAdd = 0x01,     ///< fields: name, password, node limit → no fields
  kAccountDel = 0x02,     ///< fields: name → no fields
  kAccountList = 0x03,    ///< fields: after (a name, "" = from the first) → next, (name, limit,
                          ///< created) × n; next is the last name when more may follow, else ""
  kAccountPasswd = 0x04,  ///< fields: name, password → no fields
  kAccountNodes = 0x05,   ///< fields: name, after (a node identity, "" = from the first) → next,
                          ///< (node, first login, last login) × n, at most 10 per page
  kNodeRelease = 0x06,    ///< fields: name, node identity → no fields
  kNodeLogin = 0x10,      ///< DC → AS. fields: name, password, node identity (base64 X25519
                          ///< public key), node source address (IP text) → node limit, nodes
                          ///< counted against it (this one included)
};
/// Ops below this need an admin key; kNodeLogin needs a dc-key.
constexpr uint8_t kFirstDcOp = 0x10;

enum class AdminStatus : uint8_t {
  kOk = 0,
  kNotAuthorized = 1,  ///< the session's key may not send this op (admin-key / dc-key)
  kBadRequest = 2,     ///< unknown op, wrong field count, invalid name, password or number
  kExists = 3,
  kNotFound = 4,
  kInternal = 5,        ///< the store failed (logged at the AS)
  kBadCredentials = 6,  ///< login: unknown account or wrong password (indistinguishable)
  kRateLimited = 7,     ///< login: too many attempts for the account or the source; try later
  kNodeLimit = 8,       ///< login: the account already has `node limit` other nodes counted
};
const char* to_string(AdminStatus s);

/// A node identity field (ops 0x06, 0x10): the node's static X25519 public key as exactly 44
/// characters of standard base64 decoding to 32 bytes. Returned re-encoded (canonical, so one
/// key is one row in the store); nullopt for anything else.
std::optional<std::string> canonical_node_identity(const std::string& field);

struct AdminMessage {
  /// A message, request or response, fits one UDP datagram with room to spare.
  static constexpr size_t kMaxSize = 1200;
  static constexpr size_t kMaxFields = 64;
  uint8_t op = 0;  ///< an AdminOp, with 0x80 set in a response
  uint32_t id = 0;
  AdminStatus status = AdminStatus::kOk;  ///< responses only
  std::vector<std::string> fields;

  bool is_response() const { return op & 0x80; }
  /// The wire form; empty when it would exceed kMaxSize or kMaxFields.
  proto::Bytes encode() const;
  /// nullopt for anything but exactly one well-formed message (no trailing bytes).
  static std::optional<AdminMessage> decode(proto::ByteView wire);
};

}  // namespace ntm::as
