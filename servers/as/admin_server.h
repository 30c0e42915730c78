// The AS's admin channel (docs/protocol.md §14): ntm-admin, and each DC relaying its nodes'
// logins, open a Noise IK session to the AS's static key exactly as a node does to its DC
// (message 1 with mac1, message 2, then sealed packets), and send requests in it. Only the
// keys in the AS's admin-key list may administer accounts (ops 0x01..0x0F), only those in its
// dc-key list may log nodes in (op 0x10); any other key completes the handshake (it proved
// its key) but gets "not authorized".
//
// 1. a datagram arrives; the type byte and exact sizes are checked before any crypto
// 2. handshake message 1: mac1, the source's rate limit, Noise IK, the key's timestamp newer
//    than its last (replay) → a session, answered with message 2
// 3. sealed packet: session by receiver index, AEAD open and anti-replay, request decode
// 4. a request ID the session already asked: its stored answer again (or nothing while the
//    request is still being worked on); the AS never runs a request twice
// 5. handle(): authorization, then the operation. Password hashing (login, account add,
//    passwd) runs on the worker pool (hash-threads), its result comes back to the io thread;
//    the store and every counter are used from the io thread only. Node login (op 0x10, its
//    rate limits, the hash and the node limit) is in node_login.cpp
// 6. the answer is stored (the session's last 64) and sent sealed; one for a session that
//    expired meanwhile is dropped
// Sessions live kSessionLifetime; at most max-admin-sessions are held.
#pragma once

#include <spdlog/spdlog.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "as/account_store.h"
#include "as/admin_message.h"
#include "as/as_config.h"
#include "as/login.h"
#include "common/logging.h"
#include "common/rate_limiter.h"
#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::as {

/// Every datagram the AS drops is counted under exactly one drop_* reason.
struct AsStats {
  uint64_t handshakes = 0, requests = 0, not_authorized = 0, accounts_added = 0,
           accounts_removed = 0, passwords_changed = 0, nodes_released = 0, send_errors = 0;
  /// Node logins by outcome: ok, refused (bad credentials), limited (rate), node limit, and
  /// not checked because the account store failed (answered "internal error").
  uint64_t logins_ok = 0, logins_refused = 0, logins_limited = 0, logins_node_limit = 0,
           logins_store_failed = 0;
  /// Repeated request IDs: answered again from the session's store; ignored while the first
  /// is still being worked on. Answers dropped because their session expired meanwhile.
  uint64_t answers_resent = 0, repeats_in_progress = 0, answers_dropped_stale = 0;
  /// Requests refused with "rate limited" because the hash workers' queue was full.
  uint64_t hash_queue_full = 0;
  uint64_t drop_malformed = 0, drop_mac = 0, drop_ratelimit = 0, drop_handshake = 0,
           drop_replay = 0, drop_unknown_session = 0, drop_auth = 0, drop_session_limit = 0;
};

class AdminServer {
 public:
  static constexpr auto kSessionLifetime = std::chrono::seconds(60);
  /// Answers a session keeps for repeated request IDs.
  static constexpr size_t kAnswersKept = 64;
  /// Passwords waiting for or being hashed, per worker thread; beyond: "rate limited".
  static constexpr size_t kQueuedHashesPerThread = 16;
  AdminServer(asio::io_context& io, const AsConfig& cfg, const crypto::StaticKeyPair& key,
              AccountStore& store);
  bool open();
  std::vector<proto::Endpoint> local_endpoints() const;
  /// Replaces the admin-key and dc-key lists (SIGHUP); open sessions of removed keys lose
  /// their rights. A key in both lists has both rights.
  void set_keys(const std::vector<crypto::Key>& admin_keys,
                const std::vector<crypto::Key>& dc_keys);
  const AsStats& stats() const { return stats_; }
  std::string stats_line() const;
  using Reply = std::function<void(const AdminMessage& response)>;
  /// Works on one decoded request from the session key `peer` and calls `reply` with the
  /// response on the io thread: before handle() returns, or, when a password is hashed, once
  /// the worker pool is done (run the io_context for that). Exposed for the fuzz target and
  /// tests; call it on the io thread.
  void handle(const crypto::Key& peer, const AdminMessage& request, Reply reply);

 private:
  struct AdminSession {
    std::unique_ptr<crypto::Session> session;
    crypto::Key peer{};
    uint64_t serial = 0;  ///< unique per session, so a late answer finds only its own
    std::chrono::steady_clock::time_point created;
    std::map<uint32_t, proto::Bytes> answers;  ///< request ID → response plaintext
    std::deque<uint32_t> answer_order;         ///< oldest first, at most kAnswersKept
    std::set<uint32_t> in_progress;            ///< request IDs being worked on
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
  void send_answer(AdminSession& s, size_t socket, proto::ByteView plain,
                   const proto::Endpoint& to);
  /// Runs `work` on the worker pool, then `then(result)` on the io thread.
  template <class Work, class Then>
  void on_pool(Work work, Then then);
  bool hash_queue_full() const;
  void handle_login(const crypto::Key& peer, const AdminMessage& req, AdminMessage res,
                    Reply reply);
  struct LoginJob {
    std::string name, password, node, source_text, dc;
    proto::Endpoint source;
    AdminMessage res;
    Reply reply;
  };
  /// The rate limits, then the hash on the pool; a login that must wait for another on the
  /// same account (LoginChecker::Start::kWait) joins that account's queue (at its front when
  /// `again`). True when it waits.
  bool start_login(LoginJob job, bool again);
  void finish_login(LoginJob job, const LoginChecker::Attempt& attempt, bool verified);
  /// After a login of `account` is finished: starts the logins waiting for it, until one
  /// has to wait again.
  void resume_logins(const std::string& account);
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);
  void prune();

  asio::io_context& io_;
  AsConfig cfg_;
  crypto::HandshakeResponder responder_;
  crypto::CookieChecker cookies_;
  AccountStore& store_;
  std::set<crypto::Key> admin_keys_, dc_keys_;
  LoginChecker login_;
  std::vector<Listener> listeners_;
  std::map<uint32_t, AdminSession> sessions_;
  std::map<crypto::Key, crypto::Timestamp> last_init_;
  server::SourceRateLimiter limiter_;
  server::LogLimiter drop_log_{10}, refusal_log_{10};
  AsStats stats_;
  uint64_t next_serial_ = 1;
  size_t hashes_queued_ = 0;  ///< on the pool, or waiting in waiting_logins_
  std::map<std::string, std::deque<LoginJob>> waiting_logins_;
  // Last: destroyed (its threads joined) first, while everything its jobs touch exists.
  asio::thread_pool pool_;
};

template <class Work, class Then>
void AdminServer::on_pool(Work work, Then then) {
  ++hashes_queued_;
  // The guard keeps io_.run() from returning while a hash is on the pool (tests and the
  // fuzz target run the loop until the answer is in); it goes once the result is posted.
  asio::post(pool_, [io = &io_, guard = asio::make_work_guard(io_), work = std::move(work),
                     then = std::move(then), this]() mutable {
    auto result = work();
    asio::post(*io, [this, result = std::move(result), then = std::move(then)]() mutable {
      --hashes_queued_;
      try {  // no exception leaves the io thread's handlers (the request goes unanswered)
        then(std::move(result));
      } catch (const std::exception& e) {
        spdlog::error("answer after hashing failed: {}", e.what());
      }
    });
  });
}

}  // namespace ntm::as
