#include "dc/as_client.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

namespace ntm::dc {
namespace {

/// The address of `e` as text, without its port ("192.0.2.1", "2001:db8::1").
std::string address_text(const proto::Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (e.is_v4())
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(e.sa())->sin_addr, buf, sizeof buf);
  else if (e.is_v6())
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(e.sa())->sin6_addr, buf, sizeof buf);
  return buf;
}

AsClient::Result result_of(as::AdminStatus s) {
  switch (s) {
    case as::AdminStatus::kOk:
      return AsClient::Result::kOk;
    case as::AdminStatus::kBadCredentials:
      return AsClient::Result::kBadCredentials;
    case as::AdminStatus::kRateLimited:
      return AsClient::Result::kRateLimited;
    case as::AdminStatus::kNodeLimit:
      return AsClient::Result::kNodeLimit;
    case as::AdminStatus::kInternal:
      return AsClient::Result::kAsFailed;
    default:
      return AsClient::Result::kRefused;
  }
}

}  // namespace

AsClient::AsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key,
                   const crypto::Key& as_public, const proto::Endpoint& as,
                   std::chrono::milliseconds timeout)
    : io_(io),
      channel_(io, dc_key, as_public, as, {kRetransmit, timeout, kSessionRenew}, "AS", stats_) {}

void AsClient::login(const std::string& account, const std::string& password,
                     const crypto::Key& node, const proto::Endpoint& source, Done done) {
  ++stats_.logins;
  if (channel_.waiting() >= kMaxWaiting) {
    ++stats_.logins_failed;
    asio::post(io_, [done = std::move(done)] { done(Result::kUnavailable); });
    return;
  }
  as::AdminMessage m;
  m.op = uint8_t(as::AdminOp::kNodeLogin);
  m.fields = {account, password, crypto::key_to_base64(node), address_text(source)};
  server::ChannelClient::Answer answer = [this, done](std::optional<as::AdminMessage> a) {
    if (a && a->status == as::AdminStatus::kNotAuthorized)
      spdlog::error("the AS refuses this DC: its public key is not a dc-key of the AS");
    finish(a ? result_of(a->status) : Result::kUnavailable, done);
  };
  bool sent = channel_.request(m, std::move(answer));
  sodium_memzero(m.fields[1].data(), m.fields[1].size());
  if (!sent) {  // cannot happen with validated account and password sizes
    ++stats_.logins_failed;
    asio::post(io_, [done = std::move(done)] { done(Result::kRefused); });
  }
}

void AsClient::finish(Result r, const Done& done) {
  switch (r) {
    case Result::kOk:
      ++stats_.logins_ok;
      break;
    case Result::kUnavailable:
    case Result::kRefused:
    case Result::kAsFailed:
      ++stats_.logins_failed;
      break;
    default:
      ++stats_.logins_refused;
  }
  done(r);
}

}  // namespace ntm::dc
