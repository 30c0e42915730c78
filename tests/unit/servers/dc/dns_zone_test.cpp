// DnsZone: the answers a resolver (and a peer's DC looking for this DC) gets from the DC as
// the authoritative server of its zone. Queries and answers go through ldns here too, as
// they would through any resolver.
#include "dc/dns_zone.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <map>
#include <memory>
#include <string>

namespace ntm::dc {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

std::array<uint8_t, 4> a4(const char* text) {
  std::array<uint8_t, 4> a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1);
  return a;
}
std::array<uint8_t, 16> a6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1);
  return a;
}

proto::Bytes query(const std::string& name, ldns_rr_type type, ldns_rr_class cls = LDNS_RR_CLASS_IN,
                   int edns_size = -1, uint16_t id = 4242) {
  ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, cls, LDNS_RD);
  ldns_pkt_set_id(p, id);
  if (edns_size >= 0) ldns_pkt_set_edns_udp_size(p, uint16_t(edns_size));
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  proto::Bytes out(wire, wire + size);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

Pkt parse(const proto::Bytes& wire) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&p, wire.data(), wire.size()), LDNS_STATUS_OK);
  return Pkt(p);
}

std::string rdf_text(const ldns_rdf* r) {
  char* s = ldns_rdf2str(r);
  std::string out = s ? s : "";
  free(s);
  return out;
}

class DnsZoneTest : public ::testing::Test {
 protected:
  DnsZoneTest() { zone_ = make(cfg()); }

  static DnsZoneConfig cfg() {
    DnsZoneConfig c;
    c.zone = "dc1.ntm.test";
    c.ns_name = "ns.dc1.ntm.test";
    c.soa_rname = "hostmaster.dc1.ntm.test";
    c.dc_v4 = {a4("192.0.2.1")};
    c.dc_v6 = {a6("2001:db8::1")};
    c.zone_ttl = 3600;
    c.node_ttl = 30;
    c.negative_ttl = 60;
    c.serial = 1234567;
    return c;
  }
  std::unique_ptr<DnsZone> make(DnsZoneConfig c) {
    return std::make_unique<DnsZone>(std::move(c), [this](const std::string& fqdn) {
      lookups_.push_back(fqdn);
      std::optional<DnsNodeAddresses> out;
      if (auto it = nodes_.find(fqdn); it != nodes_.end()) out = it->second;
      return out;
    });
  }
  Pkt ask(const std::string& name, ldns_rr_type type, ldns_rr_class cls = LDNS_RR_CLASS_IN,
          DnsZone::Transport t = DnsZone::Transport::kUdp) {
    auto wire = zone_->answer(query(name, type, cls), t);
    EXPECT_FALSE(wire.empty());
    return parse(wire);
  }

  std::map<std::string, DnsNodeAddresses> nodes_ = {
      {"laptop.dc1.ntm.test", {a4("100.64.0.7"), a6("fd00:6e74:6d::7")}},
      {"v4only.dc1.ntm.test", {a4("100.64.0.8"), std::nullopt}}};
  std::vector<std::string> lookups_;
  std::unique_ptr<DnsZone> zone_;
};

TEST_F(DnsZoneTest, SoaAtTheApexIsAuthoritative) {
  auto r = ask("dc1.ntm.test.", LDNS_RR_TYPE_SOA);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_qr(r.get()));
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  EXPECT_TRUE(ldns_pkt_rd(r.get())) << "RD is copied from the query";
  EXPECT_FALSE(ldns_pkt_ra(r.get())) << "an authoritative-only server offers no recursion";
  EXPECT_EQ(ldns_pkt_id(r.get()), 4242);
  ASSERT_EQ(ldns_pkt_ancount(r.get()), 1);
  ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0);
  EXPECT_EQ(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
  EXPECT_EQ(ldns_rr_ttl(soa), 3600u);
  EXPECT_EQ(rdf_text(ldns_rr_rdf(soa, 0)), "ns.dc1.ntm.test.");
  EXPECT_EQ(rdf_text(ldns_rr_rdf(soa, 1)), "hostmaster.dc1.ntm.test.");
  EXPECT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), 1234567u);
  EXPECT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), 60u) << "MINIMUM = negative TTL";
}

