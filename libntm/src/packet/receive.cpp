// Inbound packet path, on the receive thread.
//
// 1. poll wakes on the UDP socket (or the stop eventfd): no polling interval anywhere; it
//    also wakes when fragments held for reassembly time out, so their drop is counted
// 2. recvmmsg drains up to kBatch receives per syscall; with UDP GRO (UdpTransport::
//    enable_gro) a receive may hold several datagrams of one flow back to back, split again
//    by the size the kernel reports (2a)
// 3. per datagram, the type byte: data packets stay here, everything else goes to the
//    negotiation module; relay data (0x07) from the server of one of our relay sessions is
//    unwrapped first, and what it carries arrives "on the relayed path"
// 4. data: exact header checks, tunnel by receiver ID (an ID reserved by a handshake in flight:
//    the packet is held, in order, until the tunnel response installs the tunnel; then the
//    held packets enter the stack before any later one), AEAD open, anti-replay — drop early
// 5. an empty inner packet is a keep-alive, a 10-byte one starting with 0x00 a tunnel message
//    (path challenge/response); otherwise the inner source address must be the tunnel peer's
//    vIP (no spoofing)
// 6. roam on proof: the peer's endpoint follows an authenticated packet with the highest
//    counter so far, and a new address gets a path challenge and at most 3× its bytes until
//    it answers; the first packet also confirms a responder's keypair
// 7. a fragment of an inner datagram is held until its datagram is complete (reassembly.h)
// 8. under one core-lock acquisition per batch: newly confirmed keypairs become the outbound
//    tunnel and flush their queued packets, then the inner packets enter lwIP as PBUF_RAM
//    pbufs, as one TCP input batch: a connection sends one ACK for its in-order segments of
//    the batch (lwIP patch 0011)
#include <netinet/udp.h>
#include <poll.h>

#include <sys/socket.h>
#include <memory>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "packet/data_plane.h"
#include "proto/relay.h"

namespace ntm::packet {
namespace {
constexpr int kBatch = 32;
constexpr size_t kBufSize = 65536;
/// Datagrams one receive can carry with UDP GRO (the kernel's UDP_MAX_SEGMENTS), and so the
/// most inner packets one batch can hand to the stack.
constexpr size_t kMaxSegments = 64;
constexpr size_t kMaxReady = kBatch * kMaxSegments;

/// Step 2a: the size of the datagrams coalesced into one receive (the UDP_GRO control
/// message), or 0 when the receive holds one datagram.
size_t gro_segment_size(const msghdr& m) {
#ifdef UDP_GRO
  for (const cmsghdr* c = CMSG_FIRSTHDR(&m); c;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&m), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      std::memcpy(&size, CMSG_DATA(c), sizeof size);
      return size > 0 ? size_t(size) : 0;
    }
  }
#else
  (void)m;
#endif
  return 0;
}

/// Step 5: the inner packet's source address against the tunnel's peer vIPs.
bool source_is_peer(const Tunnel& t, const uint8_t* ip, size_t len) {
  if (len >= 20 && (ip[0] >> 4) == 4) {
    uint32_t src;
    std::memcpy(&src, ip + 12, 4);
    return t.has_vip4 && src == t.peer_vip4;
  }
  if (len >= 40 && (ip[0] >> 4) == 6)
    return t.has_vip6 && std::memcmp(ip + 8, t.peer_vip6.data(), 16) == 0;
  return false;
}
}  // namespace

