#include "ns/ns_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <asio/ip/v6_only.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <cstring>

namespace ntm::ns {

/// One node's TCP connection. Idle, it holds the socket, its session (keys and replay window)
/// and the 2-byte length buffer; frame payloads and outgoing bytes are allocated only while a
/// frame is in flight.
struct NsServer::Conn : std::enable_shared_from_this<NsServer::Conn> {
  enum class State : uint8_t { kHandshake, kOpen, kConfirmed, kClosed };
  explicit Conn(asio::ip::tcp::socket s) : socket(std::move(s)) {}
  asio::ip::tcp::socket socket;
  std::unique_ptr<crypto::Session> session;
  crypto::Key peer{};
  crypto::Timestamp timestamp{};  ///< of the message 1 that made the session (replay rule)
  uint32_t local_index = 0;
  State state = State::kHandshake;
  bool writing = false;
  uint8_t header[proto::ns::kFrameHeaderSize] = {};
  Clock::time_point last_frame;  ///< or when it was accepted
  proto::Bytes out_pending, out_writing;
};

NsServer::NsServer(asio::io_context& io, const NsConfig& cfg, const crypto::StaticKeyPair& key)
    : io_(io),
      cfg_(cfg),
      responder_(key.private_key),
      cookies_(key.public_key),
      limiter_(cfg.handshake_rate, cfg.handshake_burst),
      sweep_timer_(io),
      dc_channel_(
          io, key,
          {"DC", "dc-listen", kDcSessionLifetime, kAnswersKept, cfg.max_dc_sessions,
           cfg.dc_handshake_rate, cfg.dc_handshake_burst, 20},
          dc_stats_,
          [this](const crypto::Key& peer, const as::AdminMessage& request,
                 server::ChannelServer::Reply reply) { reply(handle_dc_request(peer, request)); },
          [this](const crypto::Key& peer) -> std::string {
            return dc_keys_.count(peer) ? "" : " (key not listed)";
          }) {
  set_dc_keys(cfg.dc_keys);
}

NsServer::~NsServer() {
  // Handlers still queued on the io_context hold their connection, not the server: marked
  // closed, they return without touching it.
  for (auto& [p, c] : conns_) {
    c->state = Conn::State::kClosed;
    std::error_code ec;
    c->socket.close(ec);
  }
}

void NsServer::set_dc_keys(const std::vector<crypto::Key>& keys) {
  dc_keys_ = std::set<crypto::Key>(keys.begin(), keys.end());
  spdlog::info("{} dc key(s) allowed", dc_keys_.size());
}

bool NsServer::open() {
  for (auto& text : cfg_.node_listen) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep) {
      spdlog::error("node-listen '{}' is not ip:port", text);
      return false;
    }
    asio::ip::tcp::endpoint tep;
    std::memcpy(tep.data(), ep->sa(), ep->sa_len());
    NodeListener l;
    l.acceptor = std::make_unique<asio::ip::tcp::acceptor>(io_);
    l.retry = std::make_unique<asio::steady_timer>(io_);
    std::error_code ec;
    l.acceptor->open(tep.protocol(), ec);
    if (!ec) l.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && ep->is_v6()) l.acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec && cfg_.reuse_port) {
      int one = 1;
      if (setsockopt(l.acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = std::error_code(errno, std::system_category());
    }
    if (!ec) l.acceptor->bind(tep, ec);
    if (!ec) l.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      spdlog::error("cannot listen on tcp {}: {}", text, ec.message());
      return false;
    }
    node_listeners_.push_back(std::move(l));
  }
  if (!dc_channel_.open(cfg_.dc_listen)) return false;
  for (auto& e : node_endpoints()) spdlog::info("nodes on tcp {}", e.to_string());
  for (auto& e : dc_endpoints()) spdlog::info("DC channel on udp {}", e.to_string());
  for (size_t i = 0; i < node_listeners_.size(); ++i) accept(i);
  stats_countdown_ = cfg_.stats_interval_s;
  sweep();
  return true;
}

std::vector<proto::Endpoint> NsServer::node_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : node_listeners_) {
    std::error_code ec;
    auto local = l.acceptor->local_endpoint(ec);
    if (ec) continue;
    if (auto e = proto::Endpoint::from_sockaddr(local.data(), socklen_t(local.size())))
      out.push_back(*e);
  }
  return out;
}

std::vector<proto::Endpoint> NsServer::dc_endpoints() const {
  return dc_channel_.local_endpoints();
}

NsStats NsServer::stats() const {
  NsStats s = stats_;
  const server::ChannelServerStats& d = dc_stats_;
  s.dc_handshakes = d.handshakes;
  s.dc_requests = d.requests;
  s.dc_answers_resent = d.answers_resent;
  s.send_errors += d.send_errors;
  s.dc_drop_malformed = d.drop_malformed;
  s.dc_drop_mac = d.drop_mac;
  s.dc_drop_ratelimit = d.drop_ratelimit;
  s.dc_drop_handshake = d.drop_handshake;
  s.dc_drop_replay = d.drop_replay;
  s.dc_drop_unknown_session = d.drop_unknown_session;
  s.dc_drop_auth = d.drop_auth;
  s.dc_drop_session_limit = d.drop_session_limit;
  return s;
}

