// The AS's admin channel (docs/protocol.md §14): ntm-admin, and each DC relaying its nodes'
// logins, open a Noise IK session to the AS's static key exactly as a node does to its DC
// (message 1 with mac1, message 2, then sealed packets), and send requests in it. Only the
// keys in the AS's admin-key list may administer accounts (ops 0x01..0x0F), only those in its
// dc-key list may log nodes in (op 0x10); any other key completes the handshake (it proved
// its key) but gets "not authorized".
//
// 1.-4. the channel (server::ChannelServer, common/channel_server.h, shared with the NS's DC
//    channel): datagram checks before any crypto, the handshake (mac1, the source's rate
//    limit, the session limit, Noise IK, the key's timestamp replay rule), sealed packets by
//    receiver index, and the per-session answer cache: a request ID the session already
//    asked gets its stored answer again (or nothing while it is still being worked on); the
//    AS never runs a request twice
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
#include "common/channel_server.h"
#include "common/logging.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::as {

/// Every datagram the AS drops is counted under exactly one drop_* reason (the channel's
/// counters, server::ChannelServerStats: handshakes, requests, answers_resent,
/// repeats_in_progress, answers_dropped_stale, send_errors, drop_*).
struct AsStats : server::ChannelServerStats {
  uint64_t not_authorized = 0, accounts_added = 0, accounts_removed = 0, passwords_changed = 0,
           nodes_released = 0;
  /// Node logins by outcome: ok, refused (bad credentials), limited (rate), node limit, and
  /// not checked because the account store failed (answered "internal error").
  uint64_t logins_ok = 0, logins_refused = 0, logins_limited = 0, logins_node_limit = 0,
           logins_store_failed = 0;
  /// Requests refused with "rate limited" because the hash workers' queue was full.
  uint64_t hash_queue_full = 0;
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

  asio::io_context& io_;
  AsConfig cfg_;
  AccountStore& store_;
  std::set<crypto::Key> admin_keys_, dc_keys_;
  LoginChecker login_;
  server::LogLimiter refusal_log_{10};
  AsStats stats_;
  server::ChannelServer channel_;  ///< counts into stats_, calls handle()
  size_t hashes_queued_ = 0;       ///< on the pool, or waiting in waiting_logins_
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
