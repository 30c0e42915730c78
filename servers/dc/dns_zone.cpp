#include "dc/dns_zone.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "dc/registry.h"

namespace ntm::dc {
namespace {

// RFC 1035 §4.1.1 header flags (byte 2 and 3 of the header).
constexpr uint8_t kQr = 0x80, kRd = 0x01;
constexpr size_t kHeader = 12, kMaxUdp = 512, kMaxTcp = 65535;
constexpr uint8_t kBadVers = 16;  // RFC 6891 §6.1.3: extended RCODE 1, RCODE 0

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

/// A header-only answer built from the query's first bytes (used when ldns cannot parse the
/// query, so there is no question to echo): ID, opcode and RD kept, QR set, counts zero.
proto::Bytes header_only(proto::ByteView query, uint8_t rcode) {
  proto::Bytes out(kHeader, 0);
  out[0] = query[0], out[1] = query[1];
  out[2] = uint8_t(kQr | (query[2] & 0x78) | (query[2] & kRd));
  out[3] = rcode & 0x0f;
  return out;
}

ldns_rdf* dname(const std::string& text) {
  return text.empty() ? nullptr : ldns_dname_new_frm_str(text.c_str());
}

ldns_rr* make_rr(const ldns_rdf* owner, ldns_rr_type type, uint32_t ttl) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  return rr;
}

ldns_rr* address_rr(const ldns_rdf* owner, const uint8_t* addr, bool v6, uint32_t ttl) {
  ldns_rr* rr = make_rr(owner, v6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A, ttl);
  ldns_rr_push_rdf(
      rr, ldns_rdf_new_frm_data(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, v6 ? 16 : 4, addr));
  return rr;
}

/// The wire form of `p`, empty when ldns cannot write it.
proto::Bytes to_wire(const ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK) {
    std::free(wire);
    return {};
  }
  proto::Bytes out(wire, wire + size);
  std::free(wire);
  return out;
}

}  // namespace

void DnsZone::RdfDeleter::operator()(ldns_rdf* r) const {
  ldns_rdf_deep_free(r);
}

bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.back() == '.') return false;
  ldns_rdf* r = dname(name);
  if (!r) return false;
  ldns_rdf_deep_free(r);
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    size_t len = (dot == std::string::npos ? name.size() : dot) - start;
    if (len == 0 || len > 63) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

DnsZone::DnsZone(DnsZoneConfig cfg, DnsNodeLookup lookup)
    : cfg_(std::move(cfg)),
      lookup_(std::move(lookup)),
      zone_(dname(cfg_.zone)),
      ns_(dname(cfg_.ns_name)),
      rname_(dname(cfg_.soa_rname)) {
  for (auto* r : {zone_.get(), ns_.get(), rname_.get()})
    if (r) ldns_dname2canonical(r);
}

DnsZone::~DnsZone() = default;