std::string NsServer::stats_line() const {
  NsStats s = stats();
  return fmt::format(
      "connections={} confirmed_now={} accepted={} refused_limit={} refused_rate={} "
      "handshakes={} confirmed={} replaced={} pings={} notifications={} closed_by_node={} "
      "closed_idle={} closed_timeout={} close_frame={} close_mac={} close_handshake={} "
      "close_replay={} close_auth={} close_message={} accept_errors={} send_errors={} "
      "dc_handshakes={} dc_requests={} dc_not_authorized={} dc_answers_resent={} "
      "notify_requests={} notify_no_connection={} dc_sessions={} dc_drops: malformed={} mac={} "
      "ratelimit={} handshake={} replay={} unknown_session={} auth={} session_limit={}",
      conns_.size(), by_key_.size(), s.accepted, s.refused_limit, s.refused_rate, s.handshakes,
      s.confirmed, s.replaced, s.pings, s.notifications, s.closed_by_node, s.closed_idle,
      s.closed_timeout, s.close_frame, s.close_mac, s.close_handshake, s.close_replay, s.close_auth,
      s.close_message, s.accept_errors, s.send_errors, s.dc_handshakes, s.dc_requests,
      s.dc_not_authorized, s.dc_answers_resent, s.notify_requests, s.notify_no_connection,
      dc_channel_.sessions(), s.dc_drop_malformed, s.dc_drop_mac, s.dc_drop_ratelimit,
      s.dc_drop_handshake, s.dc_drop_replay, s.dc_drop_unknown_session, s.dc_drop_auth,
      s.dc_drop_session_limit);
}

void NsServer::accept(size_t i) {
  NodeListener& l = node_listeners_[i];
  l.acceptor->async_accept([this, i](std::error_code ec, asio::ip::tcp::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) or memory: accepting again at once would spin.
      ++stats_.accept_errors;
      if (log_.allow()) spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
      auto& t = *node_listeners_[i].retry;
      t.expires_after(std::chrono::milliseconds(100));
      t.async_wait([this, i](std::error_code e) {
        if (!e) accept(i);
      });
      return;
    }
    std::error_code e;
    auto remote = sock.remote_endpoint(e);
    auto from =
        e ? std::nullopt : proto::Endpoint::from_sockaddr(remote.data(), socklen_t(remote.size()));
    if (conns_.size() >= cfg_.max_connections) {
      ++stats_.refused_limit;
      sock.close(e);
    } else if (!from || !limiter_.allow(*from)) {
      ++stats_.refused_rate;
      sock.close(e);
    } else {
      ++stats_.accepted;
      sock.set_option(asio::ip::tcp::no_delay(true), e);  // a notify goes out at once
      auto c = std::make_shared<Conn>(std::move(sock));
      c->last_frame = Clock::now();
      conns_.emplace(c.get(), c);
      read_header(c);
    }
    accept(i);
  });
}

void NsServer::read_header(const std::shared_ptr<Conn>& c) {
  asio::async_read(c->socket, asio::buffer(c->header), [this, c](std::error_code ec, size_t) {
    if (c->state == Conn::State::kClosed) return;
    if (ec) return close(*c, stats_.closed_by_node);
    auto len = proto::ns::parse_frame_length(c->header);
    // The state fixes the only length a frame may have: nothing else is ever allocated.
    size_t want = c->state == Conn::State::kHandshake ? proto::kHandshakeInitSize
                                                      : proto::ns::kSealedMessageSize;
    if (!len || *len != want) return close(*c, stats_.close_frame);
    auto buf = std::make_shared<proto::Bytes>(*len);
    asio::async_read(c->socket, asio::buffer(*buf), [this, c, buf](std::error_code ec, size_t) {
      if (c->state == Conn::State::kClosed) return;
      if (ec) return close(*c, stats_.closed_by_node);
      c->last_frame = Clock::now();
      try {  // the parsers return errors rather than throw; this is the last line of defence
        on_frame(*c, *buf);
      } catch (const std::exception& e) {
        spdlog::error("node frame handler failed: {}", e.what());
        return close(*c, stats_.close_message);
      }
      if (c->state != Conn::State::kClosed) read_header(c);
    });
  });
}

void NsServer::on_frame(Conn& c, proto::ByteView payload) {
  if (c.state == Conn::State::kHandshake) return on_handshake(c, payload);
  on_sealed(c, payload);
}

void NsServer::on_handshake(Conn& c, proto::ByteView d) {
  if (d[0] != uint8_t(proto::PacketType::kHandshakeInit)) return close(c, stats_.close_frame);
  if (!cookies_.check_mac1(d)) return close(c, stats_.close_mac);
  do c.local_index = crypto::random_u32();
  while (c.local_index == 0);
  proto::Bytes response;
  auto r = responder_.consume_init(d, c.local_index, response);
  if (!r) return close(c, stats_.close_handshake);
  // Replay (§3.4, per live connection): a message 1 not newer than the one that made this
  // key's confirmed connection. Without a live connection a replay only gets a session
  // nobody can use, closed at handshake-timeout.
  if (auto it = by_key_.find(r->remote_static);
      it != by_key_.end() && !(it->second->timestamp < r->timestamp))
    return close(c, stats_.close_replay);
  c.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  c.peer = r->remote_static;
  c.timestamp = r->timestamp;
  c.state = Conn::State::kOpen;
  ++stats_.handshakes;
  send_frame(c, response);
}

