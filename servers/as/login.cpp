#include "as/login.h"

#include <algorithm>

namespace ntm::as {

LoginChecker::LoginChecker(AccountStore& store, LoginLimits limits, PasswordCost dummy_cost)
    : store_(store),
      limits_(limits),
      dummy_hash_(hash_password("no account has this password", dummy_cost).value_or("")),
      sources_(limits.per_source_rate, limits.per_source_burst) {}

bool LoginChecker::account_allows(const std::string& name, server::Clock::time_point now) {
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return true;
  Failures& f = it->second;
  double elapsed = std::chrono::duration<double>(now - f.last).count();
  f.tokens = std::min(limits_.per_account_burst, f.tokens + elapsed * limits_.per_account_rate);
  f.last = now;
  if (f.tokens >= limits_.per_account_burst) {  // fully recovered: forget it
    accounts_.erase(it);
    return true;
  }
  return f.tokens >= 1;
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

std::optional<LoginChecker::Attempt> LoginChecker::begin(const std::string& name,
                                                         const proto::Endpoint& from,
                                                         server::Clock::time_point now) {
  // 1. An account's tokens go only on failures; a source's on every attempt (a legitimate
  //    node logs in rarely, so that costs it nothing). Either empty: refused before hashing.
  if (!account_allows(name, now)) return std::nullopt;
  if (!sources_.allow(from, now)) return std::nullopt;
  account_failed(name, now);  // given back by finish() on success
  Attempt a;
  a.name = name;
  if (auto found = store_.find(name)) {
    a.known = true;
    a.hash = found->password_hash;
    a.account = std::move(*found);
  } else {
    a.hash = dummy_hash_;  // 2. the same work as for a known account
  }
  return a;
}

LoginChecker::Result LoginChecker::finish(const Attempt& attempt, bool verified,
                                          server::Clock::time_point now) {
  if (!verified) return Result::kBadCredentials;  // 2. and 3.: the token stays taken
  auto it = accounts_.find(attempt.name);
  if (it != accounts_.end()) {
    Failures& f = it->second;
    double elapsed = std::chrono::duration<double>(now - f.last).count();
    f.tokens =
        std::min(limits_.per_account_burst, f.tokens + elapsed * limits_.per_account_rate + 1);
    f.last = now;
    if (f.tokens >= limits_.per_account_burst) accounts_.erase(it);
  }
  return Result::kOk;
}

LoginChecker::Result LoginChecker::check(const std::string& name, const std::string& password,
                                         const proto::Endpoint& from, server::Clock::time_point now,
                                         Account* account) {
  auto attempt = begin(name, from, now);
  if (!attempt) return Result::kRateLimited;
  Result r = finish(*attempt, attempt->verify(password), now);
  if (r == Result::kOk && account) *account = attempt->account;
  return r;
}

}  // namespace ntm::as
