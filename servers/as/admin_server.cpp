#include "as/admin_server.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>
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
      responder_(key.private_key),
      cookies_(key.public_key),
      store_(store),
      login_(store, LoginLimits{}, cfg.password_cost),
      limiter_(cfg.admin_handshake_rate, cfg.admin_handshake_burst),
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
  for (auto& text : cfg_.admin_listen) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep) {
      spdlog::error("admin-listen '{}' is not ip:port", text);
      return false;
    }
    Listener l;
    asio::ip::udp::endpoint aep;
    std::memcpy(aep.data(), ep->sa(), ep->sa_len());
    l.socket = std::make_unique<asio::ip::udp::socket>(io_);
    std::error_code ec;
    l.socket->open(aep.protocol(), ec);
    if (!ec && ep->is_v6()) l.socket->set_option(asio::ip::v6_only(true), ec);
    if (!ec) l.socket->bind(aep, ec);
    if (!ec) l.socket->non_blocking(true, ec);
    if (ec) {
      spdlog::error("cannot listen on {}: {}", text, ec.message());
      return false;
    }
    listeners_.push_back(std::move(l));
  }
  for (auto& e : local_endpoints()) spdlog::info("admin channel on udp {}", e.to_string());
  for (size_t i = 0; i < listeners_.size(); ++i) receive(i);
  return true;
}

std::vector<proto::Endpoint> AdminServer::local_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : listeners_) {
    std::error_code ec;
    auto local = l.socket->local_endpoint(ec);
    if (ec) continue;
    if (auto e = proto::Endpoint::from_sockaddr(local.data(), socklen_t(local.size())))
      out.push_back(*e);
  }
  return out;
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
      s.answers_dropped_stale, s.hash_queue_full, s.send_errors, sessions_.size(), s.drop_malformed,
      s.drop_mac, s.drop_ratelimit, s.drop_handshake, s.drop_replay, s.drop_unknown_session,
      s.drop_auth, s.drop_session_limit);
}

void AdminServer::receive(size_t i) {
  Listener& l = listeners_[i];
  l.socket->async_receive_from(
      asio::buffer(l.buf), l.from, [this, i](std::error_code ec, size_t n) {
        if (ec == asio::error::operation_aborted) return;
        Listener& l = listeners_[i];
        if (!ec) {
          auto from = proto::Endpoint::from_sockaddr(l.from.data(), socklen_t(l.from.size()));
          // The parsers return errors rather than throw; this is the last line of defence.
          try {
            if (!from || from->port() == 0) {
              ++stats_.drop_malformed;
            } else if (n >= l.buf.size()) {
              drop(stats_.drop_malformed, *from, "datagram longer than any admin packet");
            } else {
              on_datagram(i, proto::ByteView(l.buf.data(), n), *from);
            }
          } catch (const std::exception& e) {
            ++stats_.drop_malformed;
            spdlog::error("admin datagram handler failed: {}", e.what());
          }
        }
        receive(i);
      });
}

void AdminServer::drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (drop_log_.allow()) spdlog::info("drop admin datagram from {}: {}", from.to_string(), reason);
}

void AdminServer::send_to(size_t socket, proto::ByteView d, const proto::Endpoint& to) {
  asio::ip::udp::endpoint aep;
  std::memcpy(aep.data(), to.sa(), to.sa_len());
  std::error_code ec;
  listeners_[socket].socket->send_to(asio::buffer(d.data(), d.size()), aep, 0, ec);
  if (ec) ++stats_.send_errors;
}

void AdminServer::on_datagram(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.empty()) return drop(stats_.drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {
    case proto::PacketType::kHandshakeInit:
      return on_handshake(socket, d, from);
    case proto::PacketType::kControl:
      return on_sealed(socket, d, from);
    default:
      return drop(stats_.drop_malformed, from, "unknown packet type");
  }
}

void AdminServer::prune() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = now - it->second.created > kSessionLifetime ? sessions_.erase(it) : std::next(it);
}

