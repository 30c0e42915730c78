// Wire formats of the relay server (ntm-rs) and of the hole punch (docs/protocol.md §7.9, §12).
// Parsing only: sizes, type bytes and reserved bytes are checked here, before any MAC; the
// MACs are made and checked by crypto/relay_auth.h. Multi-byte integers are big-endian.
//
//   relay data    0x07 | 00 00 00 | session ID (u32) | a tunnel packet (0x04 or 0x05)
//   relay bind    0x08 | side | 00 00 | counter (u64) | ticket (88) | MAC (16)        116 bytes
//   bind ack      0x09 | side | 00 00 | session ID (u32) | counter (u64) | MAC (16)    32 bytes
//   punch         0x0A | 00 00 00 | direction ID (u32) | counter (u64) | MAC (16)     32 bytes
//   status req    0x0B | 00 00 00 | sequence (u64) | MAC (16)                        28 bytes
//   status        0x0C | 00 00 00 | sequence (u64) | sessions (u32) | packets (u64) | MAC (16)
//   notice        0x0D | 00 00 00 | session ID (u32)                                   8 bytes
//
//   ticket        session ID (u32) | expiry (u32, Unix seconds) | identity A (32)
//                 | identity B (32) | MAC (16)                                          88 bytes
#pragma once

#include <array>
#include <cstdint>

#include "proto/bytes.h"
#include "proto/messages.h"

namespace ntm::proto {

using Mac16 = std::array<uint8_t, 16>;

/// A relay ticket: the DC's authorization for two node identities to use one relay session
/// until `expiry`. `mac` covers the first 72 bytes (crypto::RelayKeys::ticket_mac).
struct RelayTicket {
  uint32_t session_id = 0;
  uint32_t expiry = 0;  ///< Unix seconds
  std::array<uint8_t, kKeySize> identity_a{}, identity_b{};
  Mac16 mac{};

  void encode(uint8_t out[kRelayTicketSize]) const;
  /// Exactly kRelayTicketSize bytes; false otherwise.
  static bool decode(ByteView in, RelayTicket& out);
};

/// 0x07: the session ID; `inner` is the tunnel packet behind the header (at least one byte).
bool parse_relay_header(ByteView d, uint32_t& session_id, ByteView& inner);
void write_relay_header(uint8_t out[kRelayHeaderSize], uint32_t session_id);

struct RelayBind {
  uint8_t side = 0;  ///< 1 = identity A of the ticket, 2 = identity B
  uint64_t counter = 0;
  RelayTicket ticket;
  ByteView ticket_bytes;  ///< the 88 ticket bytes inside the parsed datagram
  Mac16 mac{};
};
/// 0x08, exactly 116 bytes, side 1 or 2, zero reserved bytes.
bool parse_relay_bind(ByteView d, RelayBind& out);

struct RelayBindAck {
  uint8_t side = 0;
  uint32_t session_id = 0;
  uint64_t counter = 0;
  Mac16 mac{};
};
/// 0x09, exactly 32 bytes, side 1 or 2, zero reserved bytes.
bool parse_relay_bind_ack(ByteView d, RelayBindAck& out);

struct Punch {
  uint32_t direction_id = 0;
  uint64_t counter = 0;
  Mac16 mac{};
};
/// 0x0A, exactly 32 bytes, zero reserved bytes.
bool parse_punch(ByteView d, Punch& out);

struct RelayStatusRequest {
  uint64_t sequence = 0;
  Mac16 mac{};
};
bool parse_relay_status_request(ByteView d, RelayStatusRequest& out);

struct RelayStatus {
  uint64_t sequence = 0;
  uint32_t sessions = 0;
  uint64_t packets = 0;  ///< datagrams forwarded since the RS started
  Mac16 mac{};
};
bool parse_relay_status(ByteView d, RelayStatus& out);

/// 0x0D, exactly 8 bytes.
bool parse_relay_notice(ByteView d, uint32_t& session_id);

}  // namespace ntm::proto
