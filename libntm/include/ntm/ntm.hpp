// ntm.hpp — thin C++ RAII wrappers over ntm.h. Errors at set-up throw std::system_error
// carrying the errno and ntm_last_error(); everything else stays with the C calls.
//
//   ntm::Node node(cfg);                       // ntm_start(), ntm_stop() in the destructor
//   ntm::Socket s(AF_INET, SOCK_STREAM);       // ntm_socket(), ntm_close() in the destructor
//   ntm_connect(s.fd(), ...);
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "ntm/ntm.h"

namespace ntm {

/// The process's node for the lifetime of this object (one at a time per process).
class Node {
 public:
  explicit Node(const ntm_config& cfg) {
    if (ntm_start(&cfg) != 0) throw error("ntm_start");
  }
  ~Node() { ntm_stop(); }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// This node's FQDN ("<name>.<dc domain>").
  std::string fqdn() const {
    char buf[256];
    if (ntm_get_fqdn(buf, sizeof buf) != 0) throw error("ntm_get_fqdn");
    return buf;
  }

  static std::system_error error(const char* what) {
    int e = errno;
    std::string text = std::string(what) + ": " + ntm_last_error();
    return std::system_error(e, std::generic_category(), text);
  }
};

/// An owned ntm socket descriptor; move-only.
class Socket {
 public:
  Socket(int domain, int type, int protocol = 0) : fd_(ntm_socket(domain, type, protocol)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "ntm_socket");
  }
  /// Adopts a descriptor from ntm_accept().
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { reset(); }
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  /// Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ntm_close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace ntm
