// Fuzz target: Endpoint::decode (the 7/19-byte wire form inside kRealAddress, kNatAddress and
// kPeerEndpoint attributes) and Endpoint::parse (addresses in configuration files).
//
// Invariants: whatever decodes is a valid endpoint of the advertised size that encodes and
// decodes to itself and survives to_string → parse; whatever parses prints and parses back.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "proto/endpoint.h"

using namespace ntm::proto;

namespace {

void check_round_trips(const Endpoint& e) {
  FUZZ_CHECK(e.valid());
  Bytes wire;
  Writer w(wire);
  e.encode(w);
  FUZZ_CHECK(wire.size() == e.encoded_size());
  auto again = Endpoint::decode(wire);
  FUZZ_CHECK(again && *again == e);
  // Text round trip: parse() normalises IPv4-mapped IPv6 to IPv4, as from_sockaddr() does.
  auto parsed = Endpoint::parse(e.to_string());
  auto normal = Endpoint::from_sockaddr(e.sa(), e.sa_len());
  FUZZ_CHECK(parsed && normal && *parsed == *normal);
  if (e.is_v4()) {
    Endpoint mapped = e.as_v6_mapped();
    auto back = Endpoint::from_sockaddr(mapped.sa(), mapped.sa_len());
    FUZZ_CHECK(back && *back == e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto e = Endpoint::decode(ByteView(data, size));
  if (e) {
    FUZZ_CHECK(size == 7 || size == 19);
    check_round_trips(*e);
  } else {
    FUZZ_CHECK(!(size == 7 && data[0] == 4) && !(size == 19 && data[0] == 6));
  }
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto p = Endpoint::parse(text)) check_round_trips(*p);
  return 0;
}
