// The relay server's UDP endpoint: datagrams are read in recvmmsg batches, relayed ones are
// sent in sendmmsg batches straight out of the receive buffers (the RS forwards the relay
// datagram unchanged: header and sealed tunnel packet, which it cannot open). Single-threaded:
// everything runs on one asio::io_context.
//
// 1. a datagram arrives on one of the listening sockets (IPv4 and IPv6: a relay joins
//    families, e.g. an IPv6-only node and an IPv4 node behind a NAT)
// 2. the type byte and exact size are checked before anything else (drop early, counted)
// 3. relay data (0x07): session by ID, sender by its bound endpoint, quotas → queued for the
//    other side's endpoint, or held until that side binds
// 4. relay bind (0x08): relay_session.cpp; an accepted bind is acked and releases held data
// 5. status request (0x0B) from a DC: authenticated, newest sequence only → status
// 6. the batch's queued datagrams leave in one sendmmsg per socket
#pragma once

#include <sys/socket.h>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "common/logging.h"
#include "rs/relay_session.h"
#include "rs/rs_config.h"

namespace ntm::rs {

/// Counters an operator (and the tests) can read; printed when the RS stops. Every datagram
/// the RS drops is counted under exactly one drop_* reason.
struct RsStats {
  uint64_t relayed_packets = 0, relayed_bytes = 0;  ///< datagrams sent on to the other side
  uint64_t binds = 0, bind_acks = 0, status_answers = 0, notices = 0;
  uint64_t sessions_created = 0, sessions_expired = 0;
  uint64_t held = 0;  ///< datagrams held until the other side bound (then relayed or dropped)
  uint64_t send_errors = 0;
  uint64_t drop_malformed = 0, drop_unknown_session = 0, drop_unbound_source = 0, drop_quota = 0,
           drop_held_overflow = 0, drop_bad_ticket = 0, drop_expired = 0, drop_bad_mac = 0,
           drop_stale = 0, drop_conflict = 0, drop_full = 0, drop_status = 0;
};

class RsServer {
 public:
  RsServer(asio::io_context& io, RsConfig cfg);
  /// Opens every listen endpoint; false (logged) when one cannot be bound.
  bool open();
  std::vector<proto::Endpoint> local_endpoints() const;
  const RsStats& stats() const { return stats_; }
  std::string stats_line() const;
  size_t session_count() const { return table_.size(); }

 private:
  static constexpr size_t kBatch = 64;
  /// Largest datagram relayed: a full tunnel packet is far smaller; a longer one is truncated by
  /// the kernel and dropped.
  static constexpr size_t kMaxDatagram = 65536;
  struct Listener {
    std::unique_ptr<asio::ip::udp::socket> socket;
    bool v6_only = false;
    std::vector<uint8_t> bufs = std::vector<uint8_t>(kBatch * kMaxDatagram);
  };
  /// Datagrams to send after the current batch, per socket. Relayed data points into the
  /// receive buffers; acks, statuses and notices into `small_`.
  struct Outbox {
    mmsghdr msgs[2 * kBatch];
    iovec iov[2 * kBatch];
    sockaddr_storage to[2 * kBatch];
    size_t n = 0;
  };

  void receive(size_t i);
  void drain(size_t i);
  void on_datagram(size_t socket, uint8_t* d, size_t len, const proto::Endpoint& from,
                   Clock::time_point now, uint32_t unix_now);
  void on_relay_data(size_t socket, uint8_t* d, size_t len, const proto::Endpoint& from,
                     Clock::time_point now);
  void on_bind(size_t socket, proto::ByteView d, const proto::Endpoint& from, Clock::time_point now,
               uint32_t unix_now);
  void on_status_request(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  /// Queues `len` bytes at `d` (which must stay valid until flush()) to `to` on `socket`.
  void queue(size_t socket, const uint8_t* d, size_t len, const proto::Endpoint& to);
  /// Copies a small datagram (ack, status, notice) into `small_` and queues it.
  void queue_copy(size_t socket, proto::ByteView d, const proto::Endpoint& to);
  void flush();
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);
  void schedule_maintenance();

  asio::io_context& io_;
  RsConfig cfg_;
  SessionTable table_;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Outbox>> outboxes_;  // one per listener
  std::vector<std::array<uint8_t, 64>> small_;
  size_t small_used_ = 0;
  /// Held datagrams released by a bind: kept alive until the end of the receive batch (an
  /// outbox may be flushed in the middle of it, before or after they were queued).
  std::vector<std::vector<uint8_t>> released_;
  Quota global_pps_, global_bytes_;
  /// Highest status-request sequence accepted per relay key (replays are not answered).
  std::vector<uint64_t> status_sequence_;
  asio::steady_timer maintenance_timer_;
  server::LogLimiter drop_log_{10}, event_log_{20};
  RsStats stats_;
};

}  // namespace ntm::rs
