#include "as/admin_server.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>
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
      limiter_(cfg.admin_handshake_rate, cfg.admin_handshake_burst) {
  set_admin_keys(cfg.admin_keys);
}

void AdminServer::set_admin_keys(const std::vector<crypto::Key>& keys) {
  admin_keys_ = std::set<crypto::Key>(keys.begin(), keys.end());
  spdlog::info("{} admin key(s) allowed", admin_keys_.size());
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
      "passwords_changed={} send_errors={} sessions={} drops: malformed={} mac={} ratelimit={} "
      "handshake={} replay={} unknown_session={} auth={} session_limit={}",
      s.handshakes, s.requests, s.not_authorized, s.accounts_added, s.accounts_removed,
      s.passwords_changed, s.send_errors, sessions_.size(), s.drop_malformed, s.drop_mac,
      s.drop_ratelimit, s.drop_handshake, s.drop_replay, s.drop_unknown_session, s.drop_auth,
      s.drop_session_limit);
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
  s.admin = r->remote_static;
  s.created = std::chrono::steady_clock::now();
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  sessions_.emplace(index, std::move(s));
  ++stats_.handshakes;
  spdlog::info("admin session with {} from {}{}", crypto::key_to_base64(r->remote_static),
               from.to_string(), admin_keys_.count(r->remote_static) ? "" : " (key not listed)");
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
  ++stats_.requests;
  AdminMessage response = handle(s.admin, *request);
  proto::Bytes wire = response.encode();
  proto::Bytes out(wire.size() + proto::kSealedOverhead);
  if (s.session->seal(proto::PacketType::kControl, wire, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send_to(socket, out, from);
}

AdminMessage AdminServer::handle(const crypto::Key& admin, const AdminMessage& req) {
  AdminMessage res;
  res.op = uint8_t(req.op | 0x80);
  res.id = req.id;
  auto status = [&](AdminStatus st) {
    res.status = st;
    return res;
  };
  std::string who = crypto::key_to_base64(admin).substr(0, 8);
  if (!admin_keys_.count(admin)) {
    ++stats_.not_authorized;
    spdlog::warn("admin request {:#04x} refused: key {} is not an admin key", req.op, who);
    return status(AdminStatus::kNotAuthorized);
  }
  auto store_result = [&](AccountStore::Result r) {
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
        return status(AdminStatus::kBadRequest);
      // Argon2id on the event loop (tens of milliseconds): admin operations are rare.
      auto hash = hash_password(f[1], cfg_.password_cost);
      if (!hash) return status(AdminStatus::kInternal);
      Account a{f[0], *hash, *limit, 0};
      auto st = store_result(store_.add(a));
      if (st == AdminStatus::kOk) {
        ++stats_.accounts_added;
        spdlog::info("account {} added (node limit {}) by admin {}", f[0], *limit, who);
      }
      return status(st);
    }
    case AdminOp::kAccountDel: {
      if (f.size() != 1 || !valid_account_name(f[0])) return status(AdminStatus::kBadRequest);
      auto st = store_result(store_.remove(f[0]));
      if (st == AdminStatus::kOk) {
        ++stats_.accounts_removed;
        spdlog::info("account {} removed by admin {}", f[0], who);
      }
      return status(st);
    }
    case AdminOp::kAccountPasswd: {
      if (f.size() != 2 || !valid_account_name(f[0]) || !valid_password(f[1]))
        return status(AdminStatus::kBadRequest);
      if (!store_.find(f[0])) return status(AdminStatus::kNotFound);
      auto hash = hash_password(f[1], cfg_.password_cost);
      if (!hash) return status(AdminStatus::kInternal);
      auto st = store_result(store_.set_password_hash(f[0], *hash));
      if (st == AdminStatus::kOk) {
        ++stats_.passwords_changed;
        spdlog::info("password of account {} changed by admin {}", f[0], who);
      }
      return status(st);
    }
    case AdminOp::kAccountList: {
      if (f.size() != 1 || f[0].size() > 64) return status(AdminStatus::kBadRequest);
      auto page = store_.list(f[0], kListPage);
      res.fields.push_back(page.size() == kListPage ? page.back().name : "");
      for (auto& a : page) {
        res.fields.push_back(a.name);
        res.fields.push_back(std::to_string(a.node_limit));
        res.fields.push_back(std::to_string(a.created));
      }
      return status(AdminStatus::kOk);
    }
  }
  return status(AdminStatus::kBadRequest);
}

}  // namespace ntm::as
