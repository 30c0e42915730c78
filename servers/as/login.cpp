#include "as/login.h"

#include <algorithm>

namespace ntm::as {

LoginChecker::LoginChecker(AccountStore& store, LoginLimits limits, PasswordCost dummy_cost)
    : store_(store),
      limits_(limits),
      dummy_hash_(hash_password("no account has this password", dummy_cost).value_or("")),
      sources_(limits.per_source_rate, limits.per_source_burst) {}

double LoginChecker::account_tokens(const std::string& name, server::Clock::time_point now) {
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return limits_.per_account_burst;
  Failures& f = it->second;
  double elapsed = std::chrono::duration<double>(now - f.last).count();
  f.tokens = std::min(limits_.per_account_burst, f.tokens + elapsed * limits_.per_account_rate);
  f.last = now;
  if (f.tokens >= limits_.per_account_burst) {  // fully recovered: forget it
    accounts_.erase(it);
    return limits_.per_account_burst;
  }
  return f.tokens;
}

void LoginChecker::account_failed(const std::string& name, server::Clock::time_point now) {
  auto it = accounts_.find(name);
  if (it == accounts_.end()) {
    if (accounts_.size() >= limits_.max_accounts_tracked) {
      // Bounded: forget the accounts that have recovered; if none has, the first one.
      for (auto i = accounts_.begin(); i != accounts_.end();) {
        double elapsed = std::chrono::duration<double>(now - i->second.last).count();
        bool recovered =
            i->second.tokens + elapsed * limits_.per_account_rate >= limits_.per_account_burst;
        i = recovered ? accounts_.erase(i) : std::next(i);
      }
      if (accounts_.size() >= limits_.max_accounts_tracked) accounts_.erase(accounts_.begin());
    }
    it = accounts_.emplace(name, Failures{limits_.per_account_burst, now}).first;
  }
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
}

bool LoginChecker::Attempt::verify(const std::string& password) const {
  return verify_password(hash, password) && known;
}

LoginChecker::Start LoginChecker::begin(const std::string& name, const proto::Endpoint& from,
                                        Attempt& attempt, server::Clock::time_point now) {
  // 1. An account's tokens go only on failures; a source's on every attempt (a legitimate
  //    node logs in rarely, so that costs it nothing). Either empty: refused before hashing.
  double tokens = account_tokens(name, now);
  if (tokens < 1) return Start::kRateLimited;
  auto p = pending_.find(name);
  if (p != pending_.end() && tokens - p->second < 1) return Start::kWait;
  if (!sources_.allow(from, now)) return Start::kRateLimited;
  attempt = Attempt{};
  attempt.name = name;
  AccountStore::Result status;
  auto found = store_.find(name, &status);
  if (status == AccountStore::Result::kError) return Start::kStoreError;
  ++pending_[name];
  ++in_flight_;
  if (found) {
    attempt.known = true;
    attempt.hash = found->password_hash;
    attempt.account = std::move(*found);
  } else {
    attempt.hash = dummy_hash_;  // 2. the same work as for a known account
  }
  return Start::kGo;
}

LoginChecker::Result LoginChecker::finish(const Attempt& attempt, bool verified,
                                          server::Clock::time_point now) {
  auto p = pending_.find(attempt.name);
  if (p != pending_.end() && --p->second == 0) pending_.erase(p);
  if (in_flight_) --in_flight_;
  if (!verified) {  // 2. and 3.
    account_failed(attempt.name, now);
    return Result::kBadCredentials;
  }
  return Result::kOk;
}

LoginChecker::Result LoginChecker::check(const std::string& name, const std::string& password,
                                         const proto::Endpoint& from, server::Clock::time_point now,
                                         Account* account) {
  Attempt attempt;
  switch (begin(name, from, attempt, now)) {
    case Start::kGo:
      break;
    case Start::kStoreError:
      return Result::kStoreError;
    default:
      return Result::kRateLimited;
  }
  Result r = finish(attempt, attempt.verify(password), now);
  if (r == Result::kOk && account) *account = attempt.account;
  return r;
}

}  // namespace ntm::as