TEST_F(DnsZoneTest, NsAtTheApexCarriesGlue) {
  auto r = ask("dc1.ntm.test.", LDNS_RR_TYPE_NS);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  ASSERT_EQ(ldns_pkt_ancount(r.get()), 1);
  ldns_rr* ns = ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0);
  EXPECT_EQ(rdf_text(ldns_rr_rdf(ns, 0)), "ns.dc1.ntm.test.");
  ASSERT_EQ(ldns_pkt_arcount(r.get()), 2) << "the name server's A and AAAA";
  ldns_rr* glue4 = ldns_rr_list_rr(ldns_pkt_additional(r.get()), 0);
  ldns_rr* glue6 = ldns_rr_list_rr(ldns_pkt_additional(r.get()), 1);
  EXPECT_EQ(rdf_text(ldns_rr_owner(glue4)), "ns.dc1.ntm.test.");
  EXPECT_EQ(rdf_text(ldns_rr_rdf(glue4, 0)), "192.0.2.1");
  EXPECT_EQ(rdf_text(ldns_rr_rdf(glue6, 0)), "2001:db8::1");
}

TEST_F(DnsZoneTest, TheNameServerAndTheApexResolveToTheDc) {
  for (const char* name : {"ns.dc1.ntm.test.", "dc1.ntm.test."}) {
    auto r = ask(name, LDNS_RR_TYPE_A);
    ASSERT_EQ(ldns_pkt_ancount(r.get()), 1) << name;
    EXPECT_EQ(rdf_text(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0), 0)), "192.0.2.1");
    r = ask(name, LDNS_RR_TYPE_AAAA);
    ASSERT_EQ(ldns_pkt_ancount(r.get()), 1) << name;
    EXPECT_EQ(rdf_text(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0), 0)),
              "2001:db8::1");
  }
}

TEST_F(DnsZoneTest, ANodeResolvesToItsVips) {
  auto r = ask("laptop.dc1.ntm.test.", LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  ASSERT_EQ(ldns_pkt_ancount(r.get()), 1);
  ldns_rr* a = ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0);
  EXPECT_EQ(rdf_text(ldns_rr_rdf(a, 0)), "100.64.0.7");
  EXPECT_EQ(ldns_rr_ttl(a), 30u);
  r = ask("laptop.dc1.ntm.test.", LDNS_RR_TYPE_AAAA);
  ASSERT_EQ(ldns_pkt_ancount(r.get()), 1);
  EXPECT_EQ(rdf_text(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0), 0)),
            "fd00:6e74:6d::7");
  r = ask("laptop.dc1.ntm.test.", LDNS_RR_TYPE_ANY);
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 2);
}

TEST_F(DnsZoneTest, NamesAreCaseInsensitiveAndTheQuestionKeepsItsCase) {
  auto r = ask("LapTop.DC1.ntm.TEST.", LDNS_RR_TYPE_A);
  ASSERT_EQ(ldns_pkt_ancount(r.get()), 1);
  EXPECT_EQ(lookups_.back(), "laptop.dc1.ntm.test");
  EXPECT_EQ(rdf_text(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r.get()), 0))),
            "LapTop.DC1.ntm.TEST.");
}

TEST_F(DnsZoneTest, ANameWithoutTheTypeIsNodataWithTheSoa) {
  auto r = ask("v4only.dc1.ntm.test.", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 0);
  ASSERT_EQ(ldns_pkt_nscount(r.get()), 1);
  ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_authority(r.get()), 0);
  EXPECT_EQ(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
  EXPECT_EQ(ldns_rr_ttl(soa), 60u) << "RFC 2308 §3: min(SOA TTL, MINIMUM)";
  r = ask("laptop.dc1.ntm.test.", LDNS_RR_TYPE_MX);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 0);
}

