// Checking an account's credentials, with failed attempts rate-limited per account and per
// source address, so that guessing passwords costs the guesser time whichever of the two it
// varies. The check the AS makes for a node's login relayed by its DC (docs/protocol.md §14,
// op 0x10).
//
// 1. the account has a bucket of failures, the source (IPv4 address or IPv6 /64) a bucket of
//    attempts; either one empty → kRateLimited, before any password hashing (Argon2id is
//    the costly part, so a flood of guesses must not reach it)
// 2. unknown account → a hash is still verified against a dummy, then kBadCredentials
//    (the answer time does not tell which accounts exist)
// 3. wrong password → kBadCredentials, one token taken from both buckets
//
// ntm-as splits a check in three (begin on its io thread, verify on a worker thread, finish
// on the io thread again) so that hashing does not stall other requests; check() is the
// three in a row. An attempt being verified counts as a failure-to-be of its account: when
// those could spend the account's last failures, begin() says kWait (ntm-as then holds the
// login until one of them is finished) rather than let them overdraw it.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "as/account_store.h"
#include "common/rate_limiter.h"
#include "proto/endpoint.h"

namespace ntm::as {

struct LoginLimits {
  double per_account_rate = 1.0 / 6, per_account_burst = 5;  ///< failures: 5, then 10 per minute
  double per_source_rate = 1, per_source_burst = 20;         ///< attempts per address
  size_t max_accounts_tracked = 1 << 16;
};

class LoginChecker {
 public:
  LoginChecker(AccountStore& store, LoginLimits limits = {}, PasswordCost dummy_cost = {});
  enum class Result { kOk, kBadCredentials, kRateLimited, kStoreError };
  /// On kOk, `*account` (when given) receives the account (for its node limit).
  Result check(const std::string& name, const std::string& password, const proto::Endpoint& from,
               server::Clock::time_point now = server::Clock::now(), Account* account = nullptr);
  /// Accounts with failures not yet recovered (at most max_accounts_tracked).
  size_t tracked_accounts() const { return accounts_.size(); }

  /// What a worker thread verifies for one attempt: the password against `hash` (the
  /// account's, or the dummy's for an unknown account; verify() says false for those).
  struct Attempt {
    std::string name, hash;
    bool known = false;
    Account account;
    bool verify(const std::string& password) const;
  };
  enum class Start {
    kGo,           ///< `attempt` is filled: verify it, then finish() it
    kWait,         ///< attempts on this account being verified may spend its last failures:
                   ///< try again when one of them is finished
    kRateLimited,  ///< the account's failures or the source's attempts are spent
    kStoreError,   ///< the store could not be read: nothing counted against the account
  };
  /// Steps 1 and 2's lookup (the caller's thread, with the store). An attempt being verified
  /// counts as a possible failure of its account until finished, so that attempts verified
  /// at the same time cannot overdraw the account's failures; a source's token is taken on
  /// kGo only.
  Start begin(const std::string& name, const proto::Endpoint& from, Attempt& attempt,
              server::Clock::time_point now = server::Clock::now());
  /// After Attempt::verify: kOk or kBadCredentials (the thread of begin()). Call it exactly
  /// once for every kGo.
  Result finish(const Attempt& attempt, bool verified,
                server::Clock::time_point now = server::Clock::now());
  /// Attempts begun and not finished.
  size_t in_flight() const { return in_flight_; }

 private:
  /// The account's failure tokens now (refilled; a fully recovered account is forgotten).
  double account_tokens(const std::string& name, server::Clock::time_point now);
  void account_failed(const std::string& name, server::Clock::time_point now);

  AccountStore& store_;
  LoginLimits limits_;
  std::string dummy_hash_;
  server::SourceRateLimiter sources_;
  struct Failures {
    double tokens;
    server::Clock::time_point last;
  };
  std::map<std::string, Failures> accounts_;
  std::map<std::string, unsigned> pending_;  ///< attempts being verified, per account
  size_t in_flight_ = 0;
};

}  // namespace ntm::as
