#include "rs/rs_server.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/ip/v6_only.hpp>

#include <cstring>
#include <ctime>

namespace ntm::rs {
namespace {

asio::ip::udp::endpoint to_asio(const proto::Endpoint& e) {
  asio::ip::udp::endpoint out;
  std::memcpy(out.data(), e.sa(), e.sa_len());
  return out;
}

uint32_t unix_seconds() {
  return uint32_t(std::time(nullptr));
}

}  // namespace

RsServer::RsServer(asio::io_context& io, RsConfig cfg)
    : io_(io),
      cfg_(std::move(cfg)),
      table_(cfg_.keys, cfg_.max_sessions, cfg_.node_pps, cfg_.node_bytes),
      small_(4 * kBatch),
      global_pps_(cfg_.global_pps, std::max(64.0, cfg_.global_pps / 4)),
      global_bytes_(cfg_.global_bytes, std::max(65536.0, cfg_.global_bytes / 4)),
      status_sequence_(cfg_.keys.size(), 0),
      maintenance_timer_(io) {
  for (auto& k : cfg_.keys) sodium_memzero(k.data(), k.size());
}

bool RsServer::open() {
  for (auto& text : cfg_.listen) {
    auto ep = proto::Endpoint::parse(text);
    if (!ep) {
      spdlog::error("listen address '{}' is not ip:port", text);
      return false;
    }
    Listener l;
    asio::ip::udp::endpoint aep = to_asio(*ep);
    l.socket = std::make_unique<asio::ip::udp::socket>(io_);
    l.v6_only = ep->is_v6();
    std::error_code ec;
    l.socket->open(aep.protocol(), ec);
    if (!ec && ep->is_v6()) l.socket->set_option(asio::ip::v6_only(true), ec);
    // A relay moves bursts of tunnel traffic: large buffers (past rmem_max/wmem_max when we
    // may, CAP_NET_ADMIN) absorb them while the loop is busy with the other socket.
    int buf = 8 << 20;
    if (!ec) {
      int fd = l.socket->native_handle();
      if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    }
    if (!ec) l.socket->bind(aep, ec);
    if (ec) {
      spdlog::error("cannot listen on {}: {}", text, ec.message());
      return false;
    }
    listeners_.push_back(std::move(l));
    outboxes_.push_back(std::make_unique<Outbox>());
  }
  for (auto& e : local_endpoints()) spdlog::info("listening on udp {}", e.to_string());
  for (size_t i = 0; i < listeners_.size(); ++i) receive(i);
  schedule_maintenance();
  return true;
}

std::vector<proto::Endpoint> RsServer::local_endpoints() const {
  std::vector<proto::Endpoint> out;
  for (auto& l : listeners_) {
    std::error_code ec;
    auto local = l.socket->local_endpoint(ec);
    if (auto e = proto::Endpoint::from_sockaddr(local.data(), socklen_t(local.size())); !ec && e)
      out.push_back(*e);
  }
  return out;
}

std::string RsServer::stats_line() const {
  const RsStats& s = stats_;
  return fmt::format(
      "sessions={} relayed_packets={} relayed_bytes={} binds={} bind_acks={} held={} "
      "status_answers={} notices={} sessions_created={} sessions_expired={} send_errors={} "
      "drops: malformed={} unknown_session={} unbound_source={} quota={} held_overflow={} "
      "bad_ticket={} expired={} bad_mac={} stale={} conflict={} full={} status={}",
      table_.size(), s.relayed_packets, s.relayed_bytes, s.binds, s.bind_acks, s.held,
      s.status_answers, s.notices, s.sessions_created, s.sessions_expired, s.send_errors,
      s.drop_malformed, s.drop_unknown_session, s.drop_unbound_source, s.drop_quota,
      s.drop_held_overflow, s.drop_bad_ticket, s.drop_expired, s.drop_bad_mac, s.drop_stale,
      s.drop_conflict, s.drop_full, s.drop_status);
}

void RsServer::receive(size_t i) {
  listeners_[i].socket->async_wait(asio::socket_base::wait_read, [this, i](std::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    drain(i);
    receive(i);
  });
}

void RsServer::drain(size_t i) {
  // Up to 16 batches per wake-up, so timers and the other socket get their turn.
  Listener& l = listeners_[i];
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  for (int round = 0; round < 16; ++round) {
    for (size_t k = 0; k < kBatch; ++k) {
      iov[k] = {l.bufs.data() + k * kMaxDatagram, kMaxDatagram};
      msgs[k].msg_hdr = {&from[k], sizeof from[k], &iov[k], 1, nullptr, 0, 0};
      msgs[k].msg_len = 0;
    }
    int n = recvmmsg(l.socket->native_handle(), msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    auto now = Clock::now();
    uint32_t unix_now = unix_seconds();
    for (int k = 0; k < n; ++k) {
      auto src = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from[k]),
                                                msgs[k].msg_hdr.msg_namelen);
      // The parsers return errors rather than throw; this is the last line of defence so that
      // nothing a datagram triggers can stop the relay.
      try {
        if (!src || src->port() == 0) {
          ++stats_.drop_malformed;
        } else if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
          drop(stats_.drop_malformed, *src, "datagram too long");
        } else {
          on_datagram(i, l.bufs.data() + size_t(k) * kMaxDatagram, msgs[k].msg_len, *src, now,
                      unix_now);
        }
      } catch (const std::exception& e) {
        ++stats_.drop_malformed;
        spdlog::error("datagram handler failed: {}", e.what());
      }
    }
    flush();  // 6 (before the next recvmmsg reuses the buffers)
    // Only here, not in flush(): a full outbox is flushed from queue(), which may come after a
    // released datagram moved into released_ and before it was queued.
    released_.clear();
    if (size_t(n) < kBatch) return;
  }
}

