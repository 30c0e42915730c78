// The node ⇄ Notification Server channel (docs/protocol.md §17; paper 002 §2.3 and Fig. 5
// steps 7-8, 17-20): one long-lived TCP connection per node, so that a NAT keeps the node
// reachable with far rarer traffic than UDP keep-alives (RFC 5382 REQ-5: an established TCP
// binding lives at least 2 h 4 min).
//
// The stream is a sequence of frames:  length (u16 BE) ‖ that many bytes, 1..kMaxFramePayload.
//   frame 1, node → NS: handshake message 1 exactly as §3.2 (148 bytes, no early data)
//   frame 1, NS → node: handshake message 2 (§3.2, 60 bytes)
//   then, both ways: sealed packets (§2.2, type 0x03; node → NS with k1, NS → node with k2)
//   whose plaintext is one NS message, exactly 1 byte: 0x01 ping (node → NS), 0x02 pong
//   (NS → node), 0x03 notify (NS → node: "your DC has a request waiting for you").
// Anything else on the stream closes the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "proto/bytes.h"
#include "proto/messages.h"

namespace ntm::proto::ns {

/// Default TCP port of the NS for nodes (`node-listen`) and UDP port for DCs (`dc-listen`).
inline constexpr uint16_t kNodePort = 7400, kDcPort = 7401;
/// Bytes of the frame length prefix.
inline constexpr size_t kFrameHeaderSize = 2;
/// Largest frame payload (a length above it, or 0, closes the connection).
inline constexpr size_t kMaxFramePayload = 1232;

enum class Message : uint8_t {
  kPing = 0x01,    ///< node → NS: answered by a pong; keeps the NAT's TCP binding and the NS's
                   ///< idle timer alive
  kPong = 0x02,    ///< NS → node
  kNotify = 0x03,  ///< NS → node: the node's DC has a request waiting; send it a keep-alive now
};
/// Plaintext size of every NS message.
inline constexpr size_t kMessageSize = 1;
/// A sealed NS message: 16-byte header + 1 byte + 16-byte tag.
inline constexpr size_t kSealedMessageSize = kSealedOverhead + kMessageSize;
/// A whole frame carrying a sealed NS message on the wire: 2 + 33.
inline constexpr size_t kSealedFrameSize = kFrameHeaderSize + kSealedMessageSize;

/// The payload length announced by a 2-byte frame header (big-endian), or nullopt when it is
/// 0 or above kMaxFramePayload.
std::optional<size_t> parse_frame_length(const uint8_t header[kFrameHeaderSize]);
/// length (u16 BE) ‖ payload; empty when the payload is empty or longer than kMaxFramePayload.
Bytes encode_frame(ByteView payload);
/// The NS message in a plaintext: exactly one byte, 0x01..0x03; nullopt for anything else.
std::optional<Message> decode_message(ByteView plain);

/// Splits a byte stream into frames, for a reader that receives arbitrary chunks (the node's
/// side, tests, the fuzz target). Holds at most one frame's bytes.
class FrameReader {
 public:
  enum class Status {
    kNeedMore,  ///< everything given was consumed; no whole frame yet
    kFrame,     ///< frame() holds a whole payload; call next() with the unconsumed rest
    kError,     ///< a length of 0 or above kMaxFramePayload: the stream is unusable
  };
  /// Consumes bytes of `data` up to the end of the next frame; `consumed` says how many.
  Status next(ByteView data, size_t& consumed);
  /// The payload of the frame just completed (valid until the next call of next()).
  const Bytes& frame() const { return frame_; }

 private:
  uint8_t header_[kFrameHeaderSize] = {};
  size_t header_have_ = 0, want_ = 0;
  bool failed_ = false;
  Bytes frame_;
};

}  // namespace ntm::proto::ns

namespace ntm::proto::ns {

/// DC ⇄ NS channel (docs/protocol.md §17.3): the admin message op a DC sends to have a node
/// notified. One field: the node identity (44 characters of base64, §14). Response status 0:
/// the notification went out on the node's live connection; 4: the node has no connection.
inline constexpr uint8_t kDcOpNotify = 0x20;

}  // namespace ntm::proto::ns