TEST_F(DnsZoneTest, UnknownNamesInTheZoneAreNxdomain) {
  for (const char* name : {"nobody.dc1.ntm.test.", "a.laptop.dc1.ntm.test.",
                           "under_score.dc1.ntm.test.", "x.ns.dc1.ntm.test."}) {
    auto r = ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_TRUE(ldns_pkt_aa(r.get())) << name;
    EXPECT_EQ(ldns_pkt_ancount(r.get()), 0) << name;
    ASSERT_EQ(ldns_pkt_nscount(r.get()), 1) << name;
    EXPECT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(r.get()), 0)), LDNS_RR_TYPE_SOA);
  }
  EXPECT_EQ(zone_->stats().nxdomain, 4u);
}

TEST_F(DnsZoneTest, NamesOutsideTheZoneAreRefused) {
  for (const char* name : {"example.com.", "ntm.test.", "xdc1.ntm.test.", "dc2.ntm.test.", "."}) {
    auto r = ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_REFUSED) << name;
    EXPECT_FALSE(ldns_pkt_aa(r.get())) << name;
    EXPECT_EQ(ldns_pkt_ancount(r.get()) + ldns_pkt_nscount(r.get()), 0) << name;
  }
  EXPECT_EQ(zone_->stats().refused, 5u);
}

TEST_F(DnsZoneTest, OtherClassesAndZoneTransfersAreRefused) {
  EXPECT_EQ(ldns_pkt_get_rcode(ask("dc1.ntm.test.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_CH).get()),
            LDNS_RCODE_REFUSED);
  EXPECT_EQ(ldns_pkt_get_rcode(
                ask("dc1.ntm.test.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, DnsZone::Transport::kTcp)
                    .get()),
            LDNS_RCODE_REFUSED);
  EXPECT_EQ(ldns_pkt_get_rcode(ask("dc1.ntm.test.", LDNS_RR_TYPE_IXFR).get()), LDNS_RCODE_REFUSED);
}

TEST_F(DnsZoneTest, OtherOpcodesAreNotImplemented) {
  auto q = query("dc1.ntm.test.", LDNS_RR_TYPE_SOA);
  q[2] = uint8_t((q[2] & ~0x78) | (5 << 3));  // UPDATE
  auto wire = zone_->answer(q, DnsZone::Transport::kUdp);
  auto r = parse(wire);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(r.get()), LDNS_PACKET_UPDATE);
  EXPECT_EQ(ldns_pkt_id(r.get()), 4242);
  EXPECT_EQ(zone_->stats().notimp, 1u);
}

TEST_F(DnsZoneTest, MalformedQueriesGetFormerrWithTheirId) {
  auto q = query("dc1.ntm.test.", LDNS_RR_TYPE_SOA);
  auto no_question = q;
  no_question[5] = 0;  // QDCOUNT 0
  no_question.resize(12);
  auto two_questions = q;
  two_questions[5] = 2;  // QDCOUNT 2, one present
  auto cut = q;
  cut.resize(q.size() - 3);  // the question's type and class cut off
  proto::Bytes garbage(40, 0xff);
  garbage[2] = 0;  // a query (QR clear), then nonsense
  for (auto* bad : {&no_question, &two_questions, &cut, &garbage}) {
    auto wire = zone_->answer(*bad, DnsZone::Transport::kUdp);
    ASSERT_GE(wire.size(), 12u);
    EXPECT_EQ(wire[0], (*bad)[0]);
    EXPECT_EQ(wire[1], (*bad)[1]);
    EXPECT_TRUE(wire[2] & 0x80) << "QR";
    EXPECT_EQ(wire[3] & 0x0f, LDNS_RCODE_FORMERR);
  }
  EXPECT_EQ(zone_->stats().formerr, 4u);
}

TEST_F(DnsZoneTest, ResponsesAndRuntsAreNotAnswered) {
  auto response = query("dc1.ntm.test.", LDNS_RR_TYPE_SOA);
  response[2] |= 0x80;
  EXPECT_TRUE(zone_->answer(response, DnsZone::Transport::kUdp).empty());
  for (size_t n = 0; n < 12; ++n)
    EXPECT_TRUE(zone_->answer(proto::Bytes(n, 0), DnsZone::Transport::kUdp).empty());
  EXPECT_EQ(zone_->stats().drop_malformed, 13u);
  EXPECT_EQ(zone_->stats().noerror + zone_->stats().formerr, 0u);
}

TEST_F(DnsZoneTest, EdnsIsAnsweredAndUnknownVersionsGetBadvers) {
  auto r = parse(zone_->answer(query("dc1.ntm.test.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 4096),
                               DnsZone::Transport::kUdp));
  EXPECT_TRUE(ldns_pkt_edns(r.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(r.get()), DnsZone::kMaxEdnsUdp);
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 1);

  ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str("dc1.ntm.test."), LDNS_RR_TYPE_SOA,
                                   LDNS_RR_CLASS_IN, 0);
  ldns_pkt_set_edns_udp_size(p, 1232);
  ldns_pkt_set_edns_version(p, 1);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ASSERT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  proto::Bytes q(wire, wire + size);
  free(wire);
  ldns_pkt_free(p);
  r = parse(zone_->answer(q, DnsZone::Transport::kUdp));
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), 0);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(r.get()), 1) << "BADVERS = 16 (RFC 6891 §7)";
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 0);
  EXPECT_EQ(zone_->stats().badvers, 1u);
}

