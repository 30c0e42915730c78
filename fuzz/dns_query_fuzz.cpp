// Fuzz target: the DC's DNS query path (servers/dc/dns_zone.cpp: ldns parsing, the answer
// logic, truncation), over both transports.
//
// Invariants beyond "no crash": every input is counted exactly once; an answer carries the
// query's ID and QR; a UDP answer is never larger than 512 bytes, or the EDNS maximum when
// the query holds an OPT record; an answer is itself a DNS message ldns reads, with at most
// one question.
#include <cstdint>

#include "dc/dns_zone.h"
#include "fuzz_support.h"
// After the C++ headers: ldns/common.h may define bool, true and false as macros.
#include <ldns/ldns.h>

using namespace ntm::dc;

namespace {

DnsZone& zone() {
  static DnsZone z(
      [] {
        DnsZoneConfig c;
        c.zone = "dc1.ntm.test";
        c.ns_name = "ns.dc1.ntm.test";
        c.soa_rname = "hostmaster.dc1.ntm.test";
        c.dc_v4 = {{192, 0, 2, 1}};
        for (uint8_t i = 0; i < 24; ++i)  // enough to need truncation over plain UDP
          c.dc_v6.push_back({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i});
        return c;
      }(),
      [](const std::string& fqdn) {
        std::optional<DnsNodeAddresses> out;
        if (fqdn == "laptop.dc1.ntm.test") {
          out.emplace();
          out->v4 = std::array<uint8_t, 4>{100, 64, 0, 7};
        }
        return out;
      });
  return z;
}

uint64_t outcomes(const DnsStats& s) {
  return s.noerror + s.nxdomain + s.refused + s.formerr + s.notimp + s.badvers + s.drop_malformed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ntm::proto::ByteView query(data, size);
  // The query's own EDNS size decides the UDP bound; read it the way the server does.
  bool edns = false;
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, data, size) == LDNS_STATUS_OK) edns = ldns_pkt_edns(parsed);
  ldns_pkt_free(parsed);

  for (auto t : {DnsZone::Transport::kUdp, DnsZone::Transport::kTcp}) {
    uint64_t before = outcomes(zone().stats());
    ntm::proto::Bytes a = zone().answer(query, t);
    FUZZ_CHECK(outcomes(zone().stats()) == before + 1);
    if (a.empty()) {
      FUZZ_CHECK(size < 12 || (data[2] & 0x80));
      continue;
    }
    FUZZ_CHECK(a.size() >= 12);
    FUZZ_CHECK(a[0] == data[0] && a[1] == data[1]);
    FUZZ_CHECK(a[2] & 0x80);
    if (t == DnsZone::Transport::kUdp) FUZZ_CHECK(a.size() <= (edns ? DnsZone::kMaxEdnsUdp : 512));
    FUZZ_CHECK(a.size() <= 65535);
    ldns_pkt* r = nullptr;
    FUZZ_CHECK(ldns_wire2pkt(&r, a.data(), a.size()) == LDNS_STATUS_OK);
    FUZZ_CHECK(ldns_pkt_qdcount(r) <= 1);
    ldns_pkt_free(r);
  }
  return 0;
}