void NsServer::on_sealed(Conn& c, proto::ByteView d) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(d, h) || h.type != proto::PacketType::kControl ||
      h.receiver_index != c.local_index)
    return close(c, stats_.close_auth);
  uint8_t plain[proto::ns::kMessageSize];
  if (c.session->open(h, d, plain) != crypto::Session::OpenStatus::kOk)
    return close(c, stats_.close_auth);
  auto m = proto::ns::decode_message(proto::ByteView(plain, sizeof plain));
  if (!m || *m != proto::ns::Message::kPing) return close(c, stats_.close_message);
  if (c.state == Conn::State::kOpen) {
    // The node holds the session's keys: this connection is its own, and replaces any older.
    c.state = Conn::State::kConfirmed;
    ++stats_.confirmed;
    auto it = by_key_.find(c.peer);
    if (it != by_key_.end() && it->second != &c) {
      Conn* old = it->second;
      by_key_.erase(it);
      close(*old, stats_.replaced);
    }
    by_key_[c.peer] = &c;
    // Names the node as the notify lines do (its key's first 8 base64 characters), so an
    // operator running several processes sees which one holds a node.
    if (log_.allow()) spdlog::info("node {} connected", crypto::key_to_base64(c.peer).substr(0, 8));
  }
  ++stats_.pings;
  send_message(c, proto::ns::Message::kPong);
}

void NsServer::send_message(Conn& c, proto::ns::Message m) {
  uint8_t plain = uint8_t(m);
  uint8_t sealed[proto::ns::kSealedMessageSize];
  if (c.session->seal(proto::PacketType::kControl, proto::ByteView(&plain, 1), sealed) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send_frame(c, proto::ByteView(sealed, sizeof sealed));
}

void NsServer::send_frame(Conn& c, proto::ByteView payload) {
  proto::Bytes f = proto::ns::encode_frame(payload);
  // A node that does not read cannot make the NS queue without bound: a few frames at most
  // (each ping gets one pong) before its connection is closed.
  if (c.out_pending.size() + f.size() > 8 * proto::ns::kMaxFramePayload)
    return close(c, stats_.send_errors);
  c.out_pending.insert(c.out_pending.end(), f.begin(), f.end());
  if (!c.writing) flush(c.shared_from_this());
}

void NsServer::flush(const std::shared_ptr<Conn>& c) {
  if (c->out_pending.empty() || c->state == Conn::State::kClosed) return;
  c->writing = true;
  c->out_writing.swap(c->out_pending);
  asio::async_write(c->socket, asio::buffer(c->out_writing), [this, c](std::error_code ec, size_t) {
    c->writing = false;
    proto::Bytes().swap(c->out_writing);  // no buffer kept while idle
    if (c->state == Conn::State::kClosed) return;
    if (ec) return close(*c, stats_.send_errors);
    flush(c);
  });
}

void NsServer::close(Conn& c, uint64_t& counter) {
  if (c.state == Conn::State::kClosed) return;
  ++counter;
  if (c.state == Conn::State::kConfirmed) {
    auto it = by_key_.find(c.peer);
    if (it != by_key_.end() && it->second == &c) by_key_.erase(it);
  }
  c.state = Conn::State::kClosed;
  std::error_code ec;
  c.socket.close(ec);
  proto::Bytes().swap(c.out_pending);
  conns_.erase(&c);  // pending handlers hold the last references
}

void NsServer::sweep() {
  auto now = Clock::now();
  auto idle = std::chrono::seconds(cfg_.idle_timeout_s);
  auto unconfirmed = std::chrono::seconds(cfg_.handshake_timeout_s);
  std::vector<std::pair<Conn*, uint64_t*>> gone;
  for (auto& [p, c] : conns_) {
    if (c->state != Conn::State::kConfirmed && now - c->last_frame > unconfirmed)
      gone.push_back({p, &stats_.closed_timeout});
    else if (now - c->last_frame > idle)
      gone.push_back({p, &stats_.closed_idle});
  }
  for (auto& [p, counter] : gone)
    if (auto it = conns_.find(p); it != conns_.end()) close(*it->second, *counter);
  limiter_.collect(now);
  dc_channel_.expire(now);
  if (cfg_.stats_interval_s && --stats_countdown_ == 0) {
    stats_countdown_ = cfg_.stats_interval_s;
    spdlog::info("stats: {}", stats_line());
  }
  if (uint64_t n = log_.take_suppressed()) spdlog::info("{} more log lines suppressed", n);
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](std::error_code ec) {
    if (!ec) sweep();
  });
}

}  // namespace ntm::ns
