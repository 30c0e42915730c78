#include "node/node.h"

#include "packet/lwip_c.h"  // C linkage for lwipopts.h before any lwIP header

#include "lwip/tcp.h"
#include "lwip/tcpip.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <future>

#include "node/log.h"

namespace ntm::node {
namespace {
std::atomic<Node*> g_node{nullptr};

/// NTM_TCP_CC=bbr|cubic|reno picks the TCP congestion controller of new connections (lwIP
/// patches, tcp_bbr.c, tcp_cc.c; bbr by default, libntm/lwip/lwipopts_tcp.h). For
/// comparisons. The choice is logged (info); an unknown name, or any name with an lwIP
/// without the patches, is ignored with a warning. On the library's logger (stderr), never
/// spdlog's default one, which writes to the application's stdout.
void choose_tcp_congestion_control() {
  const char* name = std::getenv("NTM_TCP_CC");
  if (!name) return;
#ifdef LWIP_TCP_NTM_CUBIC
  const tcp_cc_ops* ops = nullptr;
  for (const tcp_cc_ops* o : {&tcp_cc_cubic, &tcp_cc_reno, &tcp_cc_bbr})
    if (std::strcmp(o->name, name) == 0) ops = o;
  if (!ops) {
    ntm::log().warn("NTM_TCP_CC={}: unknown congestion controller, keeping {}", name,
                    tcp_cc_default->name);
    return;
  }
  LOCK_TCPIP_CORE();
  tcp_cc_default = ops;
  UNLOCK_TCPIP_CORE();
  ntm::log().info("TCP congestion control: {}", ops->name);
#else
  ntm::log().warn("NTM_TCP_CC={} ignored: this lwIP has no choice of congestion controller", name);
#endif
}

bool valid_label(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
  return true;
}
}  // namespace

Node* current() {
  return g_node.load(std::memory_order_acquire);
}
void set_current(Node* n) {
  g_node.store(n, std::memory_order_release);
}

int Node::start(const ntm_config& cfg, std::string& error) {
  crypto::init();
  if (!cfg.dc_address || !cfg.dc_public_key || !cfg.node_name || !cfg.state_dir) {
    error = "dc_address, dc_public_key, node_name and state_dir are required";
    return EINVAL;
  }
  negotiation::NegotiatorConfig nc;
  // One endpoint, or several separated by commas (the DC at an IPv4 and an IPv6 address).
  std::vector<proto::Endpoint> dcs;
  {
    std::string list = cfg.dc_address;
    size_t at = 0;
    while (dcs.size() <= 8) {
      size_t comma = list.find(',', at);
      auto dc = proto::Endpoint::parse(list.substr(at, comma - at));
      if (!dc) {
        error = std::string("bad dc_address '") + cfg.dc_address +
                "' (want ip:port or [ip6]:port, or several separated by commas)";
        return EINVAL;
      }
      dcs.push_back(*dc);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (dcs.size() > 8) {
      error = "dc_address: at most 8 endpoints";
      return EINVAL;
    }
  }
  auto dc_key = crypto::key_from_base64(cfg.dc_public_key);
  if (!dc_key) {
    error = "dc_public_key is not a 44-character base64 X25519 key";
    return EINVAL;
  }
  nc.node_name = cfg.node_name;
  for (auto& c : nc.node_name) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!valid_label(nc.node_name)) {
    error = "node_name must be one DNS label (letters, digits, '-', 1..63 chars)";
    return EINVAL;
  }
  if (bool(cfg.account) != bool(cfg.password)) {
    error = "account and password go together: give both or neither";
    return EINVAL;
  }
  if (cfg.account) {
    nc.account = cfg.account;
    nc.password = cfg.password;
    if (nc.account.empty() || nc.account.size() > 64 || nc.password.size() < 8 ||
        nc.password.size() > 256) {
      error = "account must be 1..64 bytes and password 8..256 bytes";
      return EINVAL;
    }
  }
  std::optional<proto::Endpoint> bind;
  if (cfg.bind_address) {
    bind = proto::Endpoint::parse(cfg.bind_address);
    if (!bind) {
      error = std::string("bad bind_address '") + cfg.bind_address + "'";
      return EINVAL;
    }
  }
  auto key = crypto::load_or_create_key(cfg.state_dir, "node.key", error);
  if (!key) return EIO;
  public_key = key->public_key;
  if (!udp.open(bind, error)) return EIO;
  // UDP GSO (UDP_SEGMENT): runs of equal-sized tunnel packets to one peer leave in one
  // message, which the kernel (or the NIC) splits into wire packets. On unless
  // NTM_UDP_GSO=0; a kernel that refuses it turns it off by itself (udp_transport.h).
  if (const char* g = std::getenv("NTM_UDP_GSO"); !g || std::strcmp(g, "0") != 0) udp.enable_gso();
  // UDP GRO: the kernel hands over datagrams of one flow coalesced (the receive loop splits
  // them again). On unless NTM_UDP_GRO=0.
  if (const char* g = std::getenv("NTM_UDP_GRO"); !g || std::strcmp(g, "0") != 0) udp.enable_gro();

  nc.dc_addresses = std::move(dcs);
  nc.dc_public_key = *dc_key;
  if (cfg.keepalive_interval_ms) nc.keepalive_interval_ms = cfg.keepalive_interval_ms;
  // NTM_WATCH_NETWORK=0: no rtnetlink watcher (docs/api.md "Moving between networks"); for
  // comparisons (bench/handover.sh) and sandboxes that log a refused netlink socket.
  // NTM_WATCH_NETWORK=poll: the fallback where rtnetlink is missing (a periodic check of the
  // host's addresses), chosen on purpose (tests, comparisons).
  if (const char* w = std::getenv("NTM_WATCH_NETWORK"); w && std::strcmp(w, "0") == 0)
    nc.watch_network = false;
  else if (w && std::strcmp(w, "poll") == 0)
    nc.poll_addresses = true;
  // NTM_NOTIFICATION=1: use the DC's Notification Server (docs/api.md); NTM_NS_PING_MS: the
  // ping interval on its connection (default 600000).
  if (const char* n = std::getenv("NTM_NOTIFICATION"); n && std::strcmp(n, "1") == 0)
    nc.notification = true;
  if (const char* p = std::getenv("NTM_NS_PING_MS")) {
    unsigned long ms = std::strtoul(p, nullptr, 10);
    if (ms < 1000 || ms > 86400000) {
      error = "NTM_NS_PING_MS must be 1000..86400000";
      return EINVAL;
    }
    nc.ns_ping_ms = uint32_t(ms);
  }
  if (cfg.rekey_after_ms) nc.rekey_after_ms = cfg.rekey_after_ms;
  if (cfg.rekey_after_messages) nc.rekey_after_messages = cfg.rekey_after_messages;
  nc.tunnel_timeout_ms =
      cfg.tunnel_timeout_ms ? cfg.tunnel_timeout_ms : 4 * nc.keepalive_interval_ms;
  if (nc.tunnel_timeout_ms < 2 * nc.keepalive_interval_ms) {
    error = "tunnel_timeout_ms must be at least twice keepalive_interval_ms";
    return EINVAL;
  }
  linger_ms_ = cfg.stop_linger_ms ? cfg.stop_linger_ms : kDefaultLingerMs;
  negotiator = std::make_unique<negotiation::Negotiator>(io, nc, *key, udp, tunnels, stats);
  packet::DataPlaneHooks hooks;
  hooks.on_missing_tunnel = [this](const packet::VipKey& dst) {
    asio::post(io, [this, dst] { negotiator->on_missing_tunnel(dst); });
  };
  hooks.on_control = [this](proto::Bytes d, const packet::Path& from) {
    // Bounded: a flood of control-looking datagrams must not queue without limit in front of
    // the negotiation thread (each one costs it at most a parse and one AEAD or DH).
    if (control_queued_.fetch_add(1, std::memory_order_relaxed) >= kMaxControlQueue) {
      control_queued_.fetch_sub(1, std::memory_order_relaxed);
      stats.drop_overload.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    asio::post(io, [this, d = std::move(d), from]() mutable {
      control_queued_.fetch_sub(1, std::memory_order_relaxed);
      negotiator->on_datagram(std::move(d), from);
    });
  };
  hooks.on_path_response = [this](uint32_t local_id, uint64_t token, const packet::Path& from) {
    asio::post(
        io, [this, local_id, token, from] { negotiator->on_path_response(local_id, token, from); });
  };
  hooks.on_roamed = [this](uint32_t local_id) {
    asio::post(io, [this, local_id] { negotiator->on_peer_moved(local_id, false); });
  };
  hooks.on_path_validated = [this](uint32_t local_id) {
    asio::post(io, [this, local_id] { negotiator->on_peer_moved(local_id, true); });
  };
  hooks.on_rekey_due = [this](uint32_t local_id) {
    asio::post(io, [this, local_id] { negotiator->on_rekey_due(local_id); });
  };
  hooks.on_confirmed = [this](std::shared_ptr<packet::Tunnel> t,
                              std::vector<std::shared_ptr<packet::Tunnel>> replaced) {
    asio::post(io, [this, t = std::move(t), replaced = std::move(replaced)] {
      negotiator->on_confirmed(t, replaced);
    });
  };
  data_plane = std::make_unique<packet::DataPlane>(udp, tunnels, stats, std::move(hooks));
  negotiator->set_data_plane(data_plane.get());

  // Handshake message 1 (with the registration request) leaves first, from the negotiation
  // thread, while this thread starts lwIP and the receive thread: the DC's answer costs a round
  // trip, and the start-up work is done inside it rather than before it. Nothing can lock
  // lwIP before it exists: the negotiation thread only touches lwIP for a tunnel, after the
  // registration response, which only the receive thread (started after lwIP) delivers.
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      io.get_executor());
  io_thread_ = std::thread([this] { io.run(); });
  auto done = std::make_shared<std::promise<std::pair<bool, std::string>>>();
  auto result = done->get_future();
  asio::post(io, [this, done] {
    negotiator->start([done](bool ok, std::string why) { done->set_value({ok, why}); });
  });
  if (!data_plane->start_receiver(error)) return EIO;
  choose_tcp_congestion_control();
  uint32_t timeout = cfg.start_timeout_ms ? cfg.start_timeout_ms : 5000;
  if (result.wait_for(std::chrono::milliseconds(timeout)) != std::future_status::ready) {
    error = "no registration response from the DC within " + std::to_string(timeout) + " ms";
    return ETIMEDOUT;
  }
  auto [ok, why] = result.get();
  if (!ok) {
    error = why;
    return why.rfind("no ", 0) == 0 ? ETIMEDOUT : negotiator->refusal_errno();
  }
  auto reg = negotiator->registration();
  data_plane->attach_netif(reg.vip4, reg.vip6);
  return 0;
}

LingerResult Node::stop() {
  // A userspace stack dies with its process: unlike a kernel socket, a closed connection's
  // unsent data and FIN would be lost if we tore the stack down at once. This wait happens
  // only at shutdown, never on the packet path (linger.h).
  LingerResult lingered;
  if (data_plane) lingered = linger(linger_ms_, std::min(linger_ms_, kLingerStallMs));
  if (negotiator) {
    std::promise<void> done;
    asio::post(io, [&] {
      negotiator->shutdown();
      done.set_value();
    });
    if (io_thread_.joinable()) done.get_future().wait();
  }
  if (data_plane) data_plane->stop();
  work_.reset();
  io.stop();
  if (io_thread_.joinable()) io_thread_.join();
  data_plane.reset();
  negotiator.reset();
  tunnels.clear();
  udp.close();
  return lingered;
}

}  // namespace ntm::node
