// Finds the DC of another zone through DNS (paper 002 Fig. 3 step 3, Fig. 5 step 10): the DC
// that serves a zone is its authoritative name server, so DC_MN asks its resolvers for the NS
// record of the CN's zone and talks to DC_CN at the name server's address (docs/protocol.md
// §16.1). c-ares sends the queries (on the DC's asio loop); ldns reads the answers.
//
// 1. the zone of "cn.dc2.ntm.test" is "dc2.ntm.test" (the FQDN without its first label)
// 2. NS query for the zone to the configured resolvers (or /etc/resolv.conf's when none):
//    a recursive resolver answers the NS records; an authoritative server of a parent zone
//    answers a referral (NS in the authority section, glue in the additional section). Only
//    NS records owned by the zone itself count.
// 3. the name servers' addresses: glue A/AAAA in the same answer, else A and AAAA queries for
//    the first name server's name
// 4. NXDOMAIN, or no NS record owned by the zone: "no such zone" (nobody serves it); timeouts,
//    SERVFAIL, REFUSED or unparsable answers: "failed"
// 5. answers cached for their TTL (the least of the records used, at most 1 h); "no such zone"
//    for the SOA MINIMUM of the answer (at most 5 min) or 30 s, "failed" not cached.
//    Concurrent lookups of one zone share one query.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/bytes.h"
#include "proto/endpoint.h"

struct ares_channeldata;

namespace ntm::dc {

class DcLocator {
 public:
  enum class Status {
    kFound,       ///< addresses holds the zone's name servers (at least one)
    kNoSuchZone,  ///< NXDOMAIN, or the zone has no NS record: nobody serves it
    kFailed,      ///< no usable answer (timeout, SERVFAIL, REFUSED, malformed)
  };
  struct Result {
    Status status = Status::kFailed;
    std::vector<asio::ip::address> addresses;  ///< kFound: IPv4 first, then IPv6
    std::string detail;                        ///< for logs: why it failed
  };
  using Callback = std::function<void(const Result&)>;

  struct Stats {
    uint64_t lookups = 0, cache_hits = 0, queries = 0;
    uint64_t found = 0, no_such_zone = 0, failed = 0;
    uint64_t drop_malformed = 0;  ///< answers ldns could not parse
  };

  /// `resolvers`: DNS servers to ask (empty: those of /etc/resolv.conf). Each query is tried
  /// `tries` times per server, `try_timeout` apart.
  DcLocator(asio::io_context& io, const std::vector<proto::Endpoint>& resolvers,
            std::chrono::milliseconds try_timeout = std::chrono::milliseconds(400), int tries = 2);
  ~DcLocator();
  DcLocator(const DcLocator&) = delete;
  DcLocator& operator=(const DcLocator&) = delete;

  /// False (and error() says why) when c-ares could not be set up; locate() then fails.
  bool ok() const { return channel_ != nullptr; }
  const std::string& error() const { return error_; }

  /// Looks up the name servers of `zone` (lower case, no trailing dot). `cb` runs on the io
  /// thread, possibly before locate() returns (cache hit), exactly once.
  void locate(const std::string& zone, Callback cb);
  /// The zone a node's FQDN belongs to: the FQDN without its first label ("" for one label),
  /// canonical.
  static std::string zone_of(const std::string& fqdn);
  /// A domain name as the DC compares names: lower case ASCII, no trailing dot.
  static std::string canonical(std::string name);

  /// Reads one DNS answer to an NS query for `zone` (exposed for tests and the fuzz target).
  /// Fills `servers` with the NS names, `glue` with their addresses found in the message and
  /// `ttl` with the least TTL of the records used (seconds).
  static Status parse_ns_answer(proto::ByteView answer, const std::string& zone,
                                std::vector<std::string>& servers,
                                std::vector<asio::ip::address>& glue, uint32_t& ttl,
                                std::string& detail);
  /// Reads A/AAAA records owned by `name` from an answer; returns their least TTL (0: none).
  static uint32_t parse_addresses(proto::ByteView answer, const std::string& name,
                                  std::vector<asio::ip::address>& out);

  const Stats& stats() const { return stats_; }

 private:
  struct Lookup;
  struct Watch;
  static void on_socket_state(void* self, int fd, int readable, int writable);
  static void on_ns_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void on_address_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void arm(int fd);
  void schedule_timeout();
  void finish(const std::string& zone, Result r, uint32_t ttl);

  asio::io_context& io_;
  ares_channeldata* channel_ = nullptr;
  std::string error_;
  std::map<int, std::shared_ptr<Watch>> watches_;
  asio::steady_timer timer_;
  struct Cached {
    Result result;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Cached> cache_;
  std::map<std::string, std::vector<Callback>> waiting_;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ntm::dc
