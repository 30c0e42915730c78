// The packet manipulation module (paper 002 §3.2): an lwIP netif whose output seals inner IP
// packets into tunnel data packets (send.cpp), and a receive thread that opens tunnel data
// packets and feeds them to lwIP (receive.cpp). Control datagrams seen by the receive thread
// are handed to the negotiation module through a hook.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ntm/ntm.h"
#include "packet/pending_queue.h"
#include "packet/reassembly.h"
#include "packet/tunnel_table.h"
#include "packet/udp_transport.h"

struct netif;
struct pbuf;

namespace ntm::packet {

/// Lock-free counters behind struct ntm_stats.
struct Stats {
  std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
  std::atomic<uint64_t> drop_malformed{0}, drop_unknown_tunnel{0}, drop_auth{0}, drop_replay{0},
      drop_too_old{0}, drop_spoofed{0}, drop_no_tunnel{0}, drop_control{0}, drop_reassembly{0};
  std::atomic<uint64_t> tx_keepalives{0};
  std::atomic<uint64_t> tunnels_established{0}, roams{0};
  std::atomic<uint64_t> drop_overload{0}, drop_unvalidated_path{0};
  std::atomic<uint64_t> path_challenges{0}, paths_validated{0}, rekeys{0}, tunnels_expired{0},
      tunnels_refused{0};
  /// Paths (docs/protocol.md §7.9, §12): relay data not from its session's server or for no
  /// session of ours; data packets sent through a relay; switches of a tunnel's path; relay
  /// binds sent; hole punches sent and accepted.
  std::atomic<uint64_t> drop_relay{0}, tx_relayed{0}, path_switches{0}, relay_binds{0},
      punches_sent{0}, punches_received{0};
  void copy_to(ntm_stats& s) const;
};

struct DataPlaneHooks {
  /// An inner packet needs a tunnel to `dst` that does not exist (first packet queued).
  /// Called with the lwIP core lock held: only post work elsewhere.
  std::function<void(const VipKey& dst)> on_missing_tunnel;
  /// A control, handshake, cookie, tunnel-handshake, punch or relay datagram arrived (receive
  /// thread); `from` is the path it came on (a relayed one for a relayed tunnel handshake).
  std::function<void(proto::Bytes datagram, const Path& from)> on_control;
  /// A path response whose token is not the roaming challenge's: perhaps the answer to a path
  /// candidate's probe (receive thread; post elsewhere).
  std::function<void(uint32_t local_id, uint64_t token, const Path& from)> on_path_response;
  /// The peer's newest packet came from a new address, which is now the tunnel's endpoint
  /// (roaming, not validated yet: sends there stay within 3× what came from it), and later
  /// the challenge sent there was answered: the peer moved (receive thread; post elsewhere).
  std::function<void(uint32_t local_id)> on_roamed, on_path_validated;
  /// A responder's keypair was confirmed by the peer's first packet and now carries outbound
  /// traffic; `replaced` are the keypairs it replaced (still accepting inbound packets).
  /// Called on the receive thread with the lwIP core lock held: only post work elsewhere.
  std::function<void(std::shared_ptr<Tunnel> confirmed,
                     std::vector<std::shared_ptr<Tunnel>> replaced)>
      on_confirmed;
  /// A keypair of which this node drives rekeying reached its packet budget (once per
  /// keypair). Called on the packet path, possibly with the lwIP core lock held: only post.
  std::function<void(uint32_t local_id)> on_rekey_due;
};

class DataPlane {
 public:
  DataPlane(UdpTransport& udp, TunnelTable& tunnels, Stats& stats, DataPlaneHooks hooks);
  ~DataPlane();

  /// Starts the receive thread (control datagrams flow from here on). Call once.
  bool start_receiver(std::string& error);
  /// Brings up the lwIP netif with the vIPs (lwIP itself is started once per process).
  void attach_netif(std::optional<uint32_t> vip4, std::optional<Vip6> vip6);
  /// Stops the receive thread and removes the netif.
  void stop();

  /// Installs `t` in the tunnel table. A confirmed `t` becomes the outbound tunnel of its peer
  /// vIPs at once and sends the packets queued for them, under the lwIP core lock so no newer
  /// packet overtakes a queued one; returns the tunnels it replaced. An unconfirmed `t` (a
  /// responder's keypair) only receives until the peer's first packet confirms it.
  std::vector<std::shared_ptr<Tunnel>> install_tunnel(std::shared_ptr<Tunnel> t);
  /// Sends a path challenge to `t`'s current endpoint (docs/protocol.md §8.3), or along `via`
  /// (a path candidate's probe, §7.9); with `pad_to`, its plaintext padded to that many bytes
  /// (at most proto::kTunnelMtu).
  void send_path_challenge(Tunnel& t, uint64_t token, const Path* via = nullptr, size_t pad_to = 0);
  /// Passes the data packets held for `t` before it was installed (TunnelTable::hold) through
  /// the receive steps, in arrival order, from the calling thread; a packet for `t` that
  /// arrives meanwhile waits for them. Call after install_tunnel(); no-op when none are held.
  void deliver_held(const std::shared_ptr<Tunnel>& t);
  /// Sends a keep-alive: a data packet with an empty inner packet (docs/protocol.md §8). The
  /// initiator sends one right after install so the responder confirms the tunnel at once.
  void send_keepalive(Tunnel& t);
  /// Drops (and counts) the packets queued for `dst` after a failed negotiation.
  void drop_pending(const VipKey& dst);

