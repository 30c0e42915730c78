// The packet manipulation module (paper 002 §3.2): an lwIP netif whose output seals inner IP
// packets into tunnel data packets (send.cpp), and a receive thread that opens tunnel data
// packets and feeds them to lwIP (receive.cpp). Control datagrams seen by the receive thread
// are handed to the negotiation module through a hook.
#pragma once

#include <array>
#include <atomic>
#include <functional>
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
  void copy_to(ntm_stats& s) const;
};

struct DataPlaneHooks {
  /// An inner packet needs a tunnel to `dst` that does not exist (first packet queued).
  /// Called with the lwIP core lock held: only post work elsewhere.
  std::function<void(const VipKey& dst)> on_missing_tunnel;
  /// A control, handshake or tunnel-control datagram arrived (receive thread).
  std::function<void(proto::Bytes datagram, const proto::Endpoint& from)> on_control;
};

class DataPlane {
 public:
  DataPlane(UdpTransport& udp, TunnelTable& tunnels, Stats& stats, DataPlaneHooks hooks);
  ~DataPlane();

  /// Starts the receive thread (control datagrams flow from here on). Call once.
  bool start_receiver(std::string& error);
  /// Brings up the lwIP netif with the vIPs (lwIP itself is started once per process).
  void attach_netif(std::optional<uint32_t> vip4, std::optional<Vip6> vip6);
  /// True when no TCP connection has unsent or unacknowledged data (FIN included), i.e. a
  /// closed socket's last bytes have reached its peer.
  bool tcp_drained() const;
  /// Stops the receive thread and removes the netif.
  void stop();

  /// Installs `t` in the tunnel table and, when it is confirmed, sends the packets queued for
  /// its peer vIPs, under the lwIP core lock so no newer packet overtakes a queued one.
  void install_tunnel(std::shared_ptr<Tunnel> t);
  /// Sends a keep-alive: a data packet with an empty inner packet (docs/protocol.md §8). The
  /// initiator sends one right after install so the responder confirms the tunnel at once.
  void send_keepalive(Tunnel& t);
  /// Drops (and counts) the packets queued for `dst` after a failed negotiation.
  void drop_pending(const VipKey& dst);

  // send.cpp — called by lwIP with the core lock held.
  int output(pbuf* p, const VipKey& dst);

 private:
  void receive_loop();                                        // receive.cpp
  void send_inner(Tunnel& t, const uint8_t* ip, size_t len);  // send.cpp
  void flush_pending(Tunnel& t);                              // send.cpp; core lock held

  UdpTransport& udp_;
  TunnelTable& tunnels_;
  Stats& stats_;
  DataPlaneHooks hooks_;
  PendingQueue pending_;
  netif* netif_ = nullptr;
  /// Header room + largest inner packet + tag; used under the lwIP core lock only.
  std::array<uint8_t, proto::kSealedHeaderSize + 65535 + proto::kTagSize> send_buf_{};
  int stop_fd_ = -1;
  std::thread rx_thread_;
  /// Inner fragments waiting for their siblings; receive thread only.
  Reassembler reassembler_{stats_.drop_reassembly};
  std::array<uint8_t, Reassembler::kMaxDatagramSize> reassembled_{};  // receive thread only
};

}  // namespace ntm::packet
