// The server side of the admin channel (docs/protocol.md §14, and §17.3 which reuses it): the
// AS's admin channel (as/admin_server.h: ntm-admin and the DCs' node logins) and the NS's DC
// channel (ns/ns_server.h: the DCs' notify requests). A client makes a Noise IK session to
// the server's static key exactly as a node does to its DC (message 1 with mac1, message 2),
// then sends sealed admin requests in it (as/admin_message.h); what a request may do is the
// owner's business (its Handler), the channel only delivers it once per request id.
//
// 1. a datagram arrives on one of the UDP listeners; its type byte and exact size are checked
//    before any crypto
// 2. message 1: mac1, the source's handshake rate (per IPv4 address or IPv6 /64), the session
//    limit (after expired sessions are pruned), Noise IK, the key's timestamp newer than its
//    last (replay) → a session living `lifetime`, answered with message 2
// 3. sealed packet: session by receiver index (and not expired), AEAD and anti-replay, request
//    decode
// 4. a request id the session already asked: its stored answer again, or nothing while the
//    handler is still working on it; a request is never handled twice
// 5. the handler answers now or later (on the io thread); the answer is stored (the session's
//    last `answers_kept`) and sent sealed; an answer for a session that expired (or whose
//    index was reused) meanwhile is dropped
// Every dropped datagram is counted under exactly one drop_* reason and logged (rate-limited).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "as/admin_message.h"
#include "common/logging.h"
#include "common/rate_limiter.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::server {

struct ChannelServerStats {
  uint64_t handshakes = 0;  ///< sessions made (message 2 sent)
  uint64_t requests = 0;    ///< requests handed to the handler (each id of a session once)
  /// Repeated request ids: answered again from the session's store; ignored while the first
  /// is still being worked on. Answers dropped because their session expired meanwhile.
  uint64_t answers_resent = 0, repeats_in_progress = 0, answers_dropped_stale = 0;
  uint64_t send_errors = 0;
  uint64_t drop_malformed = 0, drop_mac = 0, drop_ratelimit = 0, drop_handshake = 0,
           drop_replay = 0, drop_unknown_session = 0, drop_auth = 0, drop_session_limit = 0;
};

class ChannelServer {
 public:
  using Clock = std::chrono::steady_clock;
  using Reply = std::function<void(const as::AdminMessage& response)>;
  /// Works on one decoded request of the session whose client key is `peer`; calls `reply`
  /// once, before returning or later on the io thread.
  using Handler =
      std::function<void(const crypto::Key& peer, const as::AdminMessage& request, Reply reply)>;
  /// Text appended to the "<name> session with KEY from ADDR" log line (" (DC)", ...).
  using Describe = std::function<std::string(const crypto::Key& peer)>;
  struct Options {
    std::string name;         ///< in log lines: "admin", "DC"
    std::string listen_name;  ///< the option the endpoints come from: "admin-listen"
    std::chrono::seconds lifetime{60};
    size_t answers_kept = 64;
    size_t max_sessions = 1024;
    double handshake_rate = 20, handshake_burst = 40;
    unsigned log_per_second = 10;
  };

  /// Counts into `stats` (the owner's, which must outlive the channel).
  ChannelServer(asio::io_context& io, const crypto::StaticKeyPair& key, Options options,
                ChannelServerStats& stats, Handler handler, Describe describe);
  /// Binds a UDP socket to every "ip:port" of `listen` (IPv6 ones v6-only); false (logged)
  /// on the first that cannot be.
  bool open(const std::vector<std::string>& listen);
  std::vector<proto::Endpoint> local_endpoints() const;
  size_t sessions() const { return sessions_.size(); }
  /// Drops expired sessions and, once a second at most, the rate limiter's idle sources. Done
  /// before each handshake; an owner with a periodic sweep may call it there too.
  void expire(Clock::time_point now = Clock::now());
  const ChannelServerStats& stats() const { return stats_; }

 private:
  struct Session {
    std::unique_ptr<crypto::Session> session;
    crypto::Key peer{};
    uint64_t serial = 0;  ///< unique per session, so a late answer finds only its own
    Clock::time_point created;
    std::map<uint32_t, proto::Bytes> answers;  ///< request id → response plaintext
    std::deque<uint32_t> answer_order;         ///< oldest first, at most answers_kept
    std::set<uint32_t> in_progress;            ///< request ids being worked on
  };
  struct Listener {
    std::unique_ptr<asio::ip::udp::socket> socket;
    std::vector<uint8_t> buf = std::vector<uint8_t>(2048);
    asio::ip::udp::endpoint from;
  };
  void receive(size_t i);
  void on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void on_sealed(size_t socket, proto::ByteView d, const proto::Endpoint& from);
  void send_to(size_t socket, proto::ByteView d, const proto::Endpoint& to);
  void send_answer(Session& s, size_t socket, proto::ByteView plain, const proto::Endpoint& to);
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);

  asio::io_context& io_;
  Options options_;
  Handler handler_;
  Describe describe_;
  crypto::HandshakeResponder responder_;
  crypto::CookieChecker cookies_;
  std::vector<Listener> listeners_;
  std::map<uint32_t, Session> sessions_;  // by receiver (local) index
  std::map<crypto::Key, crypto::Timestamp> last_init_;
  SourceRateLimiter limiter_;
  LogLimiter log_;
  ChannelServerStats& stats_;
  uint64_t next_serial_ = 1;
  Clock::time_point collected_{};  ///< the rate limiter's last collect()
};

}  // namespace ntm::server
