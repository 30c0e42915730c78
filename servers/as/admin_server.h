// The AS's admin channel (docs/protocol.md §14): ntm-admin opens a Noise IK session to the
// AS's static key exactly as a node does to its DC (message 1 with mac1, message 2, then
// sealed packets), and sends admin requests in it. Only the static keys in the AS's
// admin-key list may change anything; any other key completes the handshake (it proved its
// key) but every request gets "not authorized".
//
// 1. a datagram arrives; the type byte and exact sizes are checked before any crypto
// 2. handshake message 1: mac1, the source's rate limit, Noise IK, the admin key's
//    timestamp newer than its last (replay) → a session, answered with message 2
// 3. sealed packet: session by receiver index, AEAD open and anti-replay, admin message
//    decode, authorization, the operation on the store, a sealed response
// Sessions live kSessionLifetime; at most max-admin-sessions are held.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "as/account_store.h"
#include "as/admin_message.h"
#include "as/as_config.h"
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
           accounts_removed = 0, passwords_changed = 0, send_errors = 0;
  uint64_t drop_malformed = 0, drop_mac = 0, drop_ratelimit = 0, drop_handshake = 0,
           drop_replay = 0, drop_unknown_session = 0, drop_auth = 0, drop_session_limit = 0;
};

class AdminServer {
 public:
  static constexpr auto kSessionLifetime = std::chrono::seconds(60);
  AdminServer(asio::io_context& io, const AsConfig& cfg, const crypto::StaticKeyPair& key,
              AccountStore& store);
  bool open();
  std::vector<proto::Endpoint> local_endpoints() const;
  /// Replaces the admin-key list (SIGHUP); open sessions of removed keys lose their rights.
  void set_admin_keys(const std::vector<crypto::Key>& keys);
  const AsStats& stats() const { return stats_; }
  std::string stats_line() const;
  /// The answer to one decoded request from `admin` (exposed for the fuzz target and tests).
  AdminMessage handle(const crypto::Key& admin, const AdminMessage& request);

 private:
  struct AdminSession {
    std::unique_ptr<crypto::Session> session;
    crypto::Key admin{};
    std::chrono::steady_clock::time_point created;
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
  void drop(uint64_t& counter, const proto::Endpoint& from, const char* reason);
  void prune();

  asio::io_context& io_;
  AsConfig cfg_;
  crypto::HandshakeResponder responder_;
  crypto::CookieChecker cookies_;
  AccountStore& store_;
  std::set<crypto::Key> admin_keys_;
  std::vector<Listener> listeners_;
  std::map<uint32_t, AdminSession> sessions_;
  std::map<crypto::Key, crypto::Timestamp> last_init_;
  server::SourceRateLimiter limiter_;
  server::LogLimiter drop_log_{10};
  AsStats stats_;
};

}  // namespace ntm::as
