// ntm_* socket calls: BSD semantics over lwIP's socket layer, which runs each call in the
// calling thread under lwIP's core lock (LWIP_TCPIP_CORE_LOCKING) and sets the thread's errno.
// What we add:
//  - the node must be running (ENOTCONN otherwise);
//  - sockets are tracked, so ntm_stop() closes them and the table has a size (ENFILE beyond
//    it; lwIP's own list is unbounded);
//  - where lwIP departs from BSD, the BSD answer: datagrams larger than one IP packet fail
//    with EMSGSIZE, sending on an unconnected datagram socket with EDESTADDRREQ, sending after
//    shutdown(SHUT_WR) with EPIPE, a refused connect(2) with ECONNREFUSED (lwIP says
//    ECONNRESET), binding an address that is not this node's with EADDRNOTAVAIL, a socket
//    type or protocol lwIP cannot serve with EPROTONOSUPPORT — where lwIP would send to
//    0.0.0.0, drop silently, or accept;
//  - every socket's events feed ntm_event_fd().
#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/sockets.h"
#include "node/node.h"
#include "ntm/ntm.h"
#include "socket/event_notifier.h"
#include "socket/socket.h"

namespace ntm::socket {
namespace {

/// What we know about an open socket beyond lwIP.
struct Info {
  int domain = 0, type = 0;
  bool connected = false;  ///< datagram sockets: connect() succeeded (a default destination)
  bool shut_wr = false;    ///< stream sockets: shutdown(SHUT_WR or SHUT_RDWR) succeeded
  bool eof = false;        ///< stream sockets: a read returned the end of the stream
};

std::mutex g_mu;
std::map<int, Info> g_sockets;        // guarded by g_mu
size_t g_reserved = 0;                // guarded by g_mu: ntm_socket() calls in progress
size_t g_limit = kDefaultMaxSockets;  // guarded by g_mu

/// Takes a slot in the table for a socket about to be created; false when it is full.
bool reserve() {
  std::lock_guard l(g_mu);
  if (g_sockets.size() + g_reserved >= g_limit) return false;
  ++g_reserved;
  return true;
}

/// Records `fd` (or gives the reserved slot back when creation failed).
int track(int fd, Info info, bool reserved) {
  if (fd >= 0) event_hook_socket(fd);
  std::lock_guard l(g_mu);
  if (reserved) --g_reserved;
  if (fd >= 0) g_sockets[fd] = info;
  return fd;
}

std::optional<Info> lookup(int fd) {
  std::lock_guard l(g_mu);
  auto it = g_sockets.find(fd);
  if (it == g_sockets.end()) return std::nullopt;
  return it->second;
}

template <typename F>
void update(int fd, F f) {
  std::lock_guard l(g_mu);
  auto it = g_sockets.find(fd);
  if (it != g_sockets.end()) f(it->second);
}

/// The largest payload one datagram of this kind can carry: an IPv4 packet holds 65,535
/// bytes with its 20-byte header; lwIP's packet length is 16 bits, so an IPv6 packet holds
/// 65,535 bytes including its 40-byte header (the kernel allows 65,575 there).
size_t max_datagram(const Info& i) {
  size_t ip = i.domain == AF_INET6 ? 40 : 20;
  size_t transport = i.type == SOCK_DGRAM ? 8 : 0;
  return 65535 - ip - transport;
}

/// EAFNOSUPPORT for an address an IPv4 socket cannot use (an IPv6 socket takes both, as on
/// Linux), else 0.
int family_check(const Info& info, const struct sockaddr* addr) {
  return addr && info.domain == AF_INET && addr->sa_family != AF_INET &&
                 addr->sa_family != AF_UNSPEC
             ? EAFNOSUPPORT
             : 0;
}

/// 0, or the errno BSD gives before anything is sent: EMSGSIZE, EDESTADDRREQ, EPIPE,
/// EAFNOSUPPORT.
int send_check(int fd, size_t len, const struct sockaddr* to) {
  auto info = lookup(fd);
  if (!info) return 0;  // lwIP answers EBADF
  if (info->type == SOCK_STREAM) return info->shut_wr ? EPIPE : 0;
  if (len > max_datagram(*info)) return EMSGSIZE;
  if (!to && !info->connected) return EDESTADDRREQ;
  return family_check(*info, to);
}

/// recv on a stream socket, with what lwIP's socket layer leaves out of BSD's:
/// - MSG_WAITALL, which lwIP ignores (it returns what its first pass found; the flag's value
///   is Linux's, 0x100, passed through unread): as on Linux, waits until `len` bytes came, the
///   stream ended, an error, a wait of SO_RCVTIMEO for more, or — on a non-blocking socket or
///   with MSG_DONTWAIT — nothing more is there; returns what came, or -1 with errno if nothing
///   did. With MSG_PEEK it reads once, as on Linux.
/// - after the end of the stream, every read returns 0 (lwIP returns it once, then -1 with
///   ENOTCONN): `eof` is set when this read saw it.
ssize_t recv_stream(int fd, void* buf, size_t len, int flags, struct sockaddr* from,
                    socklen_t* fromlen, bool& eof) {
  if (!(flags & MSG_WAITALL)) {
    ssize_t n = lwip_recvfrom(fd, buf, len, flags, from, fromlen);
    eof = n == 0 && len > 0;
    return n;
  }
  flags &= ~MSG_WAITALL;
  auto* out = static_cast<uint8_t*>(buf);
  size_t got = 0;
  do {
    ssize_t n = lwip_recvfrom(fd, out + got, len - got, flags, got ? nullptr : from,
                              got ? nullptr : fromlen);
    if (n < 0) return got ? ssize_t(got) : -1;
    if (n == 0) {
      eof = len > 0;
      break;
    }
    got += size_t(n);
  } while (got < len && !(flags & MSG_PEEK));
  return ssize_t(got);
}

bool protocol_supported(int domain, int type, int protocol) {
  switch (type) {
    case SOCK_STREAM:
      return protocol == 0 || protocol == IPPROTO_TCP;
    case SOCK_DGRAM:
      return protocol == 0 || protocol == IPPROTO_UDP;
    case SOCK_RAW:
      return (domain == AF_INET && protocol == IPPROTO_ICMP) ||
             (domain == AF_INET6 && protocol == IPPROTO_ICMPV6);
    default:
      return false;
  }
}

/// EINVAL for a malformed address, EADDRNOTAVAIL for one that is not this node's, else 0.
int bind_check(const struct sockaddr* addr, socklen_t len) {
  if (!addr) return EINVAL;
  auto reg = node::current()->negotiator->registration();
  auto own4 = [&](const void* a) {
    uint32_t v;
    std::memcpy(&v, a, 4);
    return v == INADDR_ANY || (reg.vip4 && v == *reg.vip4);
  };
  if (addr->sa_family == AF_INET) {
    if (len < sizeof(sockaddr_in)) return EINVAL;
    return own4(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr) ? 0 : EADDRNOTAVAIL;
  }
  if (addr->sa_family == AF_INET6) {
    if (len < sizeof(sockaddr_in6)) return EINVAL;
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(&a)) return 0;
    if (IN6_IS_ADDR_V4MAPPED(&a)) return own4(&a.s6_addr[12]) ? 0 : EADDRNOTAVAIL;
    return reg.vip6 && std::memcmp(a.s6_addr, reg.vip6->data(), 16) == 0 ? 0 : EADDRNOTAVAIL;
  }
  return 0;  // lwIP answers for other families
}
}  // namespace