proto::Bytes DnsZone::answer(proto::ByteView query, Transport transport) {
  // 1. Not a query we could answer: too short for an ID, or a response (answering responses
  //    lets two servers bounce a packet forever).
  if (query.size() < kHeader || (query[2] & kQr) || !zone_ || !ns_ || !rname_) {
    ++stats_.drop_malformed;
    return {};
  }
  // 2. ldns parses the whole message, bounds-checked; anything it rejects is FORMERR.
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(raw);
    ++stats_.formerr;
    return header_only(query, LDNS_RCODE_FORMERR);
  }
  Pkt q(raw);
  // 3.
  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY) {
    ++stats_.notimp;
    return header_only(query, LDNS_RCODE_NOTIMPL);
  }
  if (ldns_pkt_qdcount(q.get()) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(q.get())) != 1) {
    ++stats_.formerr;
    return header_only(query, LDNS_RCODE_FORMERR);
  }
  const bool edns = ldns_pkt_edns(q.get());
  size_t limit = kMaxTcp;
  if (transport == Transport::kUdp)
    limit =
        edns ? std::clamp<size_t>(ldns_pkt_edns_udp_size(q.get()), kMaxUdp, kMaxEdnsUdp) : kMaxUdp;

  Pkt r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q.get()));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), LDNS_PACKET_QUERY);
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q.get()));
  ldns_pkt_set_cd(r.get(), ldns_pkt_cd(q.get()));
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
  ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  if (edns) {
    ldns_pkt_set_edns_udp_size(r.get(), uint16_t(kMaxEdnsUdp));
    ldns_pkt_set_edns_do(r.get(), ldns_pkt_edns_do(q.get()));  // RFC 3225 §3
  }
  auto finish = [&](uint8_t rcode, uint64_t& counter) -> proto::Bytes {
    ++counter;
    ldns_pkt_set_rcode(r.get(), rcode);
    proto::Bytes wire = to_wire(r.get());
    if (wire.size() <= limit && !wire.empty()) return wire;
    // 6. Too large: the question alone, TC set; the client asks again over TCP.
    ++stats_.truncated;
    Pkt t(ldns_pkt_new());
    ldns_pkt_set_id(t.get(), ldns_pkt_id(r.get()));
    ldns_pkt_set_qr(t.get(), true);
    ldns_pkt_set_aa(t.get(), ldns_pkt_aa(r.get()));
    ldns_pkt_set_tc(t.get(), true);
    ldns_pkt_set_rd(t.get(), ldns_pkt_rd(r.get()));
    ldns_pkt_set_cd(t.get(), ldns_pkt_cd(r.get()));
    ldns_pkt_set_rcode(t.get(), rcode);
    ldns_pkt_push_rr(t.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    if (edns) ldns_pkt_set_edns_udp_size(t.get(), uint16_t(kMaxEdnsUdp));
    wire = to_wire(t.get());
    // A question of a legal name always fits in 512 bytes; keep the bound explicit anyway.
    if (wire.size() > limit) return header_only(query, rcode);
    return wire;
  };
  if (edns && ldns_pkt_edns_version(q.get()) != 0) {
    ldns_pkt_set_edns_extended_rcode(r.get(), kBadVers >> 4);
    return finish(kBadVers & 0x0f, stats_.badvers);
  }
  // 4.
  const ldns_rdf* qname = ldns_rr_owner(question);
  const ldns_rr_type qtype = ldns_rr_get_type(question);
  if (!qname || ldns_rdf_get_type(qname) != LDNS_RDF_TYPE_DNAME)
    return finish(LDNS_RCODE_FORMERR, stats_.formerr);
  if (qtype == LDNS_RR_TYPE_OPT) return finish(LDNS_RCODE_FORMERR, stats_.formerr);
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN || qtype == LDNS_RR_TYPE_AXFR ||
      qtype == LDNS_RR_TYPE_IXFR)
    return finish(LDNS_RCODE_REFUSED, stats_.refused);
  if (qtype == LDNS_RR_TYPE_MAILA || qtype == LDNS_RR_TYPE_MAILB)
    return finish(LDNS_RCODE_NOTIMPL, stats_.notimp);
  const bool apex = ldns_dname_compare(qname, zone_.get()) == 0;
  if (!apex && !ldns_dname_is_subdomain(qname, zone_.get()))
    return finish(LDNS_RCODE_REFUSED, stats_.refused);

  // 5. The records at the name.
  ldns_pkt_set_aa(r.get(), true);
  const bool is_ns = ldns_dname_compare(qname, ns_.get()) == 0;
  std::optional<DnsNodeAddresses> node;
  if (!apex && !is_ns && ldns_dname_label_count(qname) == ldns_dname_label_count(zone_.get()) + 1) {
    // <label>.<zone>: a node's name. Labels with anything but [A-Za-z0-9-] are nobody's.
    const uint8_t* data = ldns_rdf_data(qname);
    std::string label(reinterpret_cast<const char*>(data + 1), data[0]);
    std::transform(label.begin(), label.end(), label.begin(),
                   [](char c) { return char(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    if (Registry::valid_label(label) && lookup_) node = lookup_(label + "." + cfg_.zone);
  }
  auto soa = [&] {
    ldns_rr* rr =
        make_rr(zone_.get(), LDNS_RR_TYPE_SOA, std::min(cfg_.zone_ttl, cfg_.negative_ttl));
    ldns_rr_push_rdf(rr, ldns_rdf_clone(ns_.get()));
    ldns_rr_push_rdf(rr, ldns_rdf_clone(rname_.get()));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, cfg_.serial));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600));   // refresh
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600));    // retry
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400));  // expire
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, cfg_.negative_ttl));
    return rr;
  };
  auto dc_addresses = [&](ldns_pkt_section section, const ldns_rdf* owner, bool want4, bool want6) {
    if (want4)
      for (auto& a : cfg_.dc_v4)
        ldns_pkt_push_rr(r.get(), section, address_rr(owner, a.data(), false, cfg_.zone_ttl));
    if (want6)
      for (auto& a : cfg_.dc_v6)
        ldns_pkt_push_rr(r.get(), section, address_rr(owner, a.data(), true, cfg_.zone_ttl));
  };
  if (!apex && !is_ns && !node) {
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_AUTHORITY, soa());
    return finish(LDNS_RCODE_NXDOMAIN, stats_.nxdomain);
  }
  const bool any = qtype == LDNS_RR_TYPE_ANY;
  const bool want4 = any || qtype == LDNS_RR_TYPE_A, want6 = any || qtype == LDNS_RR_TYPE_AAAA;
  if (apex && (any || qtype == LDNS_RR_TYPE_SOA)) {
    ldns_rr* rr = soa();
    ldns_rr_set_ttl(rr, cfg_.zone_ttl);
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
  }
  if (apex && (any || qtype == LDNS_RR_TYPE_NS)) {
    ldns_rr* rr = make_rr(qname, LDNS_RR_TYPE_NS, cfg_.zone_ttl);
    ldns_rr_push_rdf(rr, ldns_rdf_clone(ns_.get()));
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
    // Glue: the name server's addresses, when its name is in the zone.
    if (ldns_dname_compare(ns_.get(), zone_.get()) == 0 ||
        ldns_dname_is_subdomain(ns_.get(), zone_.get()))
      dc_addresses(LDNS_SECTION_ADDITIONAL, ns_.get(), true, true);
  }
  if (apex || is_ns) {
    dc_addresses(LDNS_SECTION_ANSWER, qname, want4, want6);
  } else {
    if (want4 && node->v4)
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER,
                       address_rr(qname, node->v4->data(), false, cfg_.node_ttl));
    if (want6 && node->v6)
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER,
                       address_rr(qname, node->v6->data(), true, cfg_.node_ttl));
  }
  if (ldns_pkt_ancount(r.get()) == 0) ldns_pkt_push_rr(r.get(), LDNS_SECTION_AUTHORITY, soa());
  return finish(LDNS_RCODE_NOERROR, stats_.noerror);
}

}  // namespace ntm::dc
