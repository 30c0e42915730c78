#include "proto/control_message.h"

#include <stdexcept>

namespace ntm::proto {
namespace {

bool known_type(uint8_t t) {
  return t >= uint8_t(MessageType::kRegistrationRequest) &&
         t <= uint8_t(MessageType::kNtmInfoResponse);
}

/// Exact length of fixed-size attributes; 0 = variable (checked by the getters).
size_t fixed_length(uint16_t t) {
  switch (AttrType(t)) {
    case AttrType::kVip4:
    case AttrType::kPeerVip4:
    case AttrType::kLifetime:
    case AttrType::kDirectionId:
    case AttrType::kTunnelId:
    case AttrType::kHandshakeSeq:
      return 4;
    case AttrType::kPathToken:
      return 8;
    case AttrType::kVip6:
    case AttrType::kPeerVip6:
      return 16;
    case AttrType::kTemporalKey:
    case AttrType::kPeerStaticKey:
    case AttrType::kRelayKey:
    case AttrType::kNsKey:
      return 32;
    case AttrType::kRelayTicket:
      return kRelayTicketSize;
    case AttrType::kRole:
    case AttrType::kRelaySide:
      return 1;
    case AttrType::kErrorCode:
      return 2;
    default:
      return 0;
  }
}

bool valid_endpoint_length(uint16_t t, size_t len) {
  switch (AttrType(t)) {
    case AttrType::kRealAddress:
    case AttrType::kNatAddress:
    case AttrType::kPeerEndpoint:
    case AttrType::kRelayEndpoint:
    case AttrType::kFailedRelay:
    case AttrType::kNsAddress:
      return len == 7 || len == 19;
    case AttrType::kCandidate:
      return len == 8 || len == 20;
    default:
      return true;
  }
}

}  // namespace

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kTruncated:
      return "truncated";
    case DecodeError::kBadVersion:
      return "bad version";
    case DecodeError::kUnknownType:
      return "unknown message type";
    case DecodeError::kBadAttrLength:
      return "bad attribute length";
    case DecodeError::kTooManyAttrs:
      return "too many attributes";
  }
  return "?";
}

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kRegistrationRequest:
      return "registration request";
    case MessageType::kRegistrationResponse:
      return "registration response";
    case MessageType::kDirectionRequest:
      return "direction request";
    case MessageType::kDirectionResponse:
      return "direction response";
    case MessageType::kRouteDirection:
      return "route direction";
    case MessageType::kRouteDirectionAck:
      return "route direction ack";
    case MessageType::kTunnelRequest:
      return "tunnel request";
    case MessageType::kTunnelResponse:
      return "tunnel response";
    case MessageType::kKeepAlive:
      return "keep-alive";
    case MessageType::kKeepAliveAck:
      return "keep-alive ack";
    case MessageType::kError:
      return "error";
    case MessageType::kPathChallenge:
      return "path challenge";
    case MessageType::kPathResponse:
      return "path response";
    case MessageType::kNtmInfoRequest:
      return "NTM information request";
    case MessageType::kNtmInfoResponse:
      return "NTM information response";
  }
  return "unknown";
}

const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::kMalformed:
      return "malformed request";
    case ErrorCode::kUnknownFqdn:
      return "unknown FQDN";
    case ErrorCode::kPoolExhausted:
      return "vIP pool exhausted";
    case ErrorCode::kNotRegistered:
      return "not registered";
    case ErrorCode::kInvalidName:
      return "invalid node name";
    case ErrorCode::kPeerUnreachable:
      return "peer unreachable";
    case ErrorCode::kNameTaken:
      return "name taken";
    case ErrorCode::kInternal:
      return "internal error";
    case ErrorCode::kRateLimited:
      return "rate limited";
    case ErrorCode::kTunnelRefused:
      return "tunnel refused";
    case ErrorCode::kAuthRequired:
      return "account required";
    case ErrorCode::kAuthFailed:
      return "bad credentials";
    case ErrorCode::kNodeLimit:
      return "node limit reached";
    case ErrorCode::kAuthUnavailable:
      return "account server unavailable";
  }
  return "unknown error";
}

