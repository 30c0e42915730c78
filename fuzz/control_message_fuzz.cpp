// Fuzz target: ControlMessage::decode, the TLV parser behind every control packet the DC and the
// nodes open (node⇄DC control, node⇄node tunnel control).
//
// Invariants beyond "no crash": a refused buffer names its reason and an accepted one does not;
// decoding is lossless (re-encoding gives the same bytes, which the response cache relies on);
// the getters the handlers call cope with any attribute; an error response built for a hostile
// request decodes again.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "proto/control_message.h"

using namespace ntm::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView wire(data, size);
  DecodeError err = DecodeError::kNone;
  auto m = ControlMessage::decode(wire, err);
  if (!m) {
    FUZZ_CHECK(err != DecodeError::kNone);
    return 0;
  }
  FUZZ_CHECK(err == DecodeError::kNone);
  FUZZ_CHECK(m->attrs.size() <= ControlMessage::kMaxAttributes);
  FUZZ_CHECK(m->encode() == Bytes(wire.begin(), wire.end()));

  for (uint16_t t = 0; t <= 0x13; ++t) {
    AttrType a = AttrType(t);
    if (auto v = m->get_u32(a)) FUZZ_CHECK(m->find(a)->value.size() == 4);
    (void)m->get_u8(a);
    (void)m->get_u16(a);
    (void)m->get_string(a);
    (void)m->get_key(a);
    (void)m->get_fixed<4>(a);
    (void)m->get_fixed<16>(a);
    if (auto e = m->get_endpoint(a)) FUZZ_CHECK(e->valid());
    for (const Endpoint& e : m->get_endpoints(a)) FUZZ_CHECK(e.valid() && !e.to_string().empty());
  }
  (void)to_string(m->type);

  ControlMessage error = make_error(*m, ErrorCode::kMalformed,
                                    m->get_string(AttrType::kErrorText).value_or("malformed"));
  DecodeError err2;
  auto back = ControlMessage::decode(error.encode(), err2);
  FUZZ_CHECK(back && back->message_id == m->message_id);
  return 0;
}
