// The C API's node life cycle, names and statistics (ntm.h sections 1, 2 and 5).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>

#include "node/node.h"
#include "ntm/ntm.h"
#include "socket/event_notifier.h"
#include "socket/socket.h"

#include "packet/lwip_c.h"  // C linkage for lwipopts.h before any lwIP header

#include "lwip/tcp.h"
#include "lwip/tcpip.h"

namespace {
std::mutex g_lifecycle_mu;
std::unique_ptr<ntm::node::Node> g_owned;
thread_local std::string t_last_error;

/// lwIP's TCP loss-repair totals (libntm/lwip/patches), summed over the process's
/// connections; ntm_get_stats() reports them relative to ntm_start().
struct TcpRepair {
  uint64_t recovery = 0, tlp = 0, rto = 0, rto_events = 0;
};
TcpRepair g_tcp_at_start;
/// The stopped node's final counters (ntm_get_stats() after ntm_stop()), until ntm_start().
std::mutex g_final_mu;
std::optional<ntm_stats> g_final_stats;

TcpRepair tcp_repair_totals() {
  TcpRepair t;
#ifdef LWIP_TCP_NTM_SACK
  LOCK_TCPIP_CORE();
  t.recovery = tcp_ntm_totals.rexmit_recovery;
  t.tlp = tcp_ntm_totals.rexmit_tlp;
  t.rto = tcp_ntm_totals.rexmit_rto;
  t.rto_events = tcp_ntm_totals.rto_events;
  UNLOCK_TCPIP_CORE();
#endif
  return t;
}

/// The node's counters and gauges, as ntm_get_stats() reports them.
void fill_stats(ntm::node::Node& n, ntm_stats& stats) {
  n.stats.copy_to(stats);
  TcpRepair t = tcp_repair_totals();
  stats.tcp_rexmit_recovery = t.recovery - g_tcp_at_start.recovery;
  stats.tcp_rexmit_tlp = t.tlp - g_tcp_at_start.tlp;
  stats.tcp_rexmit_rto = t.rto - g_tcp_at_start.rto;
  stats.tcp_rto_events = t.rto_events - g_tcp_at_start.rto_events;
  stats.tunnels_open = n.tunnels.size();
  stats.relay_sessions_open = n.tunnels.relay_sessions();
  stats.negotiations_open = n.negotiator ? n.negotiator->negotiations_open() : 0;
  stats.sockets_open = ntm::socket::open_sockets();
}

int fail(int err, std::string text = {}) {
  t_last_error = std::move(text);
  errno = err;
  return -1;
}

bool write_addr(int family, const void* ip, uint16_t port_host, struct sockaddr* addr,
                socklen_t* len) {
  if (!addr || !len) return false;
  if (family == AF_INET) {
    if (*len < sizeof(sockaddr_in)) return false;
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port_host);
    std::memcpy(&s.sin_addr, ip, 4);
    std::memcpy(addr, &s, sizeof s);
    *len = sizeof s;
    return true;
  }
  if (*len < sizeof(sockaddr_in6)) return false;
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port_host);
  std::memcpy(&s.sin6_addr, ip, 16);
  std::memcpy(addr, &s, sizeof s);
  *len = sizeof s;
  return true;
}
}  // namespace