ControlMessage& ControlMessage::add(AttrType t, ByteView v) {
  // The length field is 16 bits; a longer value is a programming error, never wire input.
  if (v.size() > 0xffff) throw std::length_error("attribute value longer than 65535 bytes");
  attrs.push_back({t, Bytes(v.begin(), v.end())});
  return *this;
}
ControlMessage& ControlMessage::add_u8(AttrType t, uint8_t v) {
  return add(t, ByteView(&v, 1));
}
ControlMessage& ControlMessage::add_u16(AttrType t, uint16_t v) {
  uint8_t b[2];
  put_u16(b, v);
  return add(t, b);
}
ControlMessage& ControlMessage::add_u32(AttrType t, uint32_t v) {
  uint8_t b[4];
  put_u32(b, v);
  return add(t, b);
}
ControlMessage& ControlMessage::add_string(AttrType t, std::string_view s) {
  return add(t, ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
ControlMessage& ControlMessage::add_endpoint(AttrType t, const Endpoint& e) {
  Bytes b;
  Writer w(b);
  e.encode(w);
  return add(t, b);
}

const Attribute* ControlMessage::find(AttrType t) const {
  for (auto& a : attrs)
    if (a.type == t) return &a;
  return nullptr;
}
std::optional<uint8_t> ControlMessage::get_u8(AttrType t) const {
  auto* a = find(t);
  if (!a || a->value.size() != 1) return std::nullopt;
  return a->value[0];
}
std::optional<uint16_t> ControlMessage::get_u16(AttrType t) const {
  auto* a = find(t);
  if (!a || a->value.size() != 2) return std::nullopt;
  return proto::get_u16(a->value.data());
}
std::optional<uint32_t> ControlMessage::get_u32(AttrType t) const {
  auto* a = find(t);
  if (!a || a->value.size() != 4) return std::nullopt;
  return proto::get_u32(a->value.data());
}
std::optional<std::string> ControlMessage::get_string(AttrType t) const {
  auto* a = find(t);
  if (!a) return std::nullopt;
  return std::string(a->value.begin(), a->value.end());
}
std::optional<Endpoint> ControlMessage::get_endpoint(AttrType t) const {
  auto* a = find(t);
  if (!a) return std::nullopt;
  return Endpoint::decode(a->value);
}
std::vector<Endpoint> ControlMessage::get_endpoints(AttrType t) const {
  std::vector<Endpoint> out;
  for (auto& a : attrs)
    if (a.type == t)
      if (auto e = Endpoint::decode(a.value)) out.push_back(*e);
  return out;
}
ControlMessage& ControlMessage::add_candidate(const Candidate& c) {
  Bytes b;
  Writer w(b);
  w.u8(uint8_t(c.kind));
  c.endpoint.encode(w);
  return add(AttrType::kCandidate, b);
}
std::vector<Candidate> ControlMessage::get_candidates() const {
  std::vector<Candidate> out;
  for (auto& a : attrs) {
    if (a.type != AttrType::kCandidate || a.value.size() < 8) continue;
    uint8_t kind = a.value[0];
    if (kind < uint8_t(CandidateKind::kLan) || kind > uint8_t(CandidateKind::kMapped)) continue;
    if (auto e = Endpoint::decode(ByteView(a.value).subspan(1)))
      out.push_back({CandidateKind(kind), *e});
  }
  return out;
}
std::optional<Key> ControlMessage::get_key(AttrType t) const {
  return get_fixed<kKeySize>(t);
}

void ControlMessage::encode_to(Bytes& out) const {
  Writer w(out);
  w.u8(kProtocolVersion);
  w.u8(uint8_t(type));
  w.u16(flags);
  w.u32(message_id);
  for (auto& a : attrs) {
    w.u16(uint16_t(a.type));
    w.u16(uint16_t(a.value.size()));
    w.raw(a.value);
  }
}

Bytes ControlMessage::encode() const {
  Bytes out;
  encode_to(out);
  return out;
}

std::optional<ControlMessage> ControlMessage::decode(ByteView wire, DecodeError& err) {
  Reader r(wire);
  uint8_t version, type;
  ControlMessage m;
  if (!r.get_u8(version) || !r.get_u8(type) || !r.get_u16(m.flags) || !r.get_u32(m.message_id)) {
    err = DecodeError::kTruncated;
    return std::nullopt;
  }
  if (version != kProtocolVersion) {
    err = DecodeError::kBadVersion;
    return std::nullopt;
  }
  if (!known_type(type)) {
    err = DecodeError::kUnknownType;
    return std::nullopt;
  }
  m.type = MessageType(type);
  while (r.remaining() > 0) {
    uint16_t at, len;
    ByteView v;
    if (!r.get_u16(at) || !r.get_u16(len) || !r.get_view(len, v)) {
      err = DecodeError::kTruncated;
      return std::nullopt;
    }
    size_t fixed = fixed_length(at);
    if ((fixed && len != fixed) || !valid_endpoint_length(at, len)) {
      err = DecodeError::kBadAttrLength;
      return std::nullopt;
    }
    if (m.attrs.size() == kMaxAttributes) {
      err = DecodeError::kTooManyAttrs;
      return std::nullopt;
    }
    m.attrs.push_back({AttrType(at), Bytes(v.begin(), v.end())});
  }
  err = DecodeError::kNone;
  return m;
}

ControlMessage make_error(const ControlMessage& request, ErrorCode code, std::string_view text) {
  ControlMessage m(MessageType::kError, request.message_id);
  m.add_u16(AttrType::kErrorCode, uint16_t(code));
  // At most 200 bytes, cut at a UTF-8 character boundary.
  size_t n = std::min<size_t>(text.size(), 200);
  if (n < text.size())
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;
  m.add_string(AttrType::kErrorText, text.substr(0, n));
  return m;
}

}  // namespace ntm::proto
