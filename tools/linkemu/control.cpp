#include "control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace ntm::linkemu {

namespace {

constexpr std::size_t kMaxMessage = 4096;

socklen_t abstract_address(const std::string& name, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  std::size_t n = std::min(name.size(), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path + 1, name.data(), n);  // sun_path[0] == 0: abstract
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

}  // namespace

int control_listen(const std::string& name) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  sockaddr_un addr;
  socklen_t len = abstract_address(name, addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 || ::listen(fd, 8) < 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

int control_accept(int listen_fd, std::string& request) {
  int conn = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -errno;
  // A client sends its request right after connecting; don't let a silent one stall us.
  pollfd p{conn, POLLIN, 0};
  if (::poll(&p, 1, 500) != 1) {
    ::close(conn);
    return -ETIMEDOUT;
  }
  char buf[kMaxMessage];
  ssize_t n = ::recv(conn, buf, sizeof buf, 0);
  if (n <= 0) {
    int err = n < 0 ? errno : ECONNRESET;
    ::close(conn);
    return -err;
  }
  request.assign(buf, static_cast<std::size_t>(n));
  return conn;
}

void control_reply(int conn, const std::string& reply) {
  ::send(conn, reply.data(), std::min(reply.size(), kMaxMessage), MSG_NOSIGNAL);
  ::close(conn);
}

int control_call(const std::string& name, const std::string& request, std::string& reply,
                 int timeout_ms) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un addr;
  socklen_t len = abstract_address(name, addr);
  int rc = 0;
  char buf[kMaxMessage];
  pollfd p{fd, POLLIN, 0};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    rc = -errno;
  } else if (::poll(&p, 1, timeout_ms) != 1) {
    rc = -ETIMEDOUT;
  } else if (ssize_t n = ::recv(fd, buf, sizeof buf, 0); n < 0) {
    rc = -errno;
  } else {
    reply.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return rc;
}

}  // namespace ntm::linkemu
