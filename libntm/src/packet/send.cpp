// Outbound packet path. lwIP calls output() with its core lock held (and install_tunnel takes
// it too), so sends are serialized and the send batch needs no lock of its own.
//
// 1. lwIP hands an inner IP packet to the netif output (destination vIP known)
// 2. tunnel lookup by destination vIP
// 3. no tunnel: queue a copy (bounded) and tell the negotiation module, once per destination;
//    a tunnel the peer has not confirmed yet: queue too (it would drop the packet)
// 4. copy the pbuf chain behind 16 bytes of header room, in the next slot of the send batch
// 5. seal in place: counter assigned, header written, ChaCha20-Poly1305
// 6. queue it for the peer's current endpoint
// 7. when the thread releases the core lock (the end of its pass through lwIP:
//    libntm/lwip/core_lock.c), flush_tx() sends the batch with one sendmmsg (UDP GSO for
//    runs of one size to one endpoint if the transport has it on) and counts every datagram
//    the kernel took. A pass that fills the batch flushes it at once. No packet waits for
//    anything but the end of the pass that made it.
#include <cstring>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/pbuf.h"
#include "lwip/tcpip.h"
#include "packet/data_plane.h"

#include <algorithm>

namespace ntm::packet {
namespace {

std::shared_ptr<Tunnel> lookup(const TunnelTable& table, const VipKey& dst) {
  if (dst.size() == 4) {
    uint32_t v;
    std::memcpy(&v, dst.data(), 4);
    return table.find_by_vip4(v);
  }
  Vip6 v;
  std::memcpy(v.data(), dst.data(), 16);
  return table.find_by_vip6(v);
}

bool is_unicast(const VipKey& dst) {
  auto b = reinterpret_cast<const uint8_t*>(dst.data());
  if (dst.size() == 4) return b[0] < 224 && !(b[0] == 255);
  return b[0] != 0xff;
}
}  // namespace

int DataPlane::output(pbuf* p, const VipKey& dst) {
  auto t = lookup(tunnels_, dst);                             // 2
  if (!t || !t->confirmed.load(std::memory_order_acquire)) {  // 3
    if (!is_unicast(dst)) return 0;  // lwIP's own ND/MLD chatter has nowhere to go
    proto::Bytes copy(p->tot_len);
    pbuf_copy_partial(p, copy.data(), p->tot_len, 0);
    switch (pending_.push(dst, std::move(copy))) {
      case PendingQueue::Result::kQueuedFirst:
        if (!t && hooks_.on_missing_tunnel) hooks_.on_missing_tunnel(dst);
        break;
      case PendingQueue::Result::kQueued:
        break;
      case PendingQueue::Result::kFull:
        stats_.drop_no_tunnel.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    return 0;
  }
  uint8_t* inner = tx_room(p->tot_len);  // 4
  pbuf_copy_partial(p, inner, p->tot_len, 0);
  send_inner(*t, inner, p->tot_len);
  return 0;
}

uint8_t* DataPlane::tx_room(size_t len) {
  if (len > proto::kTunnelMtu) {
    // Larger than a slot (lwIP fragments at the tunnel MTU, so this is rare): alone, after
    // what is queued, so the order of the packets holds.
    flush_tx();
    return send_buf_.data() + proto::kSealedHeaderSize;
  }
  if (ntx_ == kTxSlots) flush_tx();
  return tx_buf_->data() + ntx_ * kTxSlotSize + proto::kSealedHeaderSize;
}

void DataPlane::send_inner(Tunnel& t, uint8_t* ip, size_t len) {
  uint8_t* out = ip - proto::kSealedHeaderSize;
  if (t.session->seal(proto::PacketType::kData, proto::ByteView(ip, len), out) ==  // 5
      crypto::Session::SealStatus::kExhausted) {
    stats_.drop_no_tunnel.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  check_rekey_budget(t, t.session->packets_sent());
  size_t total = len + proto::kSealedOverhead;
  Path to;
  if (!t.endpoint_for_send(total, to)) {
    stats_.drop_unvalidated_path.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (out == send_buf_.data()) {
    transmit(to, out, total);
    return;
  }
  tx_[ntx_++] = {to, out, total};  // 6
#ifdef NTM_LWIP_UNLOCK_HOOK
  // The batch goes when this pass releases the core lock, if this data plane is the one the
  // lock's hook serves (one per process; netif.cpp installs it).
  if (lwip_port_core_unlock_hook_arg() == this) return;
#endif
  flush_tx();  // lwIP without our hook (the packaged build): at once
}

void DataPlane::flush_tx() {  // 7
  if (ntx_ == 0) return;
  bool sent[kTxSlots];
  udp_.send_batch(tx_, ntx_, sent);
  uint64_t packets = 0, bytes = 0, relayed = 0;
  for (size_t i = 0; i < ntx_; ++i) {
    if (!sent[i]) continue;
    bool r = tx_[i].path.relayed();
    ++packets;
    bytes += tx_[i].len + (r ? proto::kRelayHeaderSize : 0);
    relayed += r;
  }
  ntx_ = 0;
  stats_.tx_packets.fetch_add(packets, std::memory_order_relaxed);
  stats_.tx_bytes.fetch_add(bytes, std::memory_order_relaxed);
  if (relayed) stats_.tx_relayed.fetch_add(relayed, std::memory_order_relaxed);
}

bool DataPlane::transmit(const Path& to, const uint8_t* data, size_t len) {
  if (!udp_.send(to, data, len)) return false;
  stats_.tx_packets.fetch_add(1, std::memory_order_relaxed);
  stats_.tx_bytes.fetch_add(len + (to.relayed() ? proto::kRelayHeaderSize : 0),
                            std::memory_order_relaxed);
  if (to.relayed()) stats_.tx_relayed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::vector<std::shared_ptr<Tunnel>> DataPlane::install_tunnel(std::shared_ptr<Tunnel> t) {
  std::vector<std::shared_ptr<Tunnel>> replaced;
  // Counted before the queued packets leave: whoever sees their answers sees the tunnel.
  stats_.tunnels_established.fetch_add(1, std::memory_order_relaxed);
  LOCK_TCPIP_CORE();
  if (t->confirmed.load(std::memory_order_acquire)) {
    replaced = tunnels_.insert(t);
    flush_pending(*t);
  } else {
    tunnels_.insert_inbound(t);
  }
  UNLOCK_TCPIP_CORE();
  return replaced;
}

void DataPlane::flush_pending(Tunnel& t) {
  auto flush = [&](const VipKey& key) {
    for (auto& pkt : pending_.take(key)) {
      uint8_t* inner = tx_room(pkt.size());
      std::memcpy(inner, pkt.data(), pkt.size());
      send_inner(t, inner, pkt.size());
    }
  };
  if (t.has_vip4) flush(vip_key4(t.peer_vip4));
  if (t.has_vip6) flush(vip_key6(t.peer_vip6));
}

void DataPlane::send_keepalive(Tunnel& t) {
  uint8_t out[proto::kSealedOverhead];
  Path to;
  if (!t.endpoint_for_send(sizeof out, to)) {
    stats_.drop_unvalidated_path.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (t.session->seal(proto::PacketType::kData, {}, out) !=
          crypto::Session::SealStatus::kExhausted &&
      transmit(to, out, sizeof out))
    stats_.tx_keepalives.fetch_add(1, std::memory_order_relaxed);
}

void DataPlane::send_path_challenge(Tunnel& t, uint64_t token, const Path* via, size_t pad_to) {
  stats_.path_challenges.fetch_add(1, std::memory_order_relaxed);
  send_tunnel_message(t, proto::TunnelMessage::kPathChallenge, token, via, pad_to);
}

void DataPlane::send_tunnel_message(Tunnel& t, proto::TunnelMessage kind, uint64_t token,
                                    const Path* to, size_t pad_to) {
  size_t len = std::clamp(pad_to, proto::kTunnelMessageSize, size_t(proto::kTunnelMtu));
  uint8_t plain[proto::kTunnelMtu] = {proto::kTunnelMessageMarker, uint8_t(kind)};
  proto::put_u64(plain + 2, token);  // the rest: zero padding
  uint8_t out[proto::kTunnelMtu + proto::kSealedOverhead];
  size_t total = len + proto::kSealedOverhead;
  Path dest;
  if (to) {
    // A path response goes back the way its challenge came (same size: 1×); a candidate's
    // probe goes where the negotiation aims it (it keeps that path's budget).
    dest = *to;
  } else if (!t.endpoint_for_send(total, dest)) {
    stats_.drop_unvalidated_path.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (t.session->seal(proto::PacketType::kData, proto::ByteView(plain, len), out) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  t.tx_tunnel_messages.fetch_add(1, std::memory_order_relaxed);
  transmit(dest, out, total);
}

void DataPlane::drop_pending(const VipKey& dst) {
  auto q = pending_.take(dst);
  stats_.drop_no_tunnel.fetch_add(q.size(), std::memory_order_relaxed);
}

}  // namespace ntm::packet
