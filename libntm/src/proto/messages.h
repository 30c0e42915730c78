// Wire constants of the NTM protocol: packet types, control message types, attribute types,
// error codes and fixed sizes. docs/protocol.md is the byte-exact specification; every value
// here appears there. All multi-byte integers on the wire are big-endian (network byte order)
// except the AEAD nonce, whose 64-bit counter is little-endian as in the Noise ChaChaPoly
// cipher (Noise rev. 34 §12.3).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ntm::proto {

/// First byte of every UDP payload NTM sends (docs/protocol.md §2).
enum class PacketType : uint8_t {
  kHandshakeInit = 0x01,       ///< node → DC: Noise IK message 1 + mac1 + mac2
  kHandshakeResp = 0x02,       ///< DC → node: Noise IK message 2
  kControl = 0x03,             ///< node ⇄ DC: control message sealed with the session key
  kTunnelHandshake = 0x04,     ///< node ⇄ node: tunnel request/response (Noise KKpsk0 messages)
  kData = 0x05,                ///< node ⇄ node: inner IP packet sealed with the tunnel key
  kCookieReply = 0x06,         ///< DC → node: cookie for mac2, instead of a handshake under load
  kRelayData = 0x07,           ///< node ⇄ RS: relay header + a tunnel packet (0x04/0x05) (§12.2)
  kRelayBind = 0x08,           ///< node → RS: relay ticket + MAC; binds the sender's endpoint
  kRelayBindAck = 0x09,        ///< RS → node: the bind was accepted
  kPunch = 0x0A,               ///< node → node: hole punch of the tunnel's responder (§7.9)
  kRelayStatusRequest = 0x0B,  ///< DC → RS: liveness and load query (§12.5)
  kRelayStatus = 0x0C,         ///< RS → DC: the answer
  kRelayNotice = 0x0D,      ///< RS → node: relay data came from an address not bound: bind again
  kDcHello = 0x0E,          ///< DC → DC: hello, asks for the certificate of a zone (§16.2)
  kDcCertificate = 0x0F,    ///< DC → DC: the AS-signed certificate of its static key (§15)
  kDcHandshakeInit = 0x10,  ///< DC → DC: key distribution, Noise IK message 1 ("NTM dc v1", §16.3)
  kDcHandshakeResp = 0x11,  ///< DC → DC: key distribution ack, Noise IK message 2
  kDcControl = 0x12,        ///< DC ⇄ DC: control message sealed with the DC⇄DC shared keys
};

/// Control message types (docs/protocol.md §4). The type alone says what a message is;
/// is_response() tells requests from responses.
enum class MessageType : uint8_t {
  kRegistrationRequest = 0x01,
  kRegistrationResponse = 0x02,
  kDirectionRequest = 0x03,
  kDirectionResponse = 0x04,
  kRouteDirection = 0x05,
  kRouteDirectionAck = 0x06,
  kTunnelRequest = 0x07,
  kTunnelResponse = 0x08,
  kKeepAlive = 0x09,
  kKeepAliveAck = 0x0A,
  kError = 0x0B,
  kPathChallenge = 0x0C,    ///< DC → node: prove you receive at the address this came from
  kPathResponse = 0x0D,     ///< node → DC: echoes the challenge's PathToken
  kNtmInfoRequest = 0x0E,   ///< DC_MN → DC_CN: who is this CN; direct it to the MN (§16.4)
  kNtmInfoResponse = 0x0F,  ///< DC_CN → DC_MN: the CN's vIPs, key and path candidates
};

/// True for the message types that answer a request (they echo its message ID).
constexpr bool is_response(MessageType t) {
  switch (t) {
    case MessageType::kRegistrationResponse:
    case MessageType::kDirectionResponse:
    case MessageType::kRouteDirectionAck:
    case MessageType::kTunnelResponse:
    case MessageType::kKeepAliveAck:
    case MessageType::kError:
    case MessageType::kPathResponse:
    case MessageType::kNtmInfoResponse:
      return true;
    default:
      return false;
  }
}

