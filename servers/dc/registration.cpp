// Registration and keep-alive at the DC (paper 002 Fig. 5 steps 3 and 6; Fig. 3 step 20;
// docs/protocol.md §4.4.1 and §4.4.9).
#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "dc/dc_server.h"

namespace ntm::dc {
namespace {

/// How often a keep-alive refreshes the identity's last-seen time in the store: often enough
/// for reclaiming (days), rarely enough to cost nothing (one row per node per hour).
constexpr int64_t kLastSeenRefreshS = 3600;

std::string short_key(const crypto::Key& k) {
  return crypto::key_to_base64(k).substr(0, 8);
}

}  // namespace

void DcServer::persist_identity(const ControlSession& s) {
  int64_t now = int64_t(time(nullptr));
  registry_.seen(s.identity, now);
  if (store_) store_->touch(s.identity, s.handshake_timestamp, now);
}

crypto::Key DcServer::login_digest(const std::string& account, const std::string& password) const {
  crypto::Key out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, login_cache_key_.data(), login_cache_key_.size(), out.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(account.data()), account.size());
  const uint8_t separator = 0;
  crypto_generichash_update(&st, &separator, 1);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(password.data()),
                            password.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

void DcServer::on_registration(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  if (!m.get_string(proto::AttrType::kNodeName))
    return respond(s, index, m, proto::make_error(m, proto::ErrorCode::kMalformed, "no node name"));
  if (!as_) return complete_registration(s, index, m);  // open registration
  // The node logs in through its DC (paper 002 §2.1): the account and password ride in this
  // request, sealed under the node's session; the DC asks the AS (§14 op 0x10) unless the
  // AS accepted the same identity, account and password within login-cache.
  auto account = m.get_string(proto::AttrType::kAccount);
  auto password = m.get_string(proto::AttrType::kPassword);
  auto now = Clock::now();
  auto cached = login_cache_.find(s.identity);
  bool fresh = cached != login_cache_.end() && now < cached->second.expires;
  if (!password) {
    // Without a password (early data in message 1, §3.2): an identity the AS accepted within
    // login-cache registers on the strength of its static key; any other is asked for it.
    if (fresh && (!account || *account == cached->second.account)) {
      ++stats_.logins_cached;
      return complete_registration(s, index, m);
    }
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kAuthRequired,
                                     "this DC registers only nodes with an account: give an "
                                     "account and its password"));
  }
  if (!account)
    return respond(
        s, index, m,
        proto::make_error(m, proto::ErrorCode::kAuthRequired, "a password without an account"));
  if (account->empty() || account->size() > 64 || password->size() < 8 || password->size() > 256) {
    ++stats_.logins_refused;
    return respond(
        s, index, m,
        proto::make_error(m, proto::ErrorCode::kAuthFailed, "unknown account or wrong password"));
  }
  crypto::Key digest = login_digest(*account, *password);
  if (fresh && sodium_memcmp(cached->second.digest.data(), digest.data(), digest.size()) == 0) {
    ++stats_.logins_cached;
    return complete_registration(s, index, m);
  }
  // A retransmission of a request the AS is being asked about waits for the same answer.
  if (!logins_waiting_.insert({index, m.message_id}).second) return;
  ++stats_.logins_asked;
  as_->login(*account, *password, s.identity, s.endpoint,
             [this, index, m, digest, account = *account](AsClient::Result r) {
               on_login_result(index, m, r, account, digest);
             });
}

void DcServer::on_login_result(uint32_t index, const proto::ControlMessage& m, AsClient::Result r,
                               const std::string& account, const crypto::Key& digest) {
  logins_waiting_.erase({index, m.message_id});
  auto it = sessions_.find(index);
  if (it == sessions_.end()) return;  // the node's session ended while the AS was asked
  ControlSession& s = it->second;
  auto refuse = [&](proto::ErrorCode code, const char* text) {
    ++stats_.logins_refused;
    login_cache_.erase(s.identity);
    if (event_log_.allow())
      spdlog::info("registration of node {} refused: {}",
                   crypto::key_to_base64(s.identity).substr(0, 8), text);
    respond(s, index, m, proto::make_error(m, code, text));
  };
  switch (r) {
    case AsClient::Result::kOk:
      login_cache_[s.identity] = {account, digest,
                                  Clock::now() + std::chrono::seconds(cfg_.login_cache_s)};
      return complete_registration(s, index, m);
    case AsClient::Result::kBadCredentials:
      return refuse(proto::ErrorCode::kAuthFailed, "unknown account or wrong password");
    case AsClient::Result::kNodeLimit:
      return refuse(proto::ErrorCode::kNodeLimit, "the account has reached its node limit");
    case AsClient::Result::kRateLimited:
      return refuse(proto::ErrorCode::kRateLimited,
                    "too many failed logins for this account or address; try again later");
    case AsClient::Result::kUnavailable:
      return refuse(proto::ErrorCode::kAuthUnavailable,
                    "the Account Server did not answer; try again later");
    case AsClient::Result::kAsFailed:
      return refuse(proto::ErrorCode::kAuthUnavailable,
                    "the Account Server could not read its accounts; try again later");
    case AsClient::Result::kRefused:
      return refuse(proto::ErrorCode::kAuthUnavailable,
                    "the Account Server refused this DC's request (see the DC's log)");
  }
}

