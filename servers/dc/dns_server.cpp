// DNS over UDP and TCP for the DC's zone.
//
// 1. a UDP datagram arrives → DnsZone::answer → the answer is sent back at once (never
//    queued: a DNS client retries, and a flood must not grow a queue)
// 2. a TCP connection is accepted while fewer than max_tcp are open, else closed at once
// 3. on a connection: 2-byte length, message, answer with its length, next message; the idle
//    timer restarts after each answered query and closes the connection when it fires
#include "dc/dns_server.h"

#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace ntm::dc {

class DnsServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(DnsServer& server, asio::ip::tcp::socket socket)
      : server_(server), socket_(std::move(socket)), idle_(server.io_) {}

  void start() {
    arm_idle();
    read_length();
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    std::error_code ec;
    socket_.close(ec);
    idle_.cancel();
  }

 private:
  void arm_idle() {
    idle_.expires_after(server_.cfg_.tcp_idle);
    idle_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->closed_) return;
      ++self->server_.zone_.stats().tcp_idle_closed;
      self->finish();
    });
  }
  void read_length() {
    asio::async_read(socket_, asio::buffer(length_),
                     [self = shared_from_this()](std::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->finish();
                       size_t n = size_t(self->length_[0]) << 8 | self->length_[1];
                       if (n == 0) {
                         ++self->server_.zone_.stats().tcp_bad_length;
                         return self->finish();
                       }
                       self->message_.resize(n);
                       self->read_message();
                     });
  }
  void read_message() {
    asio::async_read(socket_, asio::buffer(message_),
                     [self = shared_from_this()](std::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->finish();
                       self->respond();
                     });
  }
  void respond() {
    DnsZone& zone = server_.zone_;
    ++zone.stats().tcp_queries;
    proto::Bytes a;
    try {
      a = zone.answer(message_, DnsZone::Transport::kTcp);
    } catch (const std::exception& e) {  // ldns allocation failure: drop this connection
      spdlog::error("DNS answer failed: {}", e.what());
    }
    if (a.empty()) return finish();  // not a query: nothing to say on this connection
    out_.assign({uint8_t(a.size() >> 8), uint8_t(a.size())});
    out_.insert(out_.end(), a.begin(), a.end());
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code ec, size_t) {
                        if (self->closed_) return;
                        if (ec) return self->finish();
                        self->arm_idle();
                        self->read_length();
                      });
  }
  void finish() {
    close();
    server_.connections_.erase(shared_from_this());
  }

  DnsServer& server_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer idle_;
  uint8_t length_[2] = {};
  proto::Bytes message_, out_;
  bool closed_ = false;
};

DnsServer::DnsServer(asio::io_context& io, DnsListenConfig cfg, DnsZone& zone)
    : io_(io), cfg_(std::move(cfg)), zone_(zone) {}

DnsServer::~DnsServer() {
  close();
}

void DnsServer::close() {
  std::error_code ec;
  for (auto& u : udp_) u.socket->close(ec);
  for (auto& a : tcp_) a->close(ec);
  auto open = std::move(connections_);
  connections_.clear();
  for (auto& c : open) c->close();
}

bool DnsServer::open() {
  for (auto& text : cfg_.addresses) {
    std::error_code ec;
    auto addr = asio::ip::make_address(text, ec);
    if (ec) {
      spdlog::error("DNS listen address '{}' is not an IP address", text);
      return false;
    }
    Udp u;
    u.socket = std::make_unique<asio::ip::udp::socket>(io_);
    asio::ip::udp::endpoint uep(addr, cfg_.port);
    u.socket->open(uep.protocol(), ec);
    if (!ec && addr.is_v6()) u.socket->set_option(asio::ip::v6_only(true), ec);
    if (!ec) u.socket->bind(uep, ec);
    if (!ec) u.socket->non_blocking(true, ec);
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(io_);
    asio::ip::tcp::endpoint tep(addr, cfg_.port);
    if (!ec) acceptor->open(tep.protocol(), ec);
    if (!ec && addr.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(tep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      spdlog::error("cannot listen for DNS on {} port {}: {}", text, cfg_.port, ec.message());
      return false;
    }
    spdlog::info("DNS for {} on udp and tcp {} port {}", zone_.config().zone, text, cfg_.port);
    udp_.push_back(std::move(u));
    tcp_.push_back(std::move(acceptor));
  }
  for (size_t i = 0; i < udp_.size(); ++i) receive(i);
  for (size_t i = 0; i < tcp_.size(); ++i) accept(i);
  return true;
}

void DnsServer::receive(size_t i) {
  Udp& u = udp_[i];
  u.socket->async_receive_from(
      asio::buffer(u.buf), u.from, [this, i](std::error_code ec, size_t n) {
        if (ec == asio::error::operation_aborted) return;
        Udp& u = udp_[i];
        if (!ec) {
          ++zone_.stats().udp_queries;
          proto::Bytes a;
          try {
            a = zone_.answer(proto::ByteView(u.buf.data(), n), DnsZone::Transport::kUdp);
          } catch (const std::exception& e) {  // ldns allocation failure
            spdlog::error("DNS answer failed: {}", e.what());
          }
          // Port 0 cannot be answered (and is a reflection trick); the query is counted.
          if (!a.empty() && u.from.port() != 0) {
            std::error_code send_ec;
            u.socket->send_to(asio::buffer(a), u.from, 0, send_ec);
            if (send_ec) ++zone_.stats().unsent;
          }
        }
        receive(i);
      });
}

void DnsServer::accept(size_t i) {
  tcp_[i]->async_accept([this, i](std::error_code ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (connections_.size() >= cfg_.max_tcp) {
        ++zone_.stats().tcp_refused;
        s.close(ec);
      } else {
        ++zone_.stats().tcp_connections;
        auto c = std::make_shared<Connection>(*this, std::move(s));
        connections_.insert(c);
        c->start();
      }
    }
    accept(i);
  });
}

std::string DnsServer::stats_line() const {
  const DnsStats& s = stats();
  return fmt::format(
      "dns: udp={} tcp={} noerror={} nxdomain={} refused={} formerr={} notimp={} badvers={} "
      "truncated={} drop_malformed={} unsent={} tcp_connections={} tcp_refused={} "
      "tcp_idle_closed={} tcp_bad_length={}",
      s.udp_queries, s.tcp_queries, s.noerror, s.nxdomain, s.refused, s.formerr, s.notimp,
      s.badvers, s.truncated, s.drop_malformed, s.unsent, s.tcp_connections, s.tcp_refused,
      s.tcp_idle_closed, s.tcp_bad_length);
}

}  // namespace ntm::dc