TEST_F(DnsZoneTest, LargeAnswersAreTruncatedOverUdpAndWholeOverTcp) {
  auto c = cfg();
  for (int i = 0; i < 32; ++i) {  // 32 AAAA records: about 900 bytes in an ANY answer
    auto a = a6("2001:db8::");
    a[15] = uint8_t(i);
    c.dc_v6.push_back(a);
  }
  zone_ = make(c);
  auto udp = zone_->answer(query("ns.dc1.ntm.test.", LDNS_RR_TYPE_AAAA), DnsZone::Transport::kUdp);
  ASSERT_LE(udp.size(), 512u);
  auto r = parse(udp);
  EXPECT_TRUE(ldns_pkt_tc(r.get()));
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 0);
  EXPECT_EQ(ldns_pkt_qdcount(r.get()), 1);

  auto edns = zone_->answer(query("ns.dc1.ntm.test.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 4096),
                            DnsZone::Transport::kUdp);
  EXPECT_LE(edns.size(), DnsZone::kMaxEdnsUdp);
  r = parse(edns);
  EXPECT_FALSE(ldns_pkt_tc(r.get())) << "fits the EDNS size";
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 33);

  auto tcp = zone_->answer(query("ns.dc1.ntm.test.", LDNS_RR_TYPE_AAAA), DnsZone::Transport::kTcp);
  r = parse(tcp);
  EXPECT_FALSE(ldns_pkt_tc(r.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 33);
  EXPECT_EQ(zone_->stats().truncated, 1u);
}

TEST(DnsNames, Validity) {
  EXPECT_TRUE(valid_dns_name("dc1.ntm.test"));
  EXPECT_TRUE(valid_dns_name("localhost"));
  EXPECT_FALSE(valid_dns_name(""));
  EXPECT_FALSE(valid_dns_name("a..b"));
  EXPECT_FALSE(valid_dns_name("dc1.ntm.test."));
  EXPECT_FALSE(valid_dns_name(std::string(64, 'a') + ".test"));
  EXPECT_FALSE(valid_dns_name(std::string(254, 'a')));
}

}  // namespace
}  // namespace ntm::dc
