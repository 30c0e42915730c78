// ntm_* socket calls: BSD semantics over lwIP's socket layer, which runs each call in the
// calling thread under lwIP's core lock (LWIP_TCPIP_CORE_LOCKING) and sets the thread's errno.
// What we add: the node must be running, sockets are tracked so ntm_stop() closes them, and
// every socket's events feed ntm_event_fd().
#include <fcntl.h>

#include <cerrno>
#include <mutex>
#include <set>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/sockets.h"
#include "node/node.h"
#include "ntm/ntm.h"
#include "socket/event_notifier.h"

namespace ntm::socket {
namespace {
std::mutex g_mu;
std::set<int> g_sockets;  // guarded by g_mu

int track(int fd) {
  if (fd < 0) return fd;
  event_hook_socket(fd);
  std::lock_guard l(g_mu);
  g_sockets.insert(fd);
  return fd;
}
}  // namespace

void close_all_sockets() {
  std::set<int> all;
  {
    std::lock_guard l(g_mu);
    all.swap(g_sockets);
  }
  for (int fd : all) lwip_close(fd);
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
  return ntm::socket::track(lwip_socket(domain, type, protocol));
}

int ntm_bind(int fd, const struct sockaddr* addr, socklen_t len) {
  NTM_REQUIRE_NODE();
  return lwip_bind(fd, addr, len);
}

int ntm_listen(int fd, int backlog) {
  NTM_REQUIRE_NODE();
  return lwip_listen(fd, backlog);
}

int ntm_accept(int fd, struct sockaddr* addr, socklen_t* len) {
  NTM_REQUIRE_NODE();
  return ntm::socket::track(lwip_accept(fd, addr, len));
}

int ntm_connect(int fd, const struct sockaddr* addr, socklen_t len) {
  NTM_REQUIRE_NODE();
  return lwip_connect(fd, addr, len);
}

ssize_t ntm_send(int fd, const void* buf, size_t len, int flags) {
  NTM_REQUIRE_NODE();
  return lwip_send(fd, buf, len, flags);
}

ssize_t ntm_recv(int fd, void* buf, size_t len, int flags) {
  NTM_REQUIRE_NODE();
  return lwip_recv(fd, buf, len, flags);
}

ssize_t ntm_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr,
                   socklen_t addrlen) {
  NTM_REQUIRE_NODE();
  return lwip_sendto(fd, buf, len, flags, addr, addrlen);
}

ssize_t ntm_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* addr,
                     socklen_t* addrlen) {
  NTM_REQUIRE_NODE();
  return lwip_recvfrom(fd, buf, len, flags, addr, addrlen);
}

int ntm_shutdown(int fd, int how) {
  NTM_REQUIRE_NODE();
  return lwip_shutdown(fd, how);
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