void set_socket_limit(size_t max_sockets) {
  std::lock_guard l(g_mu);
  g_limit = max_sockets ? max_sockets : kDefaultMaxSockets;
}

void close_all_sockets() {
  std::map<int, Info> all;
  {
    std::lock_guard l(g_mu);
    all.swap(g_sockets);
  }
  for (auto& [fd, info] : all) lwip_close(fd);
}

size_t open_sockets() {
  std::lock_guard l(g_mu);
  return g_sockets.size();
}

}  // namespace ntm::socket

using ntm::node::current;

#define NTM_REQUIRE_NODE() \
  do {                     \
    if (!current()) {      \
      errno = ENOTCONN;    \
      return -1;           \
    }                      \
  } while (0)

extern "C" {

int ntm_socket(int domain, int type, int protocol) {
  NTM_REQUIRE_NODE();
  if (domain != AF_INET && domain != AF_INET6) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  if (!ntm::socket::protocol_supported(domain, type, protocol)) {
    errno =
        (type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_RAW) ? EPROTONOSUPPORT : EINVAL;
    return -1;
  }
  if (!ntm::socket::reserve()) {
    errno = ENFILE;
    return -1;
  }
  return ntm::socket::track(lwip_socket(domain, type, protocol), {domain, type, false, false},
                            true);
}

int ntm_bind(int fd, const struct sockaddr* addr, socklen_t len) {
  NTM_REQUIRE_NODE();
  auto info = ntm::socket::lookup(fd);
  if (!info) {
    errno = EBADF;
    return -1;
  }
  if (int err = ntm::socket::bind_check(addr, len)) {
    errno = err;
    return -1;
  }
  if (int err = ntm::socket::family_check(*info, addr)) {
    errno = err;
    return -1;
  }
  return lwip_bind(fd, addr, len);
}

int ntm_listen(int fd, int backlog) {
  NTM_REQUIRE_NODE();
  return lwip_listen(fd, backlog);
}

int ntm_accept(int fd, struct sockaddr* addr, socklen_t* len) {
  NTM_REQUIRE_NODE();
  ntm::socket::Info info{AF_INET, SOCK_STREAM, true, false};
  {
    // A full table leaves the connection queued, as the kernel does.
    std::lock_guard l(ntm::socket::g_mu);
    auto it = ntm::socket::g_sockets.find(fd);
    if (it != ntm::socket::g_sockets.end()) info.domain = it->second.domain;
    if (ntm::socket::g_sockets.size() + ntm::socket::g_reserved >= ntm::socket::g_limit) {
      errno = ENFILE;
      return -1;
    }
  }
  return ntm::socket::track(lwip_accept(fd, addr, len), info, false);
}

int ntm_connect(int fd, const struct sockaddr* addr, socklen_t len) {
  NTM_REQUIRE_NODE();
  auto info = ntm::socket::lookup(fd);
  if (int err = info ? ntm::socket::family_check(*info, addr) : 0) {
    errno = err;
    return -1;
  }
  int rc = lwip_connect(fd, addr, len);
  if (rc == 0 && info && info->type != SOCK_STREAM)
    ntm::socket::update(fd, [](auto& i) { i.connected = true; });
  if (rc != 0 && errno == ECONNRESET && info && info->type == SOCK_STREAM)
    errno = ECONNREFUSED;  // the peer answered the SYN with a reset
  return rc;
}

ssize_t ntm_send(int fd, const void* buf, size_t len, int flags) {
  NTM_REQUIRE_NODE();
  if (int err = ntm::socket::send_check(fd, len, nullptr)) {
    errno = err;
    return -1;
  }
  return lwip_send(fd, buf, len, flags);
}

ssize_t ntm_recv(int fd, void* buf, size_t len, int flags) {
  return ntm_recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

ssize_t ntm_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr,
                   socklen_t addrlen) {
  NTM_REQUIRE_NODE();
  if (int err = ntm::socket::send_check(fd, len, addr)) {
    errno = err;
    return -1;
  }
  return lwip_sendto(fd, buf, len, flags, addr, addrlen);
}

ssize_t ntm_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* addr,
                     socklen_t* addrlen) {
  NTM_REQUIRE_NODE();
  auto info = ntm::socket::lookup(fd);
  if (!info || info->type != SOCK_STREAM) return lwip_recvfrom(fd, buf, len, flags, addr, addrlen);
  if (info->eof && len > 0) return 0;
  bool eof = false;
  ssize_t n = ntm::socket::recv_stream(fd, buf, len, flags, addr, addrlen, eof);
  if (eof) ntm::socket::update(fd, [](auto& i) { i.eof = true; });
  return n;
}

