// Node login (docs/protocol.md §14, op 0x10): a DC relays the credentials of a node that
// registers, with the node's identity and the address its handshake came from.
//
// 1. handle_login, io thread: the fields, room in the hash workers' queue
// 2. start_login, io thread: LoginChecker's rate limits (before any hashing); a login that
//    could overdraw its account's failures together with those being verified waits in
//    waiting_logins_ until one of them is finished (resume_logins)
// 3. worker thread: Argon2id verification (the dummy hash for an unknown account)
// 4. finish_login, io thread: the outcome, the node limit (one store transaction), the answer
#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "as/admin_server.h"

namespace ntm::as {
namespace {

/// A node source address: IPv4 or IPv6 text, no port (the per-source login limit ignores
/// ports).
std::optional<proto::Endpoint> parse_address(const std::string& s) {
  if (s.empty() || s.size() > INET6_ADDRSTRLEN) return std::nullopt;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, s.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&v4), sizeof v4);
  }
  if (inet_pton(AF_INET6, s.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&v6), sizeof v6);
  }
  return std::nullopt;
}

}  // namespace

void AdminServer::handle_login(const crypto::Key& peer, const AdminMessage& req, AdminMessage res,
                               Reply reply) {
  const auto& f = req.fields;
  std::optional<std::string> node;
  std::optional<proto::Endpoint> source;
  if (f.size() == 4) {
    node = canonical_node_identity(f[2]);
    source = parse_address(f[3]);
  }
  if (f.size() != 4 || !valid_account_name(f[0]) || !valid_password(f[1]) || !node || !source) {
    res.status = AdminStatus::kBadRequest;
    return reply(res);
  }
  if (hash_queue_full()) {
    ++stats_.hash_queue_full;
    res.status = AdminStatus::kRateLimited;
    return reply(res);
  }
  start_login({f[0], f[1], *node, f[3], crypto::key_to_base64(peer).substr(0, 8), *source,
               std::move(res), std::move(reply)},
              false);
}

bool AdminServer::start_login(LoginJob job, bool again) {
  // 1. The rate limits decide here, on the io thread, before any hashing.
  LoginChecker::Attempt attempt;
  switch (login_.begin(job.name, job.source, attempt)) {
    case LoginChecker::Start::kGo:
      break;
    case LoginChecker::Start::kWait: {
      auto& queue = waiting_logins_[job.name];
      ++hashes_queued_;
      again ? queue.push_front(std::move(job)) : queue.push_back(std::move(job));
      return true;
    }
    case LoginChecker::Start::kRateLimited:
      ++stats_.logins_limited;
      if (refusal_log_.allow())
        spdlog::info("login of node {} to account {} from {} (via DC {}): rate limited", job.node,
                     job.name, job.source_text, job.dc);
      job.res.status = AdminStatus::kRateLimited;
      job.reply(job.res);
      return false;
    case LoginChecker::Start::kStoreError:
      ++stats_.logins_store_failed;
      spdlog::error("login of node {} to account {} (via DC {}): the account store failed",
                    job.node, job.name, job.dc);
      job.res.status = AdminStatus::kInternal;
      job.reply(job.res);
      return false;
  }
  // 2. The hash on the pool (the dummy's for an unknown account: the same work).
  std::string password = std::move(job.password);
  on_pool(
      [attempt, password = std::move(password)]() mutable {
        bool ok = attempt.verify(password);
        sodium_memzero(password.data(), password.size());
        return ok;
      },
      [this, attempt, job = std::move(job)](bool verified) mutable {
        std::string account = attempt.name;
        finish_login(std::move(job), attempt, verified);
        resume_logins(account);
      });
  return false;
}

void AdminServer::resume_logins(const std::string& account) {
  for (size_t i = 0; i < kQueuedHashesPerThread * cfg_.hash_threads + 1; ++i) {  // bounded
    auto it = waiting_logins_.find(account);
    if (it == waiting_logins_.end()) return;
    if (it->second.empty()) {
      waiting_logins_.erase(it);
      return;
    }
    LoginJob job = std::move(it->second.front());
    it->second.pop_front();
    --hashes_queued_;
    if (start_login(std::move(job), true)) return;  // waits again: another one is in flight
  }
}

void AdminServer::finish_login(LoginJob job, const LoginChecker::Attempt& attempt, bool verified) {
  // 3. The outcome, the node limit (one store transaction) and the answer.
  auto log_refusal = [&](const char* why) {
    if (refusal_log_.allow())
      spdlog::info("login of node {} to account {} from {} (via DC {}): {}", job.node, job.name,
                   job.source_text, job.dc, why);
  };
  AdminMessage& res = job.res;
  if (login_.finish(attempt, verified) != LoginChecker::Result::kOk) {
    ++stats_.logins_refused;
    log_refusal("bad credentials");
    res.status = AdminStatus::kBadCredentials;
    return job.reply(res);
  }
  auto at =
      store_.attach_node(job.name, job.node, int64_t(std::time(nullptr)), cfg_.node_release_after);
  switch (at.result) {
    case AccountStore::Result::kOk:
      ++stats_.logins_ok;
      spdlog::info("login of node {} to account {} from {} (via DC {}): ok, {} of {} nodes",
                   job.node, job.name, job.source_text, job.dc, at.counted, at.node_limit);
      res.status = AdminStatus::kOk;
      res.fields = {std::to_string(at.node_limit), std::to_string(at.counted)};
      break;
    case AccountStore::Result::kLimitReached:
      ++stats_.logins_node_limit;
      log_refusal("node limit reached");
      res.status = AdminStatus::kNodeLimit;
      break;
    case AccountStore::Result::kNotFound:  // the account was deleted while hashing
      ++stats_.logins_refused;
      log_refusal("bad credentials (account deleted)");
      res.status = AdminStatus::kBadCredentials;
      break;
    default:
      spdlog::error("account store failed attaching node {} to account {}", job.node, job.name);
      res.status = AdminStatus::kInternal;
  }
  job.reply(res);
}

}  // namespace ntm::as
