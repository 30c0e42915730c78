// lwIP side of the data plane: starting the stack once per process, the tunnel netif and its
// output functions, and DataPlane's life cycle.
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"
#include "packet/data_plane.h"

namespace ntm::packet {
namespace {

// lwIP has global state and cannot be shut down: it is started on the first ntm_start() and
// lives for the rest of the process; later nodes reuse it with a fresh netif.
void start_lwip_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    struct Ctx {
      std::mutex* mu;
      std::condition_variable* cv;
      bool* done;
    } ctx{&mu, &cv, &done};
    tcpip_init(
        [](void* arg) {
          auto* c = static_cast<Ctx*>(arg);
          std::lock_guard l(*c->mu);
          *c->done = true;
          c->cv->notify_one();
        },
        &ctx);
    std::unique_lock l(mu);
    cv.wait(l, [&] { return done; });
  });
}

struct netif g_netif;

err_t output4(struct netif* n, struct pbuf* p, const ip4_addr_t* dst) {
  auto* dp = static_cast<DataPlane*>(n->state);
  return err_t(dp->output(p, vip_key4(ip4_addr_get_u32(dst))));
}

err_t output6(struct netif* n, struct pbuf* p, const ip6_addr_t* dst) {
  auto* dp = static_cast<DataPlane*>(n->state);
  Vip6 v;
  std::memcpy(v.data(), dst->addr, 16);
  return err_t(dp->output(p, vip_key6(v)));
}

err_t netif_init_fn(struct netif* n) {
  n->name[0] = 'n';
  n->name[1] = 't';
  n->output = output4;
  n->output_ip6 = output6;
  n->mtu = proto::kTunnelMtu;
  n->mtu6 = proto::kTunnelMtu;
  n->flags = NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

}  // namespace

void Stats::copy_to(ntm_stats& s) const {
  s.tx_packets = tx_packets, s.tx_bytes = tx_bytes, s.rx_packets = rx_packets;
  s.rx_bytes = rx_bytes, s.drop_malformed = drop_malformed;
  s.drop_unknown_tunnel = drop_unknown_tunnel, s.drop_auth = drop_auth;
  s.drop_replay = drop_replay, s.drop_too_old = drop_too_old, s.drop_spoofed = drop_spoofed;
  s.drop_no_tunnel = drop_no_tunnel, s.drop_control = drop_control;
  s.drop_reassembly = drop_reassembly, s.tx_keepalives = tx_keepalives;
  s.tunnels_established = tunnels_established, s.roams = roams;
  s.drop_overload = drop_overload, s.drop_unvalidated_path = drop_unvalidated_path;
  s.path_challenges = path_challenges, s.paths_validated = paths_validated;
  s.rekeys = rekeys, s.tunnels_expired = tunnels_expired, s.tunnels_refused = tunnels_refused;
  s.drop_relay = drop_relay, s.tx_relayed = tx_relayed, s.path_switches = path_switches;
  s.relay_binds = relay_binds, s.punches_sent = punches_sent;
  s.punches_received = punches_received;
}

DataPlane::DataPlane(UdpTransport& udp, TunnelTable& tunnels, Stats& stats, DataPlaneHooks hooks)
    : udp_(udp), tunnels_(tunnels), stats_(stats), hooks_(std::move(hooks)) {}

DataPlane::~DataPlane() {
  stop();
}

bool DataPlane::start_receiver(std::string& error) {
  // lwIP (and its core lock) must exist before any thread can take that lock: the receive
  // thread, and the negotiation thread installing a tunnel for a route direction that can
  // arrive right after registration, before attach_netif().
  start_lwip_once();
#ifdef NTM_LWIP_UNLOCK_HOOK
  // From here on, every release of the core lock sends what this data plane queued under it.
  LOCK_TCPIP_CORE();
  lwip_port_set_core_unlock_hook([](void* dp) { static_cast<DataPlane*>(dp)->flush_tx(); }, this);
  UNLOCK_TCPIP_CORE();
#endif
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    error = "eventfd failed";
    return false;
  }
  rx_thread_ = std::thread([this] { receive_loop(); });
  return true;
}

void DataPlane::attach_netif(std::optional<uint32_t> vip4, std::optional<Vip6> vip6) {
  LOCK_TCPIP_CORE();
  ip4_addr_t addr, mask, gw;
  ip4_addr_set_u32(&addr, vip4 ? *vip4 : 0);
  ip4_addr_set_u32(&mask, vip4 ? 0xffffffffu : 0);
  ip4_addr_set_zero(&gw);
  std::memset(&g_netif, 0, sizeof g_netif);
  // Input is fed by our receive thread under the core lock (ip_input), not through tcpip_input.
  netif_add(&g_netif, &addr, &mask, &gw, this, netif_init_fn, ip_input);
  if (vip6) {
    ip6_addr_t a6;
    std::memcpy(a6.addr, vip6->data(), 16);
    ip6_addr_clear_zone(&a6);
    s8_t idx = -1;
    netif_add_ip6_address(&g_netif, &a6, &idx);
    // The vIP is unique by construction (the DC's pool): no duplicate address detection.
    if (idx >= 0) netif_ip6_addr_set_state(&g_netif, idx, IP6_ADDR_PREFERRED);
  }
  netif_set_default(&g_netif);
  netif_set_up(&g_netif);
  netif_ = &g_netif;
  UNLOCK_TCPIP_CORE();
}

void DataPlane::stop() {
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(stop_fd_, &one, sizeof one);
  }
  if (rx_thread_.joinable()) rx_thread_.join();
  if (stop_fd_ >= 0) {  // started: lwIP and its core lock exist
    LOCK_TCPIP_CORE();
    flush_tx();
#ifdef NTM_LWIP_UNLOCK_HOOK
    if (lwip_port_core_unlock_hook_arg() == this) lwip_port_set_core_unlock_hook(nullptr, nullptr);
#endif
    UNLOCK_TCPIP_CORE();
  }
  if (netif_) {
    LOCK_TCPIP_CORE();
    netif_set_down(netif_);
    netif_remove(netif_);
    UNLOCK_TCPIP_CORE();
    netif_ = nullptr;
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  stop_fd_ = -1;
  pending_.clear();
}

}  // namespace ntm::packet