/// TLV attribute types (docs/protocol.md §5).
enum class AttrType : uint16_t {
  kNodeName = 0x0001,      ///< UTF-8 DNS label, 1..63 bytes
  kFqdn = 0x0002,          ///< UTF-8 domain name, 1..253 bytes, no trailing dot
  kVip4 = 0x0003,          ///< 4 bytes, IPv4 vIP
  kVip6 = 0x0004,          ///< 16 bytes, IPv6 vIP
  kRealAddress = 0x0005,   ///< endpoint as the node sees its own socket (repeatable)
  kNatAddress = 0x0006,    ///< endpoint as the DC sees the node (NAT outside address/port)
  kLifetime = 0x0007,      ///< u32 seconds
  kDirectionId = 0x0008,   ///< u32, names one tunnel negotiation
  kTemporalKey = 0x0009,   ///< 32 bytes, per-tunnel key from the route direction
  kRole = 0x000A,          ///< u8, Role
  kPeerEndpoint = 0x000B,  ///< endpoint of the peer to send the tunnel request to (repeatable)
  // 0x000C (EphemeralKey) was the ephemeral key of the old tunnel request; it is in the
  // Noise message itself now (docs/protocol.md §7.5) and the code is not reused.
  kTunnelId = 0x000D,       ///< u32, receiver index the sender wants in data packets
  kErrorCode = 0x000E,      ///< u16, ErrorCode
  kErrorText = 0x000F,      ///< UTF-8, 0..200 bytes
  kPeerFqdn = 0x0010,       ///< UTF-8 FQDN of the peer node
  kPeerVip4 = 0x0011,       ///< 4 bytes
  kPeerVip6 = 0x0012,       ///< 16 bytes
  kPeerStaticKey = 0x0013,  ///< 32 bytes, the peer node's static X25519 public key (identity)
  kPathToken = 0x0014,      ///< 8 bytes, random: path challenge / path response
  kHandshakeSeq = 0x0015,   ///< u32: 0 for a tunnel's first handshake, then 1, 2, ... per rekey
  kCandidate = 0x0016,  ///< kind (u8, CandidateKind) + endpoint: a path to the peer (repeatable)
  kRelayEndpoint = 0x0017,  ///< endpoint of the relay server (RS) this node binds to
  kRelayTicket = 0x0018,    ///< 88 bytes: the relay ticket (docs/protocol.md §12.3)
  kRelayKey = 0x0019,       ///< 32 bytes: this node's side key for the relay session
  kRelaySide = 0x001A,      ///< u8: 1 or 2, which of the ticket's identities this node is
  kFailedRelay = 0x001B,    ///< endpoint of a relay server that stopped answering this node
  kAccount = 0x001C,        ///< UTF-8, 1..64 bytes: the account a node registers under
  kPassword = 0x001D,       ///< 8..256 bytes: the account's password (sealed, never logged)
  /// Registration request: the node wants a Notification Server (sent empty; any value is
  /// ignored). docs/protocol.md §17.
  kNotification = 0x001E,
  kNsAddress = 0x001F,  ///< registration response: endpoint of the NS's node port (TCP)
  kNsKey = 0x0020,      ///< registration response: 32 bytes, the NS's static public key
};

/// What a path candidate is (docs/protocol.md §7.9). The DC lists a peer's candidates in the
/// order a node should prefer them: private (LAN) endpoints first, then the NAT-mapped one.
enum class CandidateKind : uint8_t {
  kLan = 1,     ///< a private address of the peer, on a network both nodes share
  kPublic = 2,  ///< an address of a peer that no NAT hides (the peer is reachable there)
  kMapped = 3,  ///< the peer's NAT outside address and port, as the DC sees it
};

/// Which side of a directed tunnel sends the tunnel request (paper 002 Fig. 3 steps 15-18).
enum class Role : uint8_t {
  kInitiator = 1,  ///< sends the tunnel request
  kResponder = 2,  ///< waits for the tunnel request and answers with the tunnel response
};

/// Error codes carried in kError messages (docs/protocol.md §6).
enum class ErrorCode : uint16_t {
  kMalformed = 1,        ///< the request could not be parsed or misses a mandatory attribute
  kUnknownFqdn = 2,      ///< direction request for a name the DC does not know
  kPoolExhausted = 3,    ///< no free vIP in the configured pool
  kNotRegistered = 4,    ///< request on a session without a registration
  kInvalidName = 5,      ///< node name is not a valid DNS label
  kPeerUnreachable = 6,  ///< neither side can reach the other (needs a relay)
  kNameTaken = 7,        ///< node name registered by a different node identity
  kInternal = 8,
  kRateLimited = 9,       ///< too many requests of this kind from this node; try again later
  kTunnelRefused = 10,    ///< node → DC: route direction refused (a live tunnel to that peer vIP,
                          ///< or a pin, names another static key)
  kAuthRequired = 11,     ///< the DC registers only nodes with an account; none was given
  kAuthFailed = 12,       ///< the Account Server does not know the account or the password
  kNodeLimit = 13,        ///< the account has as many other nodes as it may
  kAuthUnavailable = 14,  ///< the Account Server did not answer (or refused the DC): try later
};

