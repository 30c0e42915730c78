// The DC's side of the channel to its Account Server (docs/protocol.md §14, op 0x10 node
// login): the DC asks the AS whether a node may register under an account (paper 002 §2.1:
// the node authenticates through its DC). Same channel as ntm-admin's, with the DC's static
// key in the AS's dc-key list, run on server::ChannelClient (common/channel_client.h): a
// Noise IK handshake to the AS's pinned key (mac1, no cookie), then sealed admin messages.
//
// Unlike ntm-admin, the DC retransmits an unanswered login (same request id, every
// kRetransmit): the AS answers a repeated id from its per-session answer cache, so a login is
// verified once however often it is asked. A session is replaced by a new handshake before
// the AS's 60 s session lifetime runs out (not sooner: hashing a password may keep the AS
// silent for a while, and a new session would have it verify the login again); requests
// waiting for a session are sent when it completes. Everything runs on the DC's io_context;
// nothing blocks.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "common/channel_client.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::dc {

/// The channel's counters (handshakes, retransmissions, drops: AS datagrams not accepted),
/// and the logins'.
struct AsClientStats : server::ChannelClientStats {
  uint64_t logins = 0, logins_ok = 0, logins_refused = 0, logins_failed = 0;
};

class AsClient {
 public:
  /// What the AS said about a login (its status, §14), or that it said nothing in time.
  enum class Result {
    kOk,
    kBadCredentials,  ///< status 6: unknown account or wrong password
    kRateLimited,     ///< status 7: too many failed logins for the account or the source
    kNodeLimit,       ///< status 8: the account has as many other nodes as it may
    kUnavailable,     ///< no answer within the timeout, or too many logins waiting
    kRefused,         ///< status 1 (this DC's key is not a dc-key of the AS) or 2
    kAsFailed,        ///< status 5: the AS could not read its account store
  };
  using Done = std::function<void(Result)>;
  static constexpr auto kRetransmit = std::chrono::milliseconds(500);
  /// Re-handshake when the session is this old (the AS drops sessions after 60 s).
  static constexpr auto kSessionRenew = std::chrono::seconds(45);
  static constexpr size_t kMaxWaiting = 1024;

  /// `timeout` bounds each login from its first send to its answer.
  AsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key, const crypto::Key& as_public,
           const proto::Endpoint& as, std::chrono::milliseconds timeout);
  /// Opens the UDP socket (an ephemeral port of the AS endpoint's family); false and `error`
  /// set when it cannot.
  bool open(std::string& error) { return channel_.open(error); }
  /// Asks the AS whether `node` (static public key) coming from `source` may register under
  /// `account` with `password`. `done` runs later on the io_context, exactly once (also when
  /// the login times out: kUnavailable), unless the client is destroyed first.
  void login(const std::string& account, const std::string& password, const crypto::Key& node,
             const proto::Endpoint& source, Done done);
  const AsClientStats& stats() const { return stats_; }
  size_t waiting() const { return channel_.waiting(); }

 private:
  void finish(Result r, const Done& done);

  asio::io_context& io_;
  AsClientStats stats_;
  server::ChannelClient channel_;  ///< counts into stats_
};

}  // namespace ntm::dc