  // send.cpp — called by lwIP with the core lock held.
  int output(pbuf* p, const VipKey& dst);
  /// send.cpp: sends the tunnel packets queued in this pass of the core lock (one sendmmsg,
  /// UdpTransport::send_batch) and counts each datagram the kernel took. Runs when the
  /// core lock is released (libntm/lwip/core_lock.c); call with the core lock held.
  void flush_tx();
  /// Tunnel packets queued for flush_tx() (core lock held).
  size_t tx_queued() const { return ntx_; }
  /// Sealed tunnel packets queued per pass of the core lock at most; more flush at once.
  static constexpr size_t kTxSlots = 64;

 private:
  void receive_loop();  // receive.cpp
  /// receive.cpp: steps 4-6 for one data packet from `from`, decrypted into `plain`. Returns
  /// the pbuf to hand to lwIP (or null), and in `confirm` a keypair this packet confirmed.
  pbuf* open_data(proto::ByteView pkt, const Path& from, uint8_t* plain,
                  std::shared_ptr<Tunnel>& confirm);
  /// receive.cpp: steps 4-7 for a packet of tunnel `t` whose header is `h`.
  pbuf* open_for(const std::shared_ptr<Tunnel>& t, const crypto::SealedHeader& h,
                 proto::ByteView pkt, const Path& from, uint8_t* plain,
                 std::shared_ptr<Tunnel>& confirm);
  /// receive.cpp: step 7 for a batch.
  void enter_stack(pbuf** ready, int nready, std::shared_ptr<Tunnel>* confirmed, int nconfirmed);
  /// receive.cpp: a tunnel message (path challenge/response) inside an authenticated packet.
  void on_tunnel_message(Tunnel& t, const uint8_t* plain, size_t len, const Path& from);
  /// send.cpp: room for an inner packet of `len` bytes behind the header room, in the next
  /// slot of the send batch or, larger than a slot, in send_buf_ (core lock held).
  uint8_t* tx_room(size_t len);
  /// send.cpp: steps 5-6 for the inner packet at `ip` (from tx_room()).
  void send_inner(Tunnel& t, uint8_t* ip, size_t len);
  void flush_pending(Tunnel& t);  // send.cpp; core lock held
  /// Reports `t` once when `counter` reached its rekey budget.
  void check_rekey_budget(Tunnel& t, uint64_t counter) {
    if (t.rekey_driver && counter >= t.rekey_after_messages &&
        !t.rekey_requested.exchange(true, std::memory_order_relaxed) && hooks_.on_rekey_due)
      hooks_.on_rekey_due(t.local_id);
  }
  /// send.cpp: seals a tunnel message; sends it to `to` (a reply to the challenge's source) or,
  /// when null, to the endpoint under its budget.
  void send_tunnel_message(Tunnel& t, proto::TunnelMessage kind, uint64_t token, const Path* to,
                           size_t pad_to = 0);
  /// send.cpp: one sealed packet to `to`, counted.
  bool transmit(const Path& to, const uint8_t* data, size_t len);

  UdpTransport& udp_;
  TunnelTable& tunnels_;
  Stats& stats_;
  DataPlaneHooks hooks_;
  PendingQueue pending_;
  netif* netif_ = nullptr;
  /// Header room + largest inner packet + tag; used under the lwIP core lock only.
  std::array<uint8_t, proto::kSealedHeaderSize + 65535 + proto::kTagSize> send_buf_{};
  /// The send batch (core lock): sealed packets of up to a tunnel MTU, sent by flush_tx().
  static constexpr size_t kTxSlotSize =
      proto::kSealedHeaderSize + proto::kTunnelMtu + proto::kTagSize;
  std::unique_ptr<std::array<uint8_t, kTxSlots* kTxSlotSize>> tx_buf_ =
      std::make_unique<std::array<uint8_t, kTxSlots * kTxSlotSize>>();
  UdpTransport::Datagram tx_[kTxSlots];
  size_t ntx_ = 0;
  int stop_fd_ = -1;
  std::thread rx_thread_;
  /// Inner fragments waiting for their siblings: the receive thread's, and the negotiation
  /// thread's for early data (deliver()); both guarded by reasm_mu_.
  std::mutex reasm_mu_;
  Reassembler reassembler_{stats_.drop_reassembly};
  std::array<uint8_t, Reassembler::kMaxDatagramSize> reassembled_{};
};

}  // namespace ntm::packet