void DcServer::complete_registration(ControlSession& s, uint32_t index,
                                     const proto::ControlMessage& m) {
  auto name = m.get_string(proto::AttrType::kNodeName);
  NodeRecord* r = nullptr;
  bool notification = ns_ && m.find(proto::AttrType::kNotification);  // §17
  auto expires = Clock::now() + std::chrono::seconds(lifetime_for(notification));
  switch (registry_.register_node(s.identity, *name, expires, &r)) {
    case Registry::Result::kOk:
      break;
    case Registry::Result::kInvalidName:
      if (event_log_.allow())
        spdlog::info("registration refused: invalid name '{}'", server::printable(*name));
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kInvalidName,
                                       "node name must be one DNS label of [a-z0-9-]"));
    case Registry::Result::kNameTaken:
      if (event_log_.allow())
        spdlog::info("registration refused: {}.{} belongs to another node", *name, cfg_.domain);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kNameTaken,
                                       "name registered by another node identity"));
    case Registry::Result::kPoolExhausted:
      if (event_log_.allow())
        spdlog::warn("registration refused for {}: vIP pool exhausted", *name);
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kPoolExhausted, "vIP pool exhausted"));
  }
  // Only a validated address becomes the NAT address other nodes are sent to; a registration
  // from an address being validated takes it over once the path response arrives.
  r->real_addresses = m.get_endpoints(proto::AttrType::kRealAddress);
  if (r->real_addresses.size() > 16) r->real_addresses.resize(16);
  r->nat_address = s.endpoint;
  r->session_index = index;
  r->socket = s.socket;
  r->notification = notification;
  ++stats_.registrations;
  persist_identity(s);
  r->persisted_at = int64_t(time(nullptr));

  proto::Endpoint seen = s.probe ? s.probe->endpoint : s.endpoint;
  proto::ControlMessage resp(proto::MessageType::kRegistrationResponse, m.message_id);
  resp.add_string(proto::AttrType::kFqdn, r->fqdn);
  if (r->vip4) resp.add(proto::AttrType::kVip4, proto::ByteView(r->vip4->data(), 4));
  if (r->vip6) resp.add(proto::AttrType::kVip6, proto::ByteView(r->vip6->data(), 16));
  resp.add_endpoint(proto::AttrType::kNatAddress, seen);
  resp.add_u32(proto::AttrType::kLifetime, lifetime_for(notification));
  if (notification) {
    resp.add_endpoint(proto::AttrType::kNsAddress, *cfg_.ns);
    resp.add(proto::AttrType::kNsKey, proto::ByteView(cfg_.ns_key->data(), cfg_.ns_key->size()));
  }
  if (event_log_.allow()) {
    char v4[INET_ADDRSTRLEN] = "-", v6[INET6_ADDRSTRLEN] = "-";
    if (r->vip4) inet_ntop(AF_INET, r->vip4->data(), v4, sizeof v4);
    if (r->vip6) inet_ntop(AF_INET6, r->vip6->data(), v6, sizeof v6);
    spdlog::info("registration {} vip4={} vip6={} node={} real={} nat={}{}{}", r->fqdn, v4, v6,
                 short_key(r->identity),
                 r->real_addresses.empty() ? "-" : r->real_addresses.front().to_string(),
                 seen.to_string(), r->reachable() ? "" : " (behind NAT)",
                 notification ? " (notification server)" : "");
  }
  respond(s, index, m, std::move(resp));
}

void DcServer::on_keepalive(ControlSession& s, uint32_t index, const proto::ControlMessage& m) {
  NodeRecord* r = registry_.find(s.identity);
  if (!r || r->session_index != index)
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kNotRegistered, "not registered"));
  r->expires = Clock::now() + std::chrono::seconds(lifetime_for(r->notification));
  if (!(r->nat_address == s.endpoint)) {
    spdlog::info("{} NAT address changed {} -> {}", r->fqdn, r->nat_address.to_string(),
                 s.endpoint.to_string());
    r->nat_address = s.endpoint;
  }
  r->socket = s.socket;
  int64_t now = int64_t(time(nullptr));
  registry_.seen(s.identity, now);
  if (store_ && now - r->persisted_at >= kLastSeenRefreshS) {
    store_->touch(s.identity, s.handshake_timestamp, now);
    r->persisted_at = now;
  }
  proto::ControlMessage ack(proto::MessageType::kKeepAliveAck, m.message_id);
  ack.add_endpoint(proto::AttrType::kNatAddress, s.probe ? s.probe->endpoint : s.endpoint);
  respond(s, index, m, std::move(ack));
  resend_outstanding(s.identity);  // the node is awake now (perhaps woken by its NS)
}

}  // namespace ntm::dc
