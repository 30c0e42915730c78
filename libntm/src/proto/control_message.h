// Control messages: fixed 8-byte header + TLV attributes (docs/protocol.md §4-5).
//
//   0               1               2               3
//   | version (=1)  | message type  | flags (u16, big-endian)       |
//   | message ID (u32, big-endian)                                  |
//   | attribute type (u16)          | attribute length (u16)        |
//   | value (length bytes, no padding) ...                          |
//
// The same layout is used node⇄DC (inside a kControl packet) and node⇄node (tunnel
// request/response as the payload of a kTunnelHandshake message). Responses echo their request's
// message ID.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.h"
#include "proto/endpoint.h"
#include "proto/messages.h"

namespace ntm::proto {

/// Why decode() refused a buffer. Each value is a counted drop reason at the receiver.
enum class DecodeError {
  kNone = 0,
  kTruncated,      ///< shorter than a header, or an attribute runs past the end
  kBadVersion,     ///< version byte is not kProtocolVersion
  kUnknownType,    ///< message type not in MessageType
  kBadAttrLength,  ///< a known fixed-size attribute has the wrong length
  kTooManyAttrs,   ///< more than kMaxAttributes attributes
};
const char* to_string(DecodeError e);

using Key = std::array<uint8_t, kKeySize>;

/// A path candidate to a peer (attribute Candidate): what it is and where.
struct Candidate {
  CandidateKind kind = CandidateKind::kMapped;
  Endpoint endpoint;
  bool operator==(const Candidate&) const = default;
};

struct Attribute {
  AttrType type;
  Bytes value;
};

/// One control message, decoded or being built. Unknown attribute types survive decoding (they
/// are skipped by the getters) so newer peers can add attributes.
class ControlMessage {
 public:
  static constexpr size_t kMaxAttributes = 64;

  ControlMessage() = default;
  ControlMessage(MessageType type, uint32_t message_id) : type(type), message_id(message_id) {}

  MessageType type = MessageType::kError;
  uint16_t flags = 0;
  uint32_t message_id = 0;
  std::vector<Attribute> attrs;

  // Builders (append one attribute; return *this for chaining). A value longer than 65535
  // bytes throws std::length_error (a bug in the caller, never input from the network).
  ControlMessage& add(AttrType t, ByteView v);
  ControlMessage& add_u8(AttrType t, uint8_t v);
  ControlMessage& add_u16(AttrType t, uint16_t v);
  ControlMessage& add_u32(AttrType t, uint32_t v);
  ControlMessage& add_string(AttrType t, std::string_view s);
  ControlMessage& add_endpoint(AttrType t, const Endpoint& e);
  ControlMessage& add_candidate(const Candidate& c);

  // Getters: the first attribute of that type, or nullopt when absent.
  const Attribute* find(AttrType t) const;
  std::optional<uint8_t> get_u8(AttrType t) const;
  std::optional<uint16_t> get_u16(AttrType t) const;
  std::optional<uint32_t> get_u32(AttrType t) const;
  std::optional<std::string> get_string(AttrType t) const;
  std::optional<Endpoint> get_endpoint(AttrType t) const;
  std::vector<Endpoint> get_endpoints(AttrType t) const;  ///< every valid one, in order
  /// Every valid Candidate, in order (a known kind and a valid endpoint; others are skipped).
  std::vector<Candidate> get_candidates() const;
  std::optional<Key> get_key(AttrType t) const;
  template <size_t N>
  std::optional<std::array<uint8_t, N>> get_fixed(AttrType t) const {
    const Attribute* a = find(t);
    if (!a || a->value.size() != N) return std::nullopt;
    std::array<uint8_t, N> out;
    std::copy(a->value.begin(), a->value.end(), out.begin());
    return out;
  }

  /// Appends the wire form to `out`.
  void encode_to(Bytes& out) const;
  Bytes encode() const;
  /// Parses a whole buffer; on failure returns nullopt and sets `err`.
  static std::optional<ControlMessage> decode(ByteView wire, DecodeError& err);
};

const char* to_string(MessageType t);
const char* to_string(ErrorCode c);

/// Builds the kError response to `request` (same message ID).
ControlMessage make_error(const ControlMessage& request, ErrorCode code, std::string_view text);

}  // namespace ntm::proto
