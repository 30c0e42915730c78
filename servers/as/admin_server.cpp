#include "as/admin_server.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/post.hpp>
#include <cstring>

namespace ntm::as {
namespace {

/// Accounts per list response: 10 entries of at most 64 + 10 + 20 bytes (and their lengths)
/// stay far below AdminMessage::kMaxSize.
constexpr size_t kListPage = 10;
constexpr uint32_t kMaxNodeLimit = 1000000;

std::optional<uint32_t> parse_limit(const std::string& s) {
  if (s.empty() || s.size() > 7 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  unsigned long v = std::stoul(s);
  if (v > kMaxNodeLimit) return std::nullopt;
  return uint32_t(v);
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, const AsConfig& cfg,
                         const crypto::StaticKeyPair& key, AccountStore& store)
    : io_(io),
      cfg_(cfg),
      store_(store),
      login_(store, LoginLimits{}, cfg.password_cost),
      channel_(
          io, key,
          {"admin", "admin-listen", kSessionLifetime, kAnswersKept, cfg.max_admin_sessions,
           cfg.admin_handshake_rate, cfg.admin_handshake_burst, 10},
          stats_,
          [this](const crypto::Key& peer, const AdminMessage& request,
                 server::ChannelServer::Reply reply) { handle(peer, request, std::move(reply)); },
          [this](const crypto::Key& peer) -> std::string {
            return admin_keys_.count(peer) ? (dc_keys_.count(peer) ? " (admin and DC)" : "")
                   : dc_keys_.count(peer)  ? " (DC)"
                                           : " (key not listed)";
          }),
      pool_(cfg.hash_threads) {
  set_keys(cfg.admin_keys, cfg.dc_keys);
}

void AdminServer::set_keys(const std::vector<crypto::Key>& admin_keys,
                           const std::vector<crypto::Key>& dc_keys) {
  admin_keys_ = std::set<crypto::Key>(admin_keys.begin(), admin_keys.end());
  dc_keys_ = std::set<crypto::Key>(dc_keys.begin(), dc_keys.end());
  spdlog::info("{} admin key(s) allowed", admin_keys_.size());
  spdlog::info("{} dc key(s) allowed", dc_keys_.size());
}

bool AdminServer::open() {
  if (!channel_.open(cfg_.admin_listen)) return false;
  for (auto& e : local_endpoints()) spdlog::info("admin channel on udp {}", e.to_string());
  return true;
}

std::vector<proto::Endpoint> AdminServer::local_endpoints() const {
  return channel_.local_endpoints();
}

std::string AdminServer::stats_line() const {
  const AsStats& s = stats_;
  return fmt::format(
      "handshakes={} requests={} not_authorized={} accounts_added={} accounts_removed={} "
      "passwords_changed={} nodes_released={} logins_ok={} logins_refused={} "
      "logins_limited={} logins_node_limit={} logins_store_failed={} answers_resent={} "
      "repeats_in_progress={} "
      "answers_dropped_stale={} hash_queue_full={} send_errors={} sessions={} drops: "
      "malformed={} mac={} ratelimit={} handshake={} replay={} unknown_session={} auth={} "
      "session_limit={}",
      s.handshakes, s.requests, s.not_authorized, s.accounts_added, s.accounts_removed,
      s.passwords_changed, s.nodes_released, s.logins_ok, s.logins_refused, s.logins_limited,
      s.logins_node_limit, s.logins_store_failed, s.answers_resent, s.repeats_in_progress,
      s.answers_dropped_stale, s.hash_queue_full, s.send_errors, channel_.sessions(),
      s.drop_malformed, s.drop_mac, s.drop_ratelimit, s.drop_handshake, s.drop_replay,
      s.drop_unknown_session, s.drop_auth, s.drop_session_limit);
}

bool AdminServer::hash_queue_full() const {
  return hashes_queued_ >= kQueuedHashesPerThread * cfg_.hash_threads;
}

void AdminServer::handle(const crypto::Key& peer, const AdminMessage& req, Reply reply) {
  AdminMessage res;
  res.op = uint8_t(req.op | 0x80);
  res.id = req.id;
  auto answer = [&](AdminStatus st) {
    res.status = st;
    reply(res);
  };
  std::string who = crypto::key_to_base64(peer).substr(0, 8);
  bool dc_op = req.op >= kFirstDcOp;
  if (!(dc_op ? dc_keys_ : admin_keys_).count(peer)) {
    ++stats_.not_authorized;
    if (refusal_log_.allow())
      spdlog::warn("request {:#04x} refused: key {} is not {}", req.op, who,
                   dc_op ? "a dc-key" : "an admin key");
    return answer(AdminStatus::kNotAuthorized);
  }
  if (dc_op) {
    if (AdminOp(req.op) != AdminOp::kNodeLogin) return answer(AdminStatus::kBadRequest);
    return handle_login(peer, req, std::move(res), std::move(reply));
  }
  auto store_status = [](AccountStore::Result r) {
    switch (r) {
      case AccountStore::Result::kOk:
        return AdminStatus::kOk;
      case AccountStore::Result::kExists:
        return AdminStatus::kExists;
      case AccountStore::Result::kNotFound:
        return AdminStatus::kNotFound;
      default:
        spdlog::error("account store failed");
        return AdminStatus::kInternal;
    }
  };
  const auto& f = req.fields;
  switch (AdminOp(req.op)) {
    case AdminOp::kAccountAdd: {
      std::optional<uint32_t> limit;
      if (f.size() == 3) limit = f[2].empty() ? cfg_.default_node_limit : parse_limit(f[2]);
      if (f.size() != 3 || !valid_account_name(f[0]) || !valid_password(f[1]) || !limit)
        return answer(AdminStatus::kBadRequest);
      if (hash_queue_full()) {
        ++stats_.hash_queue_full;
        return answer(AdminStatus::kRateLimited);
      }
      on_pool(
          [password = f[1], cost = cfg_.password_cost] { return hash_password(password, cost); },
          [this, res, reply, name = f[0], limit = *limit, who,
           store_status](std::optional<std::string> hash) mutable {
            if (!hash) {
              res.status = AdminStatus::kInternal;
              return reply(res);
            }
            res.status = store_status(store_.add({name, *hash, limit, 0}));
            if (res.status == AdminStatus::kOk) {
              ++stats_.accounts_added;
              spdlog::info("account {} added (node limit {}) by admin {}", name, limit, who);
            }
            reply(res);
          });
      return;
    }
    case AdminOp::kAccountDel: {
      if (f.size() != 1 || !valid_account_name(f[0])) return answer(AdminStatus::kBadRequest);
      auto st = store_status(store_.remove(f[0]));
      if (st == AdminStatus::kOk) {
        ++stats_.accounts_removed;
        spdlog::info("account {} and its nodes removed by admin {}", f[0], who);
      }
      return answer(st);
    }
    case AdminOp::kAccountPasswd: {
      if (f.size() != 2 || !valid_account_name(f[0]) || !valid_password(f[1]))
        return answer(AdminStatus::kBadRequest);
      AccountStore::Result found;
      store_.find(f[0], &found);
      if (found == AccountStore::Result::kError) return answer(AdminStatus::kInternal);
      if (found == AccountStore::Result::kNotFound) return answer(AdminStatus::kNotFound);
      if (hash_queue_full()) {
        ++stats_.hash_queue_full;
        return answer(AdminStatus::kRateLimited);
      }
      on_pool(
          [password = f[1], cost = cfg_.password_cost] { return hash_password(password, cost); },
          [this, res, reply, name = f[0], who,
           store_status](std::optional<std::string> hash) mutable {
            if (!hash) {
              res.status = AdminStatus::kInternal;
              return reply(res);
            }
            res.status = store_status(store_.set_password_hash(name, *hash));
            if (res.status == AdminStatus::kOk) {
              ++stats_.passwords_changed;
              spdlog::info("password of account {} changed by admin {}", name, who);
            }
            reply(res);
          });
      return;
    }
    case AdminOp::kAccountList: {
      if (f.size() != 1 || f[0].size() > 64) return answer(AdminStatus::kBadRequest);
      auto page = store_.list(f[0], kListPage);
      res.fields.push_back(page.size() == kListPage ? page.back().name : "");
      for (auto& a : page) {
        res.fields.push_back(a.name);
        res.fields.push_back(std::to_string(a.node_limit));
        res.fields.push_back(std::to_string(a.created));
      }
      return answer(AdminStatus::kOk);
    }
    case AdminOp::kAccountNodes: {
      if (f.size() != 2 || !valid_account_name(f[0]) || (!f[1].empty() && f[1].size() != 44))
        return answer(AdminStatus::kBadRequest);
      auto page = store_.list_nodes(f[0], f[1], kListPage);
      if (!page) return answer(AdminStatus::kNotFound);
      res.fields.push_back(page->size() == kListPage ? page->back().node : "");
      for (auto& n : *page) {
        res.fields.push_back(n.node);
        res.fields.push_back(std::to_string(n.first_login));
        res.fields.push_back(std::to_string(n.last_login));
      }
      return answer(AdminStatus::kOk);
    }
    case AdminOp::kNodeRelease: {
      std::optional<std::string> node;
      if (f.size() == 2) node = canonical_node_identity(f[1]);
      if (f.size() != 2 || !valid_account_name(f[0]) || !node)
        return answer(AdminStatus::kBadRequest);
      auto st = store_status(store_.release_node(f[0], *node));
      if (st == AdminStatus::kOk) {
        ++stats_.nodes_released;
        spdlog::info("node {} of account {} released by admin {}", *node, f[0], who);
      }
      return answer(st);
    }
    case AdminOp::kNodeLogin:
      break;  // a DC op: handled above
  }
  return answer(AdminStatus::kBadRequest);
}

}  // namespace ntm::as