void RsServer::drop(uint64_t& counter, const proto::Endpoint& from, const char* reason) {
  ++counter;
  if (drop_log_.allow()) spdlog::info("drop datagram from {}: {}", from.to_string(), reason);
}

void RsServer::on_datagram(size_t socket, uint8_t* d, size_t len, const proto::Endpoint& from,
                           Clock::time_point now, uint32_t unix_now) {
  if (len == 0) return drop(stats_.drop_malformed, from, "empty datagram");
  switch (proto::PacketType(d[0])) {  // 2
    case proto::PacketType::kRelayData:
      return on_relay_data(socket, d, len, from, now);
    case proto::PacketType::kRelayBind:
      return on_bind(socket, proto::ByteView(d, len), from, now, unix_now);
    case proto::PacketType::kRelayStatusRequest:
      return on_status_request(socket, proto::ByteView(d, len), from);
    default:
      return drop(stats_.drop_malformed, from, "not a relay packet type");
  }
}

void RsServer::on_relay_data(size_t socket, uint8_t* d, size_t len, const proto::Endpoint& from,
                             Clock::time_point now) {
  uint32_t id;
  proto::ByteView inner;
  if (!proto::parse_relay_header(proto::ByteView(d, len), id, inner))  // 3
    return drop(stats_.drop_malformed, from, "bad relay header");
  Session* s = table_.find(id);
  if (!s) return drop(stats_.drop_unknown_session, from, "relay data for no session");
  int side = SessionTable::side_of(*s, from);
  if (side < 0) {
    // Perhaps the node's NAT gave it a new address: tell it to bind again (at most once a
    // second per session, and never more bytes than it sent us).
    if (now - s->last_notice >= std::chrono::seconds(1) && len >= proto::kRelayNoticeSize) {
      s->last_notice = now;
      uint8_t notice[proto::kRelayNoticeSize] = {uint8_t(proto::PacketType::kRelayNotice)};
      proto::put_u32(notice + 4, id);
      queue_copy(socket, proto::ByteView(notice, sizeof notice), from);
      ++stats_.notices;
    }
    return drop(stats_.drop_unbound_source, from, "relay data from an address not bound");
  }
  Side& me = s->side[side];
  if (!me.pps.take(1, now) || !me.bytes.take(double(len), now) || !global_pps_.take(1, now) ||
      !global_bytes_.take(double(len), now)) {
    ++stats_.drop_quota;
    return;
  }
  s->last_active = now;
  Side& peer = s->side[1 - side];
  if (!peer.bound) {
    if (s->held.size() >= SessionTable::kMaxHeld)
      return drop(stats_.drop_held_overflow, from, "too much data before the peer bound");
    s->held.push_back({std::vector<uint8_t>(d, d + len), now});
    ++stats_.held;
    return;
  }
  queue(peer.socket, d, len, peer.endpoint);
  ++stats_.relayed_packets;
  stats_.relayed_bytes += len;
}

