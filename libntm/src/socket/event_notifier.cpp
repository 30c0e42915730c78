#include "socket/event_notifier.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "packet/lwip_c.h"  // first: C linkage for lwipopts.h

#include "lwip/api.h"
#include "lwip/priv/sockets_priv.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"

namespace ntm::socket {
namespace {
std::atomic<int> g_event_fd{-1};
std::atomic<bool> g_signalled{false};
std::mutex g_open_mu;
netconn_callback g_lwip_callback = nullptr;  // lwIP's own socket event_callback

void on_netconn_event(struct netconn* conn, enum netconn_evt evt, u16_t len) {
  g_lwip_callback(conn, evt, len);
  // Only a socket becoming more ready wakes a waiter: data, send space, a connection, an end,
  // an error. Not RCVMINUS (data taken) or SENDMINUS (a send that did not fit, or filled the
  // buffer): a loop that clears, tries a send that does not fit and waits would wake at once,
  // and spin for as long as the peer does not read.
  if (evt == NETCONN_EVT_RCVMINUS || evt == NETCONN_EVT_SENDMINUS) return;
  int fd = g_event_fd.load(std::memory_order_relaxed);
  if (fd >= 0 && !g_signalled.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd, &one, sizeof one);
  }
}
}  // namespace

int event_fd_open() {
  std::lock_guard l(g_open_mu);
  int fd = g_event_fd.load();
  if (fd >= 0) return fd;
  fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return -1;
  g_signalled.store(false);
  g_event_fd.store(fd);
  return fd;
}

void event_fd_clear() {
  int fd = g_event_fd.load();
  if (fd < 0) return;
  uint64_t v;
  [[maybe_unused]] auto r = ::read(fd, &v, sizeof v);
  g_signalled.store(false, std::memory_order_release);
}

void event_fd_close() {
  std::lock_guard l(g_open_mu);
  int fd = g_event_fd.exchange(-1);
  if (fd >= 0) ::close(fd);
}

void event_hook_socket(int fd) {
  LOCK_TCPIP_CORE();
  struct lwip_sock* sock = lwip_socket_dbg_get_socket(fd);
  if (sock && sock->conn && sock->conn->callback) {
    if (!g_lwip_callback) g_lwip_callback = sock->conn->callback;
    // Accepted connections inherit the listener's callback, so hooking it covers them too.
    if (sock->conn->callback == g_lwip_callback) sock->conn->callback = on_netconn_event;
  }
  UNLOCK_TCPIP_CORE();
}

}  // namespace ntm::socket