void AdminServer::on_handshake(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != proto::kHandshakeInitSize)
    return drop(stats_.drop_malformed, from, "handshake initiation of wrong size");
  if (!cookies_.check_mac1(d)) return drop(stats_.drop_mac, from, "handshake with a bad mac1");
  if (!limiter_.allow(from))
    return drop(stats_.drop_ratelimit, from, "handshake rate of this source exceeded");
  prune();
  if (sessions_.size() >= cfg_.max_admin_sessions)
    return drop(stats_.drop_session_limit, from, "admin session limit reached");
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || sessions_.count(index));
  proto::Bytes response;
  auto r = responder_.consume_init(d, index, response);
  if (!r) return drop(stats_.drop_handshake, from, "handshake initiation not authentic");
  auto last = last_init_.find(r->remote_static);
  if (last != last_init_.end() && !(last->second < r->timestamp))
    return drop(stats_.drop_replay, from, "replayed handshake initiation");
  if (last_init_.size() >= 4096 && last == last_init_.end()) last_init_.clear();  // bounded
  last_init_[r->remote_static] = r->timestamp;
  AdminSession s;
  s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  s.peer = r->remote_static;
  s.serial = next_serial_++;
  s.created = std::chrono::steady_clock::now();
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  sessions_.emplace(index, std::move(s));
  ++stats_.handshakes;
  const crypto::Key& peer = r->remote_static;
  spdlog::info("admin session with {} from {}{}", crypto::key_to_base64(peer), from.to_string(),
               admin_keys_.count(peer) ? (dc_keys_.count(peer) ? " (admin and DC)" : "")
               : dc_keys_.count(peer)  ? " (DC)"
                                       : " (key not listed)");
  send_to(socket, response, from);
}

void AdminServer::on_sealed(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (d.size() > proto::kSealedOverhead + AdminMessage::kMaxSize ||
      !crypto::parse_sealed_header(d, h))
    return drop(stats_.drop_malformed, from, "sealed packet of wrong size");
  auto it = sessions_.find(h.receiver_index);
  if (it == sessions_.end())
    return drop(stats_.drop_unknown_session, from, "sealed packet for unknown session");
  AdminSession& s = it->second;
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  switch (s.session->open(h, d, plain.data())) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return drop(stats_.drop_auth, from, "sealed packet not authentic");
    default:
      return drop(stats_.drop_replay, from, "replayed sealed packet");
  }
  auto request = AdminMessage::decode(plain);
  if (!request || request->is_response())
    return drop(stats_.drop_malformed, from, "not an admin request");
  // 4. A repeated ID (the DC retransmits a login it got no answer to): never run it again.
  uint32_t id = request->id;
  if (auto a = s.answers.find(id); a != s.answers.end()) {
    ++stats_.answers_resent;
    return send_answer(s, socket, a->second, from);
  }
  if (s.in_progress.count(id)) {
    ++stats_.repeats_in_progress;
    return;
  }
  ++stats_.requests;
  s.in_progress.insert(id);
  uint32_t index = it->first;
  uint64_t serial = s.serial;
  handle(s.peer, *request, [this, index, serial, id, socket, from](const AdminMessage& response) {
    // 6. The session may have expired (or its index been reused) while a password was hashed.
    auto it = sessions_.find(index);
    if (it == sessions_.end() || it->second.serial != serial) {
      ++stats_.answers_dropped_stale;
      return;
    }
    AdminSession& s = it->second;
    s.in_progress.erase(id);
    proto::Bytes wire = response.encode();
    if (s.answer_order.size() >= kAnswersKept) {
      s.answers.erase(s.answer_order.front());
      s.answer_order.pop_front();
    }
    s.answer_order.push_back(id);
    auto& kept = s.answers[id] = std::move(wire);
    send_answer(s, socket, kept, from);
  });
}

void AdminServer::send_answer(AdminSession& s, size_t socket, proto::ByteView plain,
                              const proto::Endpoint& to) {
  proto::Bytes out(plain.size() + proto::kSealedOverhead);
  if (s.session->seal(proto::PacketType::kControl, plain, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send_to(socket, out, to);
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