inline constexpr uint8_t kProtocolVersion = 1;

inline constexpr size_t kKeySize = 32;           ///< X25519 keys, temporal keys, AEAD keys
inline constexpr size_t kTagSize = 16;           ///< Poly1305 tag
inline constexpr size_t kSealedHeaderSize = 16;  ///< type, reserved[3], receiver index, counter
/// Bytes a sealed packet adds to its plaintext: header + tag. Equal to WireGuard's overhead.
inline constexpr size_t kSealedOverhead = kSealedHeaderSize + kTagSize;
inline constexpr size_t kControlHeaderSize = 8;  ///< version, type, flags, message ID
inline constexpr size_t kAttrHeaderSize = 4;     ///< type, length

/// Noise IK message 1: type, reserved[3], sender index, e, enc(s), enc(timestamp), mac1, mac2.
inline constexpr size_t kHandshakeInitSize = 8 + 32 + (32 + kTagSize) + (12 + kTagSize) + 32;
/// Noise IK message 2: type, reserved[3], sender index, receiver index, e, enc(empty).
inline constexpr size_t kHandshakeRespSize = 12 + 32 + kTagSize;

/// Tunnel handshake messages (type 0x04): type, reserved[3], direction ID, e, then the sealed
/// payload (a control message + tag). docs/protocol.md §7.5.
inline constexpr size_t kTunnelHandshakeHeaderSize = 8 + 32;
inline constexpr size_t kTunnelHandshakeMinSize = kTunnelHandshakeHeaderSize + 8 + kTagSize;
/// Largest tunnel handshake message a node accepts (its payload is a few attributes).
inline constexpr size_t kTunnelHandshakeMaxSize = 512;

/// Data packets whose plaintext starts with this byte (never the first byte of an IPv4 or
/// IPv6 packet) carry a tunnel message instead of an inner packet (docs/protocol.md §8.3):
///   0x00 | kind (u8) | token (8) [| padding: any bytes, ignored]
/// kTunnelMessageSize bytes at least; a longer one is padded (as RFC 9000 §8.2.1 pads a
/// PATH_CHALLENGE): a node that moved pads its path challenge to kPaddedChallengeSize, so the
/// peer that roams on it may send that much more to the new address before validating it.
inline constexpr uint8_t kTunnelMessageMarker = 0x00;
inline constexpr size_t kTunnelMessageSize = 10;
inline constexpr size_t kPaddedChallengeSize = 1200;
enum class TunnelMessage : uint8_t {
  kPathChallenge = 1,  ///< answer with a path response carrying the same token
  kPathResponse = 2,
};

/// Relay server wire sizes (docs/protocol.md §12). Every MAC is keyed BLAKE2b with a 16-byte
/// output (crypto/relay_auth.h).
inline constexpr size_t kRelayHeaderSize = 8;         ///< 0x07, reserved[3], session ID (u32)
inline constexpr size_t kRelayTicketSize = 88;        ///< session, expiry, identity A, B, MAC
inline constexpr size_t kRelayTicketSignedSize = 72;  ///< the bytes the ticket MAC covers
inline constexpr size_t kRelayBindSize = 116;    ///< 0x08, side, reserved[2], counter, ticket, MAC
inline constexpr size_t kRelayBindAckSize = 32;  ///< 0x09, side, reserved[2], session, counter, MAC
inline constexpr size_t kPunchSize = 32;         ///< 0x0A, reserved[3], direction ID, counter, MAC
inline constexpr size_t kRelayStatusRequestSize = 28;  ///< 0x0B, reserved[3], sequence, MAC
inline constexpr size_t kRelayStatusSize =
    40;                                        ///< 0x0C, reserved, sequence, sessions, packets, MAC
inline constexpr size_t kRelayNoticeSize = 8;  ///< 0x0D, reserved[3], session ID

/// Largest UDP payload NTM sends or accepts.
inline constexpr size_t kMaxDatagram = 65535 - 8 - 40;
/// Inner MTU of the tunnel netif: 1500 (outer) − 40 (IPv6) − 8 (UDP) − 32 (overhead).
inline constexpr uint16_t kTunnelMtu = 1420;

/// Control flags (docs/protocol.md §4.1).
inline constexpr uint16_t kFlagRetransmission = 0x0001;

}  // namespace ntm::proto
