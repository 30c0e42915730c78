// A DC that the test controls, for the trust-model tests: it speaks the node ⇄ DC protocol
// (Noise IK responder, sealed control messages, registration, direction requests answered with
// honest route directions) on 127.0.0.1, and lets the test send any route direction it likes
// to a registered node — what a malicious DC, or anyone holding a node's control-session keys,
// can do. Built from libntm's own proto/crypto code; one thread, poll() with a timeout.
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/control_message.h"

namespace ntm::test {

class RogueDc {
 public:
  struct NodeInfo {
    crypto::Key identity{};
    std::string name;
    uint32_t vip4 = 0;  ///< network order
    proto::Endpoint endpoint;
    bool reachable = false;
  };

  RogueDc() : key_{crypto::random_private_key(), {}}, responder_(key_.private_key) {
    crypto::init();
    key_.public_key = crypto::public_key(key_.private_key);
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RogueDc() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  /// Behave as a DC older than early data (docs/protocol.md §3.2): drop every message 1 longer
  /// than 148 bytes, and count them.
  void drop_early_data() { drop_long_init_ = true; }
  int long_inits_dropped() const { return long_inits_dropped_; }

  uint16_t port() const { return port_; }
  std::string public_key() const { return crypto::key_to_base64(key_.public_key); }

  /// The registered node `name`, once it registered.
  std::optional<NodeInfo> node(const std::string& name) {
    std::lock_guard l(mu_);
    for (auto& [index, s] : sessions_)
      if (s.info.name == name) return s.info;
    return std::nullopt;
  }

  /// Sends `m` (a request; its message ID is replaced) to node `name`; returns the message ID.
  uint32_t send_request(const std::string& name, proto::ControlMessage m) {
    std::lock_guard l(mu_);
    m.message_id = next_message_id_++;
    for (auto& [index, s] : sessions_)
      if (s.info.name == name) send_sealed(s, m.encode());
    return m.message_id;
  }

  /// A route direction as the real DC makes it (docs/protocol.md §4.4.5).
  static proto::ControlMessage route_direction(uint32_t direction_id, const crypto::Key& t,
                                               proto::Role role, const NodeInfo& peer,
                                               const crypto::Key& peer_static,
                                               const proto::Endpoint& peer_endpoint) {
    proto::ControlMessage rd(proto::MessageType::kRouteDirection, 0);
    rd.add_u32(proto::AttrType::kDirectionId, direction_id);
    rd.add(proto::AttrType::kTemporalKey, t);
    rd.add_u8(proto::AttrType::kRole, uint8_t(role));
    rd.add_string(proto::AttrType::kPeerFqdn, peer.name + ".rogue.test");
    rd.add(proto::AttrType::kPeerStaticKey, peer_static);
    rd.add(proto::AttrType::kPeerVip4,
           proto::ByteView(reinterpret_cast<const uint8_t*>(&peer.vip4), 4));
    rd.add_candidate({proto::CandidateKind::kPublic, peer_endpoint});
    return rd;
  }

  /// The node's answer (ack or error) to request `message_id`, waiting up to `wait`.
  std::optional<proto::ControlMessage> answer(uint32_t message_id, std::chrono::milliseconds wait) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, wait, [&] { return answers_.count(message_id) > 0; });
    auto it = answers_.find(message_id);
    if (it == answers_.end()) return std::nullopt;
    return it->second;
  }

  /// How many route directions the honest part sent (each direction request makes two).
  int directions() const { return directions_; }
  uint32_t last_direction_id() const { return last_direction_id_; }
  /// Makes the DC, on a direction request, first send the requester a route direction that
  /// names `key` for the peer's vIP under another name, then answer honestly.
  void decoy_first(const crypto::Key& key) {
    std::lock_guard l(mu_);
    decoy_ = key;
  }

 private:
  struct Session {
    std::unique_ptr<crypto::Session> session;
    NodeInfo info;
  };

