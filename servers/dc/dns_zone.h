// The DC's authoritative DNS zone (paper 002 §2: the DC is the DNS server of its domain; a
// peer's DC finds it through the NS record the parent zone delegates to it). The answer
// logic only: one query's wire bytes in, the response's wire bytes out (dns_server.cpp puts
// it on UDP and TCP). The wire format is read and written with ldns, never by hand.
//
// 1. shorter than a DNS header (12 bytes), or a response (QR set): dropped, not answered
// 2. ldns cannot parse it: FORMERR (header only, the query's ID and opcode)
// 3. opcode other than QUERY: NOTIMP; QDCOUNT != 1: FORMERR; EDNS version > 0: BADVERS
// 4. class other than IN, zone transfers, names outside the zone: REFUSED (no AA)
// 5. in the zone (AA set): the apex has SOA, NS and the DC's A/AAAA; the name server's name
//    the DC's A/AAAA; <node>.<zone> the registered node's vIPs; other names NXDOMAIN, a name
//    without the asked type NOERROR with no answer (both with the SOA in the authority
//    section, RFC 2308)
// 6. larger than the transport allows (512 bytes over UDP, or the query's EDNS size up to
//    1232; 65535 over TCP): the question alone with TC set (RFC 1035 §4.2.1, RFC 6891)
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.h"

struct ldns_struct_rdf;

namespace ntm::dc {

struct DnsZoneConfig {
  std::string zone;       ///< e.g. "dc1.ntm.test" (no trailing dot)
  std::string ns_name;    ///< the zone's name server (the DC), e.g. "ns.dc1.ntm.test"
  std::string soa_rname;  ///< SOA RNAME, the operator's mailbox as a name
  std::vector<std::array<uint8_t, 4>> dc_v4;   ///< the DC's A records (network byte order)
  std::vector<std::array<uint8_t, 16>> dc_v6;  ///< the DC's AAAA records
  uint32_t zone_ttl = 3600;                    ///< seconds, for SOA, NS and the DC's addresses
  uint32_t node_ttl = 30;      ///< seconds, for a node's A/AAAA (registrations come and go)
  uint32_t negative_ttl = 30;  ///< seconds, SOA MINIMUM: how long resolvers cache NXDOMAIN
  uint32_t serial = 1;         ///< SOA SERIAL
};

/// A registered node's vIPs (network byte order).
struct DnsNodeAddresses {
  std::optional<std::array<uint8_t, 4>> v4;
  std::optional<std::array<uint8_t, 16>> v6;
};
/// Looks up a node by its lower-case FQDN without the trailing dot ("laptop.dc1.ntm.test");
/// nullopt when no node holds that name now.
using DnsNodeLookup = std::function<std::optional<DnsNodeAddresses>(const std::string& fqdn)>;

/// Counted outcomes: every query handed to answer() is counted under exactly one of
/// noerror, nxdomain, refused, formerr, notimp, badvers or drop_malformed.
struct DnsStats {
  uint64_t udp_queries = 0, tcp_queries = 0;
  uint64_t noerror = 0, nxdomain = 0, refused = 0, formerr = 0, notimp = 0, badvers = 0;
  uint64_t truncated = 0;       ///< answered with TC set (also counted under its rcode)
  uint64_t drop_malformed = 0;  ///< shorter than a header, or a response: not answered
  uint64_t unsent = 0;          ///< answers the socket refused (UDP), counted, not retried
  uint64_t tcp_connections = 0, tcp_refused = 0, tcp_idle_closed = 0, tcp_bad_length = 0;
};

class DnsZone {
 public:
  /// The zone and name-server names must be valid domain names (parse_zone_config checks).
  DnsZone(DnsZoneConfig cfg, DnsNodeLookup lookup);
  ~DnsZone();
  DnsZone(const DnsZone&) = delete;
  DnsZone& operator=(const DnsZone&) = delete;

  /// The largest UDP answer the zone sends to an EDNS client (the DNS flag day 2020 value).
  static constexpr size_t kMaxEdnsUdp = 1232;
  enum class Transport { kUdp, kTcp };
  /// The response to `query` (one DNS message, without TCP's length prefix); empty when the
  /// query is not answered (counted under drop_malformed). Never throws for any input.
  proto::Bytes answer(proto::ByteView query, Transport transport);
  const DnsStats& stats() const { return stats_; }
  DnsStats& stats() { return stats_; }
  const DnsZoneConfig& config() const { return cfg_; }

 private:
  struct RdfDeleter {
    void operator()(ldns_struct_rdf* r) const;
  };
  using Rdf = std::unique_ptr<ldns_struct_rdf, RdfDeleter>;

  DnsZoneConfig cfg_;
  DnsNodeLookup lookup_;
  Rdf zone_, ns_, rname_;
  DnsStats stats_;
};

/// True when `name` (no trailing dot) is a domain name ldns accepts: 1..253 characters,
/// labels of 1..63.
bool valid_dns_name(const std::string& name);

}  // namespace ntm::dc
