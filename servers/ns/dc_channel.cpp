// The NS's DC channel (docs/protocol.md §17.3): the AS channel of §14 with the NS in the AS's
// place, on the same code (server::ChannelServer, common/channel_server.h). A DC (listed as
// dc-key) makes a Noise IK session to the NS's static key (message 1 with mac1, mac2 zero, no
// cookies), then sends sealed admin messages (as/admin_message.h): op 0x20 notify, one field,
// the node identity.
//
// 1.-4. the channel: the datagram's type byte and exact size before any crypto; message 1
//    (mac1, the source's rate limit, the session limit, Noise IK, the key's timestamp newer
//    than its last) → a session (kDcSessionLifetime), message 2; a sealed packet by receiver
//    index, AEAD and anti-replay, request decode; a request id the session already asked gets
//    its stored answer again (the notification is not sent twice)
// 5. handle_dc_request(): authorization, op, field, then the notification
#include <spdlog/spdlog.h>

#include "ns/ns_server.h"

namespace ntm::ns {

as::AdminMessage NsServer::handle_dc_request(const crypto::Key& peer, const as::AdminMessage& req) {
  as::AdminMessage res;
  res.op = uint8_t(req.op | 0x80);
  res.id = req.id;
  if (!dc_keys_.count(peer)) {
    ++stats_.dc_not_authorized;
    if (log_.allow())
      spdlog::warn("DC request {:#04x} refused: key {} is not a dc-key", req.op,
                   crypto::key_to_base64(peer).substr(0, 8));
    res.status = as::AdminStatus::kNotAuthorized;
    return res;
  }
  std::optional<std::string> node;
  if (req.op == proto::ns::kDcOpNotify && req.fields.size() == 1)
    node = as::canonical_node_identity(req.fields[0]);
  if (!node) {
    res.status = as::AdminStatus::kBadRequest;
    return res;
  }
  ++stats_.notify_requests;
  auto key = crypto::key_from_base64(*node);
  auto it = key ? by_key_.find(*key) : by_key_.end();
  if (it == by_key_.end()) {
    ++stats_.notify_no_connection;
    if (log_.allow()) spdlog::info("notify {}: no connection", node->substr(0, 8));
    res.status = as::AdminStatus::kNotFound;
    return res;
  }
  ++stats_.notifications;
  if (log_.allow()) spdlog::info("notify {}: sent", node->substr(0, 8));
  send_message(*it->second, proto::ns::Message::kNotify);
  res.status = as::AdminStatus::kOk;
  return res;
}

}  // namespace ntm::ns