extern "C" {

void ntm_config_init(struct ntm_config* cfg) {
  std::memset(cfg, 0, sizeof *cfg);
}

int ntm_start(const struct ntm_config* cfg) {
  std::lock_guard l(g_lifecycle_mu);
  if (g_owned) return fail(EALREADY, "a node is already running in this process");
  if (!cfg) return fail(EINVAL, "config is NULL");
  auto n = std::make_unique<ntm::node::Node>();
  ntm::socket::set_socket_limit(cfg->max_sockets);
  std::string error;
  if (int err = n->start(*cfg, error)) {
    // Tear the half-started node down before errno is set: its destructor stops asio's loop,
    // whose wake-up descriptor is drained until EAGAIN, and errno would say EAGAIN instead.
    n.reset();
    return fail(err, error);
  }
  t_last_error.clear();
  g_owned = std::move(n);
  g_tcp_at_start = tcp_repair_totals();
  {
    std::lock_guard f(g_final_mu);
    g_final_stats.reset();
  }
  ntm::node::set_current(g_owned.get());
  return 0;
}

int ntm_stop(void) {
  std::lock_guard l(g_lifecycle_mu);
  if (!g_owned) return fail(ENOTCONN, "no node is running");
  ntm::socket::close_all_sockets();
  ntm::node::set_current(nullptr);
  ntm::node::LingerResult lingered = g_owned->stop();
  {
    // What the node did up to the end of its linger, for ntm_get_stats() from now on: an
    // app that prints its counters at exit sees the data that left during the linger.
    ntm_stats final{};
    fill_stats(*g_owned, final);
    std::lock_guard f(g_final_mu);
    g_final_stats = final;
  }
  g_owned.reset();
  ntm::socket::event_fd_close();
  if (!lingered.left.empty()) return fail(ETIMEDOUT, lingered.describe());
  t_last_error.clear();
  return 0;
}

const char* ntm_last_error(void) {
  return t_last_error.c_str();
}

int ntm_get_vip(int family, struct sockaddr* addr, socklen_t* addrlen) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  auto reg = n->negotiator->registration();
  if (family == AF_INET && reg.vip4) {
    if (!write_addr(AF_INET, &*reg.vip4, 0, addr, addrlen)) return fail(EINVAL);
    return 0;
  }
  if (family == AF_INET6 && reg.vip6) {
    if (!write_addr(AF_INET6, reg.vip6->data(), 0, addr, addrlen)) return fail(EINVAL);
    return 0;
  }
  return fail(EAFNOSUPPORT);
}

int ntm_get_fqdn(char* buf, size_t len) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  auto reg = n->negotiator->registration();
  if (!buf || len < reg.fqdn.size() + 1) return fail(ERANGE);
  std::memcpy(buf, reg.fqdn.c_str(), reg.fqdn.size() + 1);
  return 0;
}

int ntm_getaddrinfo(const char* name, int family, uint16_t port, struct sockaddr* addr,
                    socklen_t* addrlen) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN, "node not started");
  if (!name || std::strlen(name) > 253) return fail(EINVAL, "invalid name");
  if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC)
    return fail(EAFNOSUPPORT, "family must be AF_INET, AF_INET6 or AF_UNSPEC");
  auto done = std::make_shared<std::promise<ntm::negotiation::Resolution>>();
  auto result = done->get_future();
  std::string nm = name;
  asio::post(n->io, [n, nm, done] {
    n->negotiator->resolve(nm, [done](ntm::negotiation::Resolution r) { done->set_value(r); });
  });
  // The DC answers or gives up within the retransmission policy (about 6 s); this bound
  // only guards against a stopped node.
  if (result.wait_for(std::chrono::seconds(15)) != std::future_status::ready)
    return fail(ETIMEDOUT, "no direction response");
  auto r = result.get();
  if (r.error) return fail(r.error, r.error_text);
  bool ok;
  if ((family == AF_INET || family == AF_UNSPEC) && r.vip4) {
    ok = write_addr(AF_INET, &*r.vip4, port, addr, addrlen);
  } else if ((family == AF_INET6 || family == AF_UNSPEC) && r.vip6) {
    ok = write_addr(AF_INET6, r.vip6->data(), port, addr, addrlen);
  } else {
    return fail(EAFNOSUPPORT, std::string(name) + " has no vIP of the requested family");
  }
  if (!ok) return fail(EINVAL, "address buffer too small");
  t_last_error.clear();
  return 0;
}

int ntm_wait_tunnel(const struct sockaddr* addr, socklen_t addrlen, int timeout_ms) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  if (!addr) return fail(EINVAL);
  ntm::packet::VipKey key;
  if (addr->sa_family == AF_INET && addrlen >= sizeof(sockaddr_in)) {
    key = ntm::packet::VipKey(
        reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr), 4);
  } else if (addr->sa_family == AF_INET6 && addrlen >= sizeof(sockaddr_in6)) {
    key = ntm::packet::VipKey(
        reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr), 16);
  } else {
    return fail(EINVAL);
  }
  return n->negotiator->wait_tunnel(key, timeout_ms) ? 0 : fail(ETIMEDOUT);
}

