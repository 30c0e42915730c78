// The DC's DNS listener: DnsZone answers on UDP and TCP (RFC 7766), IPv4 and IPv6, on the
// DC's own asio::io_context (no thread of its own).
//
// UDP: one datagram, one answer, sent at once (a full socket buffer drops the answer,
// counted). TCP: each message is preceded by its 2-byte length (network byte order); a
// connection may carry several queries, answered in order. At most `max_tcp` connections are
// held (a new one beyond that is closed at once, counted), and one that completes no query
// for `tcp_idle` is closed (a slow sender cannot hold a slot).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dc/dns_zone.h"

namespace ntm::dc {

struct DnsListenConfig {
  std::vector<std::string> addresses;  ///< IP addresses to listen on ("0.0.0.0", "::1")
  uint16_t port = 0;                   ///< UDP and TCP port; 0 = no DNS service
  size_t max_tcp = 64;                 ///< TCP connections held at most
  std::chrono::milliseconds tcp_idle{10000};
};

class DnsServer {
 public:
  DnsServer(asio::io_context& io, DnsListenConfig cfg, DnsZone& zone);
  ~DnsServer();
  /// Binds UDP and TCP on every address; false (logged) when one cannot be bound.
  bool open();
  /// Closes every socket and connection.
  void close();
  const DnsStats& stats() const { return zone_.stats(); }
  /// One line of every DNS counter, for the log.
  std::string stats_line() const;
  size_t tcp_connections() const { return connections_.size(); }

 private:
  static constexpr size_t kMaxDatagram = 4096;
  struct Udp {
    std::unique_ptr<asio::ip::udp::socket> socket;
    std::vector<uint8_t> buf = std::vector<uint8_t>(kMaxDatagram);
    asio::ip::udp::endpoint from;
  };
  class Connection;
  void receive(size_t i);
  void accept(size_t i);

  asio::io_context& io_;
  DnsListenConfig cfg_;
  DnsZone& zone_;
  std::vector<Udp> udp_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp_;
  std::set<std::shared_ptr<Connection>> connections_;
};

}  // namespace ntm::dc
