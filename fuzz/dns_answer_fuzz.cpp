// Fuzz target: DC discovery's reading of DNS answers (servers/dc/dc_locator.cpp, ldns): an
// answer to the NS query for a zone, and to the A/AAAA queries for a name server's name.
//
// Invariants beyond "no crash": "found" names at least one server and a TTL; every glue
// address belongs to a record the answer holds (no more addresses than the answer could
// carry); the address reader returns a TTL exactly when it found an address.
#include <cstdint>

#include "dc/dc_locator.h"
#include "fuzz_support.h"

using ntm::dc::DcLocator;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ntm::proto::ByteView in(data, size);
  std::vector<std::string> servers;
  std::vector<asio::ip::address> glue;
  uint32_t ttl = 0;
  std::string detail;
  auto st = DcLocator::parse_ns_answer(in, "dc2.ntm.test", servers, glue, ttl, detail);
  if (st == DcLocator::Status::kFound) {
    FUZZ_CHECK(!servers.empty());
    FUZZ_CHECK(ttl > 0);
  } else {
    FUZZ_CHECK(!detail.empty());
  }
  FUZZ_CHECK(glue.size() * 16 <= size);  // each address came from a record in the input
  std::vector<asio::ip::address> addrs;
  uint32_t t = DcLocator::parse_addresses(in, "ns.dc2.ntm.test", addrs);
  FUZZ_CHECK((t > 0) == !addrs.empty());
  return 0;
}