int ntm_get_path(const struct sockaddr* addr, socklen_t addrlen, struct ntm_path_info* info) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  if (!addr || !info) return fail(EINVAL);
  ntm::packet::VipKey key;
  if (addr->sa_family == AF_INET && addrlen >= sizeof(sockaddr_in)) {
    key = ntm::packet::VipKey(
        reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr), 4);
  } else if (addr->sa_family == AF_INET6 && addrlen >= sizeof(sockaddr_in6)) {
    key = ntm::packet::VipKey(
        reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr), 16);
  } else {
    return fail(EINVAL);
  }
  auto done = std::make_shared<std::promise<std::optional<ntm::negotiation::PathInfo>>>();
  auto result = done->get_future();
  asio::post(n->io, [n, key, done] { done->set_value(n->negotiator->path_info(key)); });
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return fail(ENOTCONN);
  auto p = result.get();
  if (!p) return fail(ENOTCONN, "no tunnel to that vIP");
  std::memset(info, 0, sizeof *info);
  info->kind = p->kind;
  std::memcpy(&info->address, p->address.sa(), p->address.sa_len());
  info->address_len = p->address.sa_len();
  return 0;
}

int ntm_get_node_key(char* buf, size_t len) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  std::string k = ntm::crypto::key_to_base64(n->public_key);
  if (!buf || len < k.size() + 1) return fail(ERANGE);
  std::memcpy(buf, k.c_str(), k.size() + 1);
  return 0;
}

int ntm_pin_peer(const char* name, const char* public_key) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  if (!name || !*name || std::strlen(name) > 253) return fail(EINVAL, "invalid name");
  std::optional<ntm::crypto::Key> key;
  if (public_key) {
    key = ntm::crypto::key_from_base64(public_key);
    if (!key) return fail(EINVAL, "public_key is not a 44-character base64 X25519 key");
  }
  // The same canonical forms the negotiator compares: lower-case FQDN without a trailing dot,
  // or inet_ntop's text of a numeric vIP.
  std::string canon = name;
  for (auto& c : canon) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!canon.empty() && canon.back() == '.') canon.pop_back();
  unsigned char raw[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, canon.c_str(), raw) == 1) {
    canon = inet_ntop(AF_INET, raw, text, sizeof text);
  } else if (inet_pton(AF_INET6, canon.c_str(), raw) == 1) {
    canon = inet_ntop(AF_INET6, raw, text, sizeof text);
  }
  n->negotiator->pin(canon, key);
  return 0;
}

int ntm_get_peer_key(const struct sockaddr* addr, socklen_t addrlen, char* buf, size_t len) {
  auto* n = ntm::node::current();
  if (!n) return fail(ENOTCONN);
  std::shared_ptr<ntm::packet::Tunnel> t;
  if (addr && addr->sa_family == AF_INET && addrlen >= sizeof(sockaddr_in)) {
    t = n->tunnels.find_by_vip4(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr);
  } else if (addr && addr->sa_family == AF_INET6 && addrlen >= sizeof(sockaddr_in6)) {
    ntm::packet::Vip6 v;
    std::memcpy(v.data(), &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
    t = n->tunnels.find_by_vip6(v);
  } else {
    return fail(EINVAL);
  }
  if (!t) return fail(ENOTCONN, "no tunnel to that vIP");
  std::string k = ntm::crypto::key_to_base64(t->peer_static);
  if (!buf || len < k.size() + 1) return fail(ERANGE);
  std::memcpy(buf, k.c_str(), k.size() + 1);
  return 0;
}

int ntm_get_stats(struct ntm_stats* stats) {
  auto* n = ntm::node::current();
  if (!n) {
    std::lock_guard f(g_final_mu);
    if (!g_final_stats) return fail(ENOTCONN);
    if (!stats) return fail(EINVAL);
    *stats = *g_final_stats;  // the last node's, as ntm_stop() left it
    return 0;
  }
  if (!stats) return fail(EINVAL);
  fill_stats(*n, *stats);
  return 0;
}

}  // extern "C"
