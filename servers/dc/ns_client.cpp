#include "dc/ns_client.h"

#include <spdlog/spdlog.h>

#include "proto/ns_wire.h"

namespace ntm::dc {

NsClient::NsClient(asio::io_context& io, const crypto::StaticKeyPair& dc_key,
                   const crypto::Key& ns_public, const proto::Endpoint& ns,
                   std::chrono::milliseconds timeout)
    : io_(io),
      channel_(io, dc_key, ns_public, ns, {kRetransmit, timeout, kSessionRenew, kStaleAfter}, "NS",
               stats_) {}

void NsClient::notify(const crypto::Key& node, Done done) {
  ++stats_.notify_requests;
  as::AdminMessage m;
  m.op = proto::ns::kDcOpNotify;
  m.fields = {crypto::key_to_base64(node)};
  server::ChannelClient::Answer answer = [this, done](std::optional<as::AdminMessage> a) {
    if (!a) return finish(Result::kUnavailable, done);
    switch (a->status) {
      case as::AdminStatus::kOk:
        return finish(Result::kSent, done);
      case as::AdminStatus::kNotFound:
        return finish(Result::kNoConnection, done);
      case as::AdminStatus::kNotAuthorized:
        spdlog::error("the NS refuses this DC: its public key is not a dc-key of the NS");
        [[fallthrough]];
      default:
        return finish(Result::kRefused, done);
    }
  };
  // Too many waiting, or (it cannot be, a key is 44 characters) not encodable: failed now.
  if (channel_.waiting() >= kMaxWaiting || !channel_.request(m, std::move(answer))) {
    ++stats_.failed;
    if (done) asio::post(io_, [done = std::move(done)] { done(Result::kUnavailable); });
  }
}

void NsClient::finish(Result r, const Done& done) {
  ++(r == Result::kSent           ? stats_.sent
     : r == Result::kNoConnection ? stats_.no_connection
                                  : stats_.failed);
  if (done) done(r);
}

}  // namespace ntm::dc