int ntm_shutdown(int fd, int how) {
  NTM_REQUIRE_NODE();
  int rc = lwip_shutdown(fd, how);
  if (rc == 0 && (how == SHUT_WR || how == SHUT_RDWR))
    ntm::socket::update(fd, [](auto& i) { i.shut_wr = true; });
  return rc;
}

int ntm_close(int fd) {
  NTM_REQUIRE_NODE();
  {
    std::lock_guard l(ntm::socket::g_mu);
    if (!ntm::socket::g_sockets.erase(fd)) {
      errno = EBADF;
      return -1;
    }
  }
  return lwip_close(fd);
}

int ntm_setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) {
  NTM_REQUIRE_NODE();
  return lwip_setsockopt(fd, level, optname, optval, optlen);
}

int ntm_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  NTM_REQUIRE_NODE();
  return lwip_getsockopt(fd, level, optname, optval, optlen);
}

int ntm_fcntl(int fd, int cmd, int flags) {
  NTM_REQUIRE_NODE();
  if (cmd != F_GETFL && cmd != F_SETFL) {
    errno = EINVAL;
    return -1;
  }
  if (cmd == F_SETFL && (flags & ~O_NONBLOCK)) {
    errno = EINVAL;
    return -1;
  }
  return lwip_fcntl(fd, cmd, flags);
}

int ntm_getsockname(int fd, struct sockaddr* addr, socklen_t* len) {
  NTM_REQUIRE_NODE();
  return lwip_getsockname(fd, addr, len);
}

int ntm_getpeername(int fd, struct sockaddr* addr, socklen_t* len) {
  NTM_REQUIRE_NODE();
  return lwip_getpeername(fd, addr, len);
}

int ntm_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  NTM_REQUIRE_NODE();
  return lwip_poll(fds, nfds, timeout_ms);
}

int ntm_event_fd(void) {
  NTM_REQUIRE_NODE();
  int fd = ntm::socket::event_fd_open();
  if (fd < 0) errno = EMFILE;
  return fd;
}

int ntm_event_clear(void) {
  NTM_REQUIRE_NODE();
  ntm::socket::event_fd_clear();
  return 0;
}

}  // extern "C"
