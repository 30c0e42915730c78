#include "crypto/relay_auth.h"

#include <sodium.h>

#include <cstring>

namespace ntm::crypto {

Key kdf(const Key& key, std::string_view label, proto::ByteView data) {
  Key out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), out.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(label.data()), label.size());
  if (!data.empty()) crypto_generichash_update(&st, data.data(), data.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Mac16 mac16(const Key& key, proto::ByteView data) {
  Mac16 out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

bool mac_equal(const Mac16& a, const uint8_t* b) {
  return sodium_memcmp(a.data(), b, a.size()) == 0;
}

namespace {

/// Writes MAC(key, d[0 .. d.size()-16)) into the last 16 bytes of `d`.
void seal_mac(proto::Bytes& d, const Key& key) {
  Mac16 m = mac16(key, proto::ByteView(d).first(d.size() - 16));
  std::memcpy(&d[d.size() - 16], m.data(), 16);
}
bool check_mac(proto::ByteView d, const Key& key) {
  if (d.size() < 16) return false;
  return mac_equal(mac16(key, d.first(d.size() - 16)), &d[d.size() - 16]);
}

}  // namespace

RelayKeys::RelayKeys(const Key& relay_key)
    : key_(relay_key),
      ticket_key_(kdf(relay_key, "ntm relay ticket")),
      status_key_(kdf(relay_key, "ntm relay status")) {}

RelayKeys::~RelayKeys() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(ticket_key_.data(), ticket_key_.size());
  sodium_memzero(status_key_.data(), status_key_.size());
}

proto::Bytes RelayKeys::issue_ticket(uint32_t session_id, uint32_t expiry, const Key& a,
                                     const Key& b) const {
  proto::RelayTicket t;
  t.session_id = session_id;
  t.expiry = expiry;
  t.identity_a = a;
  t.identity_b = b;
  proto::Bytes out(proto::kRelayTicketSize);
  t.encode(out.data());
  Mac16 m = mac16(ticket_key_, proto::ByteView(out).first(proto::kRelayTicketSignedSize));
  std::memcpy(&out[proto::kRelayTicketSignedSize], m.data(), 16);
  return out;
}

bool RelayKeys::verify_ticket(proto::ByteView ticket) const {
  return ticket.size() == proto::kRelayTicketSize && check_mac(ticket, ticket_key_);
}

Key RelayKeys::side_key(uint8_t side, proto::ByteView ticket) const {
  uint8_t buf[1 + proto::kRelayTicketSize] = {side};
  std::memcpy(buf + 1, ticket.data(), std::min(ticket.size(), proto::kRelayTicketSize));
  return kdf(key_, "ntm relay side", proto::ByteView(buf, sizeof buf));
}

proto::Bytes RelayKeys::make_status_request(uint64_t sequence) const {
  proto::Bytes d(proto::kRelayStatusRequestSize);
  d[0] = uint8_t(proto::PacketType::kRelayStatusRequest);
  proto::put_u64(&d[4], sequence);
  seal_mac(d, status_key_);
  return d;
}

bool RelayKeys::verify_status_request(proto::ByteView d) const {
  return d.size() == proto::kRelayStatusRequestSize && check_mac(d, status_key_);
}

proto::Bytes RelayKeys::make_status(uint64_t sequence, uint32_t sessions, uint64_t packets) const {
  proto::Bytes d(proto::kRelayStatusSize);
  d[0] = uint8_t(proto::PacketType::kRelayStatus);
  proto::put_u64(&d[4], sequence);
  proto::put_u32(&d[12], sessions);
  proto::put_u64(&d[16], packets);
  seal_mac(d, status_key_);
  return d;
}

bool RelayKeys::verify_status(proto::ByteView d) const {
  return d.size() == proto::kRelayStatusSize && check_mac(d, status_key_);
}

proto::Bytes make_relay_bind(uint8_t side, uint64_t counter, proto::ByteView ticket,
                             const Key& side_key) {
  proto::Bytes d(proto::kRelayBindSize);
  d[0] = uint8_t(proto::PacketType::kRelayBind);
  d[1] = side;
  proto::put_u64(&d[4], counter);
  std::memcpy(&d[12], ticket.data(), std::min(ticket.size(), proto::kRelayTicketSize));
  seal_mac(d, side_key);
  return d;
}

bool verify_relay_bind(proto::ByteView d, const Key& side_key) {
  return d.size() == proto::kRelayBindSize && check_mac(d, side_key);
}

proto::Bytes make_relay_bind_ack(uint8_t side, uint32_t session_id, uint64_t counter,
                                 const Key& side_key) {
  proto::Bytes d(proto::kRelayBindAckSize);
  d[0] = uint8_t(proto::PacketType::kRelayBindAck);
  d[1] = side;
  proto::put_u32(&d[4], session_id);
  proto::put_u64(&d[8], counter);
  seal_mac(d, side_key);
  return d;
}

bool verify_relay_bind_ack(proto::ByteView d, const Key& side_key) {
  return d.size() == proto::kRelayBindAckSize && check_mac(d, side_key);
}

Key punch_key(const Key& temporal_key, uint32_t direction_id) {
  uint8_t id[4];
  proto::put_u32(id, direction_id);
  return kdf(temporal_key, "ntm punch", proto::ByteView(id, 4));
}

proto::Bytes make_punch(uint32_t direction_id, uint64_t counter, const Key& punch_key) {
  proto::Bytes d(proto::kPunchSize);
  d[0] = uint8_t(proto::PacketType::kPunch);
  proto::put_u32(&d[4], direction_id);
  proto::put_u64(&d[8], counter);
  seal_mac(d, punch_key);
  return d;
}

bool verify_punch(proto::ByteView d, const Key& punch_key) {
  return d.size() == proto::kPunchSize && check_mac(d, punch_key);
}

}  // namespace ntm::crypto