  void run() {
    uint8_t buf[65536];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      auto ep = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), flen);
      if (n <= 0 || !ep) continue;
      std::lock_guard l(mu_);
      on_datagram(proto::ByteView(buf, size_t(n)), *ep);
    }
  }

  void on_datagram(proto::ByteView d, const proto::Endpoint& from) {
    if (d[0] == uint8_t(proto::PacketType::kHandshakeInit)) {
      if (drop_long_init_ && d.size() > proto::kHandshakeInitSize) {
        ++long_inits_dropped_;
        return;
      }
      uint32_t index = next_index_++;
      proto::Bytes response;
      auto r = responder_.consume_init(d, index, response);  // no mac1 check: not under test
      if (!r) return;
      Session s;
      s.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
      s.info.identity = r->remote_static;
      s.info.endpoint = from;
      sessions_[index] = std::move(s);
      ::sendto(fd_, response.data(), response.size(), 0, from.sa(), from.sa_len());
      return;
    }
    crypto::SealedHeader h;
    if (!crypto::parse_sealed_header(d, h) || !sessions_.count(h.receiver_index)) return;
    Session& s = sessions_[h.receiver_index];
    proto::Bytes plain(d.size() - proto::kSealedOverhead);
    if (s.session->open(h, d, plain.data()) != crypto::Session::OpenStatus::kOk) return;
    s.info.endpoint = from;
    proto::DecodeError err;
    auto m = proto::ControlMessage::decode(plain, err);
    if (!m) return;
    if (proto::is_response(m->type)) {
      answers_[m->message_id] = *m;
      cv_.notify_all();
      return;
    }
    switch (m->type) {
      case proto::MessageType::kRegistrationRequest: {
        s.info.name = m->get_string(proto::AttrType::kNodeName).value_or("?");
        s.info.vip4 = htonl(0x64400000u + uint32_t(++assigned_));  // 100.64.0.N
        auto real = m->get_endpoints(proto::AttrType::kRealAddress);
        s.info.reachable = std::find(real.begin(), real.end(), from) != real.end();
        proto::ControlMessage resp(proto::MessageType::kRegistrationResponse, m->message_id);
        resp.add_string(proto::AttrType::kFqdn, s.info.name + ".rogue.test");
        resp.add(proto::AttrType::kVip4,
                 proto::ByteView(reinterpret_cast<const uint8_t*>(&s.info.vip4), 4));
        resp.add_endpoint(proto::AttrType::kNatAddress, from);
        resp.add_u32(proto::AttrType::kLifetime, 600);
        return send_sealed(s, resp.encode());
      }
      case proto::MessageType::kKeepAlive: {
        proto::ControlMessage ack(proto::MessageType::kKeepAliveAck, m->message_id);
        return send_sealed(s, ack.encode());
      }
      case proto::MessageType::kDirectionRequest:
        return on_direction_request(s, *m);
      default:
        return;
    }
  }

  void on_direction_request(Session& mn, const proto::ControlMessage& m) {
    std::string fqdn = m.get_string(proto::AttrType::kFqdn).value_or("");
    Session* cn = nullptr;
    for (auto& [index, s] : sessions_)
      if (s.info.name + ".rogue.test" == fqdn) cn = &s;
    if (!cn) {
      return send_sealed(mn,
                         proto::make_error(m, proto::ErrorCode::kUnknownFqdn, "unknown").encode());
    }
    uint32_t id = crypto::random_u32() | 1;
    crypto::Key t;
    crypto::random_bytes(t.data(), t.size());
    if (decoy_) {
      NodeInfo decoy = cn->info;
      decoy.name = "decoy";
      auto rd = route_direction(crypto::random_u32() | 1, t, proto::Role::kResponder, decoy,
                                *decoy_, cn->info.endpoint);
      rd.message_id = next_message_id_++;
      send_sealed(mn, rd.encode());
    }
    proto::ControlMessage resp(proto::MessageType::kDirectionResponse, m.message_id);
    resp.add_string(proto::AttrType::kFqdn, fqdn);
    resp.add(proto::AttrType::kPeerVip4,
             proto::ByteView(reinterpret_cast<const uint8_t*>(&cn->info.vip4), 4));
    resp.add(proto::AttrType::kPeerStaticKey, cn->info.identity);
    send_sealed(mn, resp.encode());
    proto::Role mn_role = cn->info.reachable ? proto::Role::kInitiator : proto::Role::kResponder;
    proto::Role cn_role =
        mn_role == proto::Role::kInitiator ? proto::Role::kResponder : proto::Role::kInitiator;
    auto to_cn = route_direction(id, t, cn_role, mn.info, mn.info.identity, mn.info.endpoint);
    auto to_mn = route_direction(id, t, mn_role, cn->info, cn->info.identity, cn->info.endpoint);
    to_cn.message_id = next_message_id_++;
    to_mn.message_id = next_message_id_++;
    send_sealed(*cn, to_cn.encode());
    send_sealed(mn, to_mn.encode());
    directions_ += 2;
    last_direction_id_ = id;
  }

  void send_sealed(Session& s, const proto::Bytes& plain) {
    proto::Bytes out(plain.size() + proto::kSealedOverhead);
    s.session->seal(proto::PacketType::kControl, plain, out.data());
    ::sendto(fd_, out.data(), out.size(), 0, s.info.endpoint.sa(), s.info.endpoint.sa_len());
  }

  crypto::StaticKeyPair key_;
  crypto::HandshakeResponder responder_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> directions_{0};
  std::atomic<uint32_t> last_direction_id_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Session> sessions_;               // guarded by mu_
  std::map<uint32_t, proto::ControlMessage> answers_;  // guarded by mu_
  uint32_t next_index_ = 1, next_message_id_ = 1000;   // guarded by mu_
  int assigned_ = 0;                                   // guarded by mu_
  std::optional<crypto::Key> decoy_;                   // guarded by mu_
  std::atomic<bool> drop_long_init_{false};
  std::atomic<int> long_inits_dropped_{0};
  std::thread thread_;
};

}  // namespace ntm::test
