// The node's control channel to its DC: the Noise IK handshake against the pinned DC key,
// then AEAD-sealed control messages with retransmission (requests) and duplicate detection
// (requests from the DC, i.e. route directions). Runs on the negotiation thread only.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "packet/udp_transport.h"
#include "proto/control_message.h"
#include "proto/response_cache.h"

namespace ntm::negotiation {

class DcLink {
 public:
  using ResponseHandler = std::function<void(std::optional<proto::ControlMessage>)>;
  using RequestHandler = std::function<void(const proto::ControlMessage&)>;

  /// `dcs`: the DC's control endpoints (at least one), in order of preference.
  DcLink(asio::io_context& io, packet::UdpTransport& udp, std::vector<proto::Endpoint> dcs,
         const crypto::Key& node_private, const crypto::Key& dc_public);

  /// Runs a fresh handshake; `done(true)` once the session is up, `done(false)` after
  /// `max_tries` unanswered handshake initiations. Replaces any running handshake.
  /// Each try goes to one of the DC's endpoints the host has a route to now (in order of
  /// preference, the next one at each try: a node on an IPv6-only network reaches the DC at its
  /// IPv6 address, a dual-stack one tries both); the session stays with the endpoint that
  /// answered.
  /// With `early` (a request, at most crypto::kEarlyDataMax bytes encoded), the request rides
  /// in every message 1 as early data (docs/protocol.md §3.2) and `on_early_response` gets its
  /// answer as request() would — the DC answers right behind message 2; once the session is
  /// up the request is retransmitted under it like any other. On done(false) the handler is
  /// dropped uncalled.
  void handshake(std::function<void(bool)> done, uint32_t max_tries = 8,
                 std::optional<proto::ControlMessage> early = std::nullopt,
                 ResponseHandler on_early_response = nullptr);
  bool established() const { return session_ != nullptr; }

  /// Sends a request; `on_response` gets the response (or kError message), or nullopt after
  /// the retransmission policy gave up. Requires an established session.
  void request(proto::ControlMessage msg, ResponseHandler on_response,
               proto::RetransmitPolicy policy = {});
  /// Answers a request from the DC and remembers the answer for duplicates.
  void respond(const proto::ControlMessage& request, proto::ControlMessage response);
  /// Where requests from the DC (route directions) go.
  void set_request_handler(RequestHandler h) { on_request_ = std::move(h); }

  /// The DC endpoint in use: the session's, or the latest handshake try's.
  const proto::Endpoint& dc() const { return dc_; }
  /// Whether `a` is one of the DC's endpoints.
  bool is_dc(const proto::Endpoint& a) const;

  /// Handles a kHandshakeResp, kCookieReply or kControl datagram from `from`. Returns false to
  /// count a drop.
  bool on_datagram(proto::ByteView d, const proto::Endpoint& from);
  /// Fails every outstanding request (on stop).
  void shutdown();

 private:
  struct Pending {
    proto::Bytes plaintext;
    ResponseHandler handler;
    proto::RetransmitPolicy policy;
    uint32_t tries = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };
  void send_sealed(const proto::Bytes& plaintext);
  void transmit(uint32_t id);
  /// Starts the retransmission timer of pending request `id` after its p.tries-th send.
  void arm(uint32_t id);
  void send_init();

  asio::io_context& io_;
  packet::UdpTransport& udp_;
  /// The endpoint for the next handshake try: the next of dcs_ after the last try's that the
  /// host has a route to (the first one when none has).
  proto::Endpoint pick_endpoint();

  std::vector<proto::Endpoint> dcs_;
  size_t next_dc_ = 0;
  proto::Endpoint dc_;
  crypto::HandshakeInitiator initiator_;
  crypto::CookieGenerator cookies_;
  uint32_t local_index_ = 0;
  bool resent_with_cookie_ = false;  ///< this try was already re-sent after a cookie reply
  std::unique_ptr<crypto::Session> session_;
  std::function<void(bool)> handshake_done_;
  /// Handshake tries that carry the early request; later ones go without (an older DC).
  static constexpr uint32_t kEarlyTries = 3;
  proto::Bytes early_;            ///< the encoded early request (empty: none)
  bool early_in_flight_ = false;  ///< the latest message 1 carried it
  uint32_t early_id_ = 0;
  ResponseHandler early_handler_;
  uint32_t handshake_tries_ = 0, handshake_max_ = 0;
  asio::steady_timer handshake_timer_;
  uint32_t next_message_id_;
  std::map<uint32_t, Pending> pending_;
  proto::ResponseCache responses_{256};
  RequestHandler on_request_;
};

}  // namespace ntm::negotiation