void RsServer::on_bind(size_t socket, proto::ByteView d, const proto::Endpoint& from,
                       Clock::time_point now, uint32_t unix_now) {
  proto::RelayBind b;
  if (!proto::parse_relay_bind(d, b)) return drop(stats_.drop_malformed, from, "bad relay bind");
  size_t before = table_.size();
  Session* s = nullptr;
  auto r = table_.bind(b, d, from, socket, unix_now, now, &s);  // 4
  switch (r) {
    case SessionTable::BindResult::kAccepted:
      break;
    case SessionTable::BindResult::kBadTicket:
      return drop(stats_.drop_bad_ticket, from, to_string(r));
    case SessionTable::BindResult::kExpired:
      return drop(stats_.drop_expired, from, to_string(r));
    case SessionTable::BindResult::kBadMac:
      return drop(stats_.drop_bad_mac, from, to_string(r));
    case SessionTable::BindResult::kStale:
      return drop(stats_.drop_stale, from, to_string(r));
    case SessionTable::BindResult::kConflict:
      return drop(stats_.drop_conflict, from, to_string(r));
    case SessionTable::BindResult::kFull:
      return drop(stats_.drop_full, from, to_string(r));
  }
  ++stats_.binds;
  if (table_.size() > before) {
    ++stats_.sessions_created;
    if (event_log_.allow())
      spdlog::info("session {:08x} created by side {} at {}", s->id, int(b.side), from.to_string());
  }
  Side& me = s->side[b.side - 1];
  auto ack = crypto::make_relay_bind_ack(b.side, s->id, b.counter, me.key);
  queue_copy(socket, ack, from);
  ++stats_.bind_acks;
  // Data the peer sent before we knew where this side is. Held data is always for the side that
  // was not bound, so a refresh of the side that sent it (the other side still unbound)
  // releases nothing: it would go back to its sender.
  if (!s->held.empty() && s->side[2 - b.side].bound) {
    for (auto& h : s->held) {
      released_.push_back(std::move(h.bytes));
      auto& bytes = released_.back();
      queue(me.socket, bytes.data(), bytes.size(), me.endpoint);
      ++stats_.relayed_packets;
      stats_.relayed_bytes += bytes.size();
    }
    s->held.clear();
  }
}

void RsServer::on_status_request(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  proto::RelayStatusRequest r;
  if (!proto::parse_relay_status_request(d, r))
    return drop(stats_.drop_malformed, from, "bad status request");
  auto& keys = table_.keys();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i]->verify_status_request(d)) continue;
    // Only the newest sequence: a replayed request gets nothing (no reflection).
    if (r.sequence <= status_sequence_[i])
      return drop(stats_.drop_status, from, "status request replayed");
    status_sequence_[i] = r.sequence;
    queue_copy(socket,
               keys[i]->make_status(r.sequence, uint32_t(table_.size()), stats_.relayed_packets),
               from);
    ++stats_.status_answers;
    return;
  }
  drop(stats_.drop_status, from, "status request not authenticated");
}

void RsServer::queue(size_t socket, const uint8_t* d, size_t len, const proto::Endpoint& to) {
  Outbox& o = *outboxes_[socket];
  if (o.n == std::size(o.msgs)) flush();
  size_t k = o.n++;
  std::memcpy(&o.to[k], to.sa(), to.sa_len());
  o.iov[k] = {const_cast<uint8_t*>(d), len};
  o.msgs[k].msg_hdr = {&o.to[k], to.sa_len(), &o.iov[k], 1, nullptr, 0, 0};
  o.msgs[k].msg_len = 0;
}

void RsServer::queue_copy(size_t socket, proto::ByteView d, const proto::Endpoint& to) {
  if (small_used_ == small_.size() || d.size() > small_[0].size()) flush();
  if (d.size() > small_[0].size()) return;
  auto& slot = small_[small_used_++];
  std::memcpy(slot.data(), d.data(), d.size());
  queue(socket, slot.data(), d.size(), to);
}

void RsServer::flush() {
  for (size_t i = 0; i < outboxes_.size(); ++i) {
    Outbox& o = *outboxes_[i];
    size_t sent = 0;
    while (sent < o.n) {
      int r = sendmmsg(listeners_[i].socket->native_handle(), o.msgs + sent, unsigned(o.n - sent),
                       MSG_DONTWAIT);
      if (r <= 0) {
        // The failing datagram is skipped (counted, logged); the rest still go.
        ++stats_.send_errors;
        if (drop_log_.allow()) spdlog::warn("sendmmsg: {}", std::strerror(errno));
        ++sent;
        continue;
      }
      sent += size_t(r);
    }
    o.n = 0;
  }
  small_used_ = 0;
}

void RsServer::schedule_maintenance() {
  maintenance_timer_.expires_after(std::chrono::seconds(1));
  maintenance_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    size_t gone =
        table_.expire(unix_seconds(), Clock::now(), std::chrono::seconds(cfg_.session_idle_s));
    stats_.sessions_expired += gone;
    if (uint64_t n = drop_log_.take_suppressed() + event_log_.take_suppressed())
      spdlog::info("{} more log lines suppressed (rate limit)", n);
    schedule_maintenance();
  });
}

}  // namespace ntm::rs
