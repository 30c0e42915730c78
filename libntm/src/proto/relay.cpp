#include "proto/relay.h"

#include <algorithm>
#include <cstring>

namespace ntm::proto {
namespace {

bool zero(ByteView d, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (d[i]) return false;
  return true;
}

bool starts(ByteView d, PacketType t, size_t size) {
  return d.size() == size && d[0] == uint8_t(t);
}

Mac16 mac_at(ByteView d, size_t off) {
  Mac16 m;
  std::copy(d.begin() + off, d.begin() + off + 16, m.begin());
  return m;
}

}  // namespace

void RelayTicket::encode(uint8_t out[kRelayTicketSize]) const {
  put_u32(out, session_id);
  put_u32(out + 4, expiry);
  std::memcpy(out + 8, identity_a.data(), kKeySize);
  std::memcpy(out + 40, identity_b.data(), kKeySize);
  std::memcpy(out + kRelayTicketSignedSize, mac.data(), mac.size());
}

bool RelayTicket::decode(ByteView in, RelayTicket& out) {
  if (in.size() != kRelayTicketSize) return false;
  out.session_id = get_u32(&in[0]);
  out.expiry = get_u32(&in[4]);
  std::copy(in.begin() + 8, in.begin() + 40, out.identity_a.begin());
  std::copy(in.begin() + 40, in.begin() + 72, out.identity_b.begin());
  out.mac = mac_at(in, kRelayTicketSignedSize);
  return true;
}

bool parse_relay_header(ByteView d, uint32_t& session_id, ByteView& inner) {
  if (d.size() <= kRelayHeaderSize || d[0] != uint8_t(PacketType::kRelayData) || !zero(d, 1, 4))
    return false;
  session_id = get_u32(&d[4]);
  inner = d.subspan(kRelayHeaderSize);
  return true;
}

void write_relay_header(uint8_t out[kRelayHeaderSize], uint32_t session_id) {
  out[0] = uint8_t(PacketType::kRelayData);
  out[1] = out[2] = out[3] = 0;
  put_u32(out + 4, session_id);
}

bool parse_relay_bind(ByteView d, RelayBind& out) {
  if (!starts(d, PacketType::kRelayBind, kRelayBindSize) || (d[1] != 1 && d[1] != 2) ||
      !zero(d, 2, 4))
    return false;
  out.side = d[1];
  out.counter = get_u64(&d[4]);
  out.ticket_bytes = d.subspan(12, kRelayTicketSize);
  RelayTicket::decode(out.ticket_bytes, out.ticket);
  out.mac = mac_at(d, 12 + kRelayTicketSize);
  return true;
}

bool parse_relay_bind_ack(ByteView d, RelayBindAck& out) {
  if (!starts(d, PacketType::kRelayBindAck, kRelayBindAckSize) || (d[1] != 1 && d[1] != 2) ||
      !zero(d, 2, 4))
    return false;
  out.side = d[1];
  out.session_id = get_u32(&d[4]);
  out.counter = get_u64(&d[8]);
  out.mac = mac_at(d, 16);
  return true;
}

bool parse_punch(ByteView d, Punch& out) {
  if (!starts(d, PacketType::kPunch, kPunchSize) || !zero(d, 1, 4)) return false;
  out.direction_id = get_u32(&d[4]);
  out.counter = get_u64(&d[8]);
  out.mac = mac_at(d, 16);
  return true;
}

bool parse_relay_status_request(ByteView d, RelayStatusRequest& out) {
  if (!starts(d, PacketType::kRelayStatusRequest, kRelayStatusRequestSize) || !zero(d, 1, 4))
    return false;
  out.sequence = get_u64(&d[4]);
  out.mac = mac_at(d, 12);
  return true;
}

bool parse_relay_status(ByteView d, RelayStatus& out) {
  if (!starts(d, PacketType::kRelayStatus, kRelayStatusSize) || !zero(d, 1, 4)) return false;
  out.sequence = get_u64(&d[4]);
  out.sessions = get_u32(&d[12]);
  out.packets = get_u64(&d[16]);
  out.mac = mac_at(d, 24);
  return true;
}

bool parse_relay_notice(ByteView d, uint32_t& session_id) {
  if (!starts(d, PacketType::kRelayNotice, kRelayNoticeSize) || !zero(d, 1, 4)) return false;
  session_id = get_u32(&d[4]);
  return true;
}

}  // namespace ntm::proto