void DataPlane::receive_loop() {
  // Not zeroed (new[] of bytes, not a vector): recvmmsg and the AEAD write every byte before
  // it is read. Zeroing these 4 MiB touched every page and held back the node's first received
  // datagram — the DC's answer to its registration — by about 10 ms at start-up.
  std::unique_ptr<uint8_t[]> bufs_mem(new uint8_t[kBatch * kBufSize]),
      plain_mem(new uint8_t[kBatch * kBufSize]);
  auto bufs = [&](int i) { return bufs_mem.get() + size_t(i) * kBufSize; };
  auto plain = [&](int i) { return plain_mem.get() + size_t(i) * kBufSize; };
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  // With UDP GRO on, one receive may carry up to kMaxSegments datagrams (UDP_GRO cmsg).
  alignas(cmsghdr) uint8_t control[kBatch][CMSG_SPACE(sizeof(int))];
  auto ready = std::make_unique<pbuf*[]>(kMaxReady);
  auto confirmed = std::make_unique<std::shared_ptr<Tunnel>[]>(kMaxReady);
  int nready = 0, nconfirmed = 0;

  // Steps 3-7 for one datagram; its plaintext goes to `out`, which it may fill.
  auto handle = [&](proto::ByteView pkt, const proto::Endpoint& src, uint8_t* out) {
    if (size_t(nready) == kMaxReady || size_t(nconfirmed) == kMaxReady) {
      // More datagrams in one batch than the kernel coalesces (defensive): hand these over.
      enter_stack(ready.get(), nready, confirmed.get(), nconfirmed);
      nready = nconfirmed = 0;
    }
    Path path(src);
    if (pkt[0] == uint8_t(proto::PacketType::kRelayData)) {
      // 3a. A tunnel packet through one of our relay sessions, from that session's server
      // only; the path it came on is the relayed one.
      uint32_t session;
      proto::ByteView inner;
      proto::Endpoint server;
      if (!proto::parse_relay_header(pkt, session, inner) ||
          !tunnels_.relay_server(session, server) || !(server == src)) {
        stats_.drop_relay.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      pkt = inner;
      path = Path(src, session);
      if (pkt[0] != uint8_t(proto::PacketType::kData) &&
          pkt[0] != uint8_t(proto::PacketType::kTunnelHandshake)) {
        stats_.drop_relay.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    if (pkt[0] != uint8_t(proto::PacketType::kData)) {  // 3
      auto type = proto::PacketType(pkt[0]);
      bool control_type =
          type == proto::PacketType::kHandshakeResp || type == proto::PacketType::kControl ||
          type == proto::PacketType::kTunnelHandshake || type == proto::PacketType::kCookieReply ||
          type == proto::PacketType::kRelayBindAck || type == proto::PacketType::kPunch ||
          type == proto::PacketType::kRelayNotice;
      if (control_type && hooks_.on_control) {
        hooks_.on_control(proto::Bytes(pkt.begin(), pkt.end()), path);
      } else {
        stats_.drop_malformed.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    std::shared_ptr<Tunnel> confirm;
    if (pbuf* p = open_data(pkt, path, out, confirm)) ready[nready++] = p;
    if (confirm) confirmed[nconfirmed++] = std::move(confirm);
  };

  pollfd fds[2] = {{udp_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    int timeout = -1;
    {
      std::lock_guard l(reasm_mu_);
      if (auto deadline = reassembler_.next_deadline()) {
        auto left =
            std::chrono::ceil<std::chrono::milliseconds>(*deadline - Reassembler::Clock::now());
        timeout = int(std::max<int64_t>(left.count(), 0));
      }
    }
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) return;  // 1
    if (fds[1].revents) return;
    {
      std::lock_guard l(reasm_mu_);
      reassembler_.expire(Reassembler::Clock::now());
    }
    for (;;) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {bufs(i), kBufSize};
        msgs[i].msg_hdr = {&from[i], sizeof from[i], &iov[i], 1, control[i], sizeof control[i], 0};
        msgs[i].msg_len = 0;
      }
      int n = recvmmsg(udp_.fd(), msgs, kBatch, MSG_DONTWAIT, nullptr);  // 2
      if (n <= 0) break;
      nready = nconfirmed = 0;
      for (int i = 0; i < n; ++i) {
        size_t total = msgs[i].msg_len;
        auto src = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from[i]),
                                                  msgs[i].msg_hdr.msg_namelen);
        if (total == 0 || !src || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
          stats_.drop_malformed.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        // 2a. Datagrams the kernel coalesced (UDP GRO) lie back to back, each `segment` bytes
        // but the last; each one goes through the steps alone, as if received by itself.
        size_t segment = gro_segment_size(msgs[i].msg_hdr);
        if (segment == 0 || segment > total) segment = total;
        for (size_t off = 0; off < total; off += segment)
          handle(proto::ByteView(bufs(i) + off, std::min(segment, total - off)), *src,
                 plain(i) + off);
      }
      if (nready || nconfirmed) enter_stack(ready.get(), nready, confirmed.get(), nconfirmed);  // 8
      if (n < kBatch) break;
    }
  }
}

pbuf* DataPlane::open_data(proto::ByteView pkt, const Path& from, uint8_t* plain,
                           std::shared_ptr<Tunnel>& confirm) {
  crypto::SealedHeader h;  // 4
  if (!crypto::parse_sealed_header(pkt, h)) {
    stats_.drop_malformed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  auto t = tunnels_.find_by_id(h.receiver_index);
  if (!t) {
    // A packet for a tunnel whose handshake response is still on its way through the
    // negotiation thread (the responder may send at once, §7.5): held, in order, for it.
    switch (tunnels_.hold(h.receiver_index, pkt, from, t)) {
      case TunnelTable::Hold::kHeld:
        return nullptr;
      case TunnelTable::Hold::kInstalled:
        break;  // installed since the lookup
      case TunnelTable::Hold::kFull:
      case TunnelTable::Hold::kNotReserved:
        stats_.drop_unknown_tunnel.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
  }
  // Packets held for this tunnel go into the stack before this later one.
  if (t->has_held.load(std::memory_order_acquire)) deliver_held(t);
  return open_for(t, h, pkt, from, plain, confirm);
}

void DataPlane::deliver_held(const std::shared_ptr<Tunnel>& t) {
  std::lock_guard l(t->held_mu);  // a later packet on another thread waits here for these
  if (!t->has_held.load(std::memory_order_relaxed)) return;
  std::vector<uint8_t> plain;
  for (auto& [datagram, from] : t->held) {
    crypto::SealedHeader h;
    if (!crypto::parse_sealed_header(datagram, h)) continue;  // checked when it was held
    plain.resize(datagram.size());
    std::shared_ptr<Tunnel> confirm;
    pbuf* p = open_for(t, h, datagram, from, plain.data(), confirm);
    if (p || confirm) enter_stack(&p, p ? 1 : 0, &confirm, confirm ? 1 : 0);
  }
  t->held.clear();
  t->held.shrink_to_fit();
  t->has_held.store(false, std::memory_order_release);
}

pbuf* DataPlane::open_for(const std::shared_ptr<Tunnel>& t, const crypto::SealedHeader& h,
                          proto::ByteView pkt, const Path& from, uint8_t* plain,
                          std::shared_ptr<Tunnel>& confirm) {
  bool newest = false;
  switch (t->session->open(h, pkt, plain, &newest)) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      stats_.drop_auth.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    case crypto::Session::OpenStatus::kReplay:
      stats_.drop_replay.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    case crypto::Session::OpenStatus::kTooOld:
      stats_.drop_too_old.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
  }
  size_t len = pkt.size() - proto::kSealedOverhead;
  bool message = len > 0 && plain[0] == proto::kTunnelMessageMarker;
  if (len > 0 && !message && !source_is_peer(*t, plain, len)) {  // 5
    stats_.drop_spoofed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  if (message && len < proto::kTunnelMessageSize) {
    stats_.drop_malformed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  t->rx_packets.fetch_add(1, std::memory_order_relaxed);
  t->last_rx_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                      std::memory_order_relaxed);
  check_rekey_budget(*t, h.counter);
  if (newest) {  // 6
    if (uint64_t token = t->on_newest_from(from, pkt.size())) {
      stats_.roams.fetch_add(1, std::memory_order_relaxed);
      send_path_challenge(*t, token);
      if (hooks_.on_roamed) hooks_.on_roamed(t->local_id);
    }
  }
  if (!t->confirmed.load(std::memory_order_relaxed)) confirm = t;
  stats_.rx_packets.fetch_add(1, std::memory_order_relaxed);
  stats_.rx_bytes.fetch_add(pkt.size(), std::memory_order_relaxed);
  if (message) {
    on_tunnel_message(*t, plain, len, from);
    return nullptr;
  }
  if (len == 0) return nullptr;  // keep-alive
  // 7. The receive thread, or the negotiation thread delivering packets held for the tunnel
  // it installed (deliver_held()): the reassembler is shared under reasm_mu_.
  std::lock_guard l(reasm_mu_);
  const uint8_t* inner = plain;
  size_t whole = 0;
  switch (reassembler_.feed(inner, len, Reassembler::Clock::now(), reassembled_.data(), whole)) {
    case Reassembler::Status::kNotFragment:
      break;
    case Reassembler::Status::kComplete:
      inner = reassembled_.data();
      len = whole;
      break;
    case Reassembler::Status::kHeld:
    case Reassembler::Status::kDropped:
      return nullptr;
  }
  pbuf* p = pbuf_alloc(PBUF_RAW, uint16_t(len), PBUF_RAM);
  if (!p) {
    stats_.drop_malformed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  std::memcpy(p->payload, inner, len);
  return p;
}

void DataPlane::enter_stack(pbuf** ready, int nready, std::shared_ptr<Tunnel>* confirmed,
                            int nconfirmed) {
  LOCK_TCPIP_CORE();
  for (int i = 0; i < nconfirmed; ++i) {
    if (!confirmed[i]->confirmed.exchange(true, std::memory_order_acq_rel)) {
      auto replaced = tunnels_.promote(confirmed[i]);
      flush_pending(*confirmed[i]);
      if (hooks_.on_confirmed) hooks_.on_confirmed(confirmed[i], std::move(replaced));
    }
    confirmed[i].reset();
  }
#ifdef LWIP_TCP_NTM_INPUT_BATCH
  // The batch is our GRO: each connection acknowledges its in-order segments of the batch
  // with one ACK (lwIP patch 0011), as Linux does per GRO aggregate.
  tcp_input_batch_begin();
#endif
  for (int i = 0; i < nready; ++i)
    if (!netif_ || ip_input(ready[i], netif_) != ERR_OK) pbuf_free(ready[i]);
#ifdef LWIP_TCP_NTM_INPUT_BATCH
  tcp_input_batch_end();
#endif
  UNLOCK_TCPIP_CORE();
}

void DataPlane::on_tunnel_message(Tunnel& t, const uint8_t* plain, size_t len, const Path& from) {
  (void)len;  // at least kTunnelMessageSize, checked by the caller; the rest is padding
  uint64_t token = proto::get_u64(plain + 2);
  switch (proto::TunnelMessage(plain[1])) {
    case proto::TunnelMessage::kPathChallenge:
      // Answer along the path the challenge came on: that is the path being validated.
      send_tunnel_message(t, proto::TunnelMessage::kPathResponse, token, &from);
      break;
    case proto::TunnelMessage::kPathResponse:
      if (t.on_path_response(token)) {
        stats_.paths_validated.fetch_add(1, std::memory_order_relaxed);
        if (hooks_.on_path_validated) hooks_.on_path_validated(t.local_id);
      } else if (hooks_.on_path_response) {
        hooks_.on_path_response(t.local_id, token, from);  // a path candidate's probe?
      }
      break;
    default:
      break;  // unknown kinds are ignored, so later versions can add some
  }
}

}  // namespace ntm::packet
