// Fuzz target: every parser of §7.9 and §12 (docs/protocol.md) — relay data, relay bind, bind
// ack, punch, status request, status, notice, the relay ticket — the relay server's session
// table fed the binds that parse (the RS's own path, rs/relay_session.h), and path candidates
// inside a control message (ControlMessage::get_candidates).
//
// The relay key is the one of the protocol.md examples (bytes 71 72 ... 90), so the seeds in
// corpus/relay/ (the §10 examples) carry valid MACs and reach the accepted-bind path.
//
// Invariants: a parse succeeds only for the exact size, type byte, side and zero reserved
// bytes the text gives; what parses re-encodes to the same bytes; a MAC the RS accepts is the
// one the library computes; a bind never creates more than one session per input, and a bind
// replayed with the same counter is stale; every candidate returned has a known kind and a
// valid endpoint that encodes back to its attribute.
#include <cstdint>
#include <cstring>

#include "crypto/relay_auth.h"
#include "fuzz_support.h"
#include "proto/control_message.h"
#include "proto/relay.h"
#include "rs/relay_session.h"

using namespace ntm;
using proto::ByteView;

namespace {

crypto::Key example_relay_key() {
  crypto::Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(0x71 + i);
  return k;
}

bool zero(ByteView d, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (d[i]) return false;
  return true;
}

void check_relay_formats(ByteView d) {
  uint32_t session = 0;
  ByteView inner;
  if (proto::parse_relay_header(d, session, inner)) {
    FUZZ_CHECK(d.size() > proto::kRelayHeaderSize && d[0] == 0x07 && zero(d, 1, 4));
    FUZZ_CHECK(session == proto::get_u32(&d[4]) && inner.size() == d.size() - 8);
    uint8_t hdr[proto::kRelayHeaderSize];
    proto::write_relay_header(hdr, session);
    FUZZ_CHECK(std::memcmp(hdr, d.data(), sizeof hdr) == 0);
  }
  proto::RelayBind b;
  if (proto::parse_relay_bind(d, b)) {
    FUZZ_CHECK(d.size() == proto::kRelayBindSize && d[0] == 0x08 && (d[1] == 1 || d[1] == 2));
    FUZZ_CHECK(zero(d, 2, 4) && b.counter == proto::get_u64(&d[4]));
    FUZZ_CHECK(b.ticket_bytes.size() == proto::kRelayTicketSize);
    uint8_t t[proto::kRelayTicketSize];
    b.ticket.encode(t);
    FUZZ_CHECK(std::memcmp(t, b.ticket_bytes.data(), sizeof t) == 0);
  }
  proto::RelayBindAck a;
  if (proto::parse_relay_bind_ack(d, a)) {
    FUZZ_CHECK(d.size() == proto::kRelayBindAckSize && d[0] == 0x09 &&
               (a.side == 1 || a.side == 2));
    FUZZ_CHECK(zero(d, 2, 4) && a.session_id == proto::get_u32(&d[4]));
  }
  proto::Punch p;
  if (proto::parse_punch(d, p)) {
    FUZZ_CHECK(d.size() == proto::kPunchSize && d[0] == 0x0A && zero(d, 1, 4));
    FUZZ_CHECK(p.direction_id == proto::get_u32(&d[4]) && p.counter == proto::get_u64(&d[8]));
  }
  proto::RelayStatusRequest sr;
  if (proto::parse_relay_status_request(d, sr))
    FUZZ_CHECK(d.size() == proto::kRelayStatusRequestSize && d[0] == 0x0B);
  proto::RelayStatus st;
  if (proto::parse_relay_status(d, st))
    FUZZ_CHECK(d.size() == proto::kRelayStatusSize && d[0] == 0x0C);
  if (proto::parse_relay_notice(d, session))
    FUZZ_CHECK(d.size() == proto::kRelayNoticeSize && d[0] == 0x0D && zero(d, 1, 4));
  proto::RelayTicket ticket;
  if (proto::RelayTicket::decode(d, ticket)) {
    FUZZ_CHECK(d.size() == proto::kRelayTicketSize);
    uint8_t t[proto::kRelayTicketSize];
    ticket.encode(t);
    FUZZ_CHECK(std::memcmp(t, d.data(), sizeof t) == 0);
  }
}

void check_macs(ByteView d) {
  static const crypto::RelayKeys keys(example_relay_key());
  // Whatever verifies must be exactly what the library makes from the same fields.
  proto::RelayStatusRequest sr;
  if (keys.verify_status_request(d) && proto::parse_relay_status_request(d, sr)) {
    auto again = keys.make_status_request(sr.sequence);
    FUZZ_CHECK(ByteView(again).size() == d.size() &&
               std::memcmp(again.data(), d.data(), d.size()) == 0);
  }
  proto::RelayStatus st;
  if (keys.verify_status(d) && proto::parse_relay_status(d, st)) {
    auto again = keys.make_status(st.sequence, st.sessions, st.packets);
    FUZZ_CHECK(std::memcmp(again.data(), d.data(), d.size()) == 0);
  }
}

void check_session_table(ByteView d) {
  proto::RelayBind b;
  if (!proto::parse_relay_bind(d, b)) return;
  rs::SessionTable table({example_relay_key()}, 4, 1000, 1e6);
  auto from = *proto::Endpoint::parse("192.0.2.7:40000");
  auto now = rs::Clock::now();
  const uint32_t unix_now = 1767225600;  // 2026-01-01, before the examples' ticket expires
  rs::Session* s = nullptr;
  auto r = table.bind(b, d, from, 0, unix_now, now, &s);
  if (r != rs::SessionTable::BindResult::kAccepted) {
    FUZZ_CHECK(table.size() == 0);
    return;
  }
  // Accepted: the ticket and the bind authenticate under the key, and the session is the
  // ticket's, bound on this side at `from`.
  crypto::RelayKeys keys(example_relay_key());
  FUZZ_CHECK(keys.verify_ticket(b.ticket_bytes) && b.ticket.expiry > unix_now);
  FUZZ_CHECK(crypto::verify_relay_bind(d, keys.side_key(b.side, b.ticket_bytes)));
  FUZZ_CHECK(table.size() == 1 && s && s->id == b.ticket.session_id);
  FUZZ_CHECK(rs::SessionTable::side_of(*s, from) == b.side - 1);
  // The same bind again is a replay.
  FUZZ_CHECK(table.bind(b, d, from, 0, unix_now, now, &s) == rs::SessionTable::BindResult::kStale);
}

void check_candidates(ByteView d) {
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(d, err);
  if (!m) return;
  size_t attrs = 0;
  for (auto& a : m->attrs) attrs += a.type == proto::AttrType::kCandidate;
  auto cands = m->get_candidates();
  FUZZ_CHECK(cands.size() <= attrs);
  for (auto& c : cands) {
    FUZZ_CHECK(c.kind >= proto::CandidateKind::kLan && c.kind <= proto::CandidateKind::kMapped);
    FUZZ_CHECK(c.endpoint.valid());
    proto::ControlMessage again(m->type, m->message_id);
    again.add_candidate(c);
    FUZZ_CHECK(again.get_candidates().size() == 1 && again.get_candidates()[0] == c);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = (crypto::init(), true);
  (void)init;
  ByteView d(data, size);
  check_relay_formats(d);
  check_macs(d);
  check_session_table(d);
  check_candidates(d);
  return 0;
}
