// A C++ application embedding libntm through ntm/ntm.hpp, built by tests/consumer/consumer.sh
// three ways (add_subdirectory, find_package, pkg-config). The same tiny netcat as ../c/app.c:
//
//   NTM_DC=ip:port NTM_DC_KEY=base64 NTM_NAME=name NTM_STATE_DIR=dir [NTM_BIND=ip:port]
//   app FQDN PORT < to-send > received
//
// One thread sends stdin and half-closes; the main thread copies what arrives to stdout until
// the peer's FIN. Exit 0 when both are done, 1 with a message on stderr on any failure.
#include <ntm/ntm.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace {

std::string env(const char* name, bool required = true) {
  const char* v = std::getenv(name);
  if (required && (!v || !*v)) throw std::runtime_error(std::string(name) + " is not set");
  return v ? v : "";
}

std::system_error ntm_error(const char* what) {
  return std::system_error(errno, std::generic_category(), what);
}

void send_all(const ntm::Socket& s, const std::string& data) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ntm_send(s.fd(), data.data() + off, data.size() - off, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ntm_error("ntm_send");
    off += size_t(n);
  }
  if (ntm_shutdown(s.fd(), SHUT_WR) != 0) throw ntm_error("ntm_shutdown");
}

int run(const char* fqdn, uint16_t port) {
  std::string out(std::istreambuf_iterator<char>(std::cin), {});
  std::string dc = env("NTM_DC"), key = env("NTM_DC_KEY"), name = env("NTM_NAME"),
              state = env("NTM_STATE_DIR"), bind = env("NTM_BIND", false);
  ntm_config cfg;
  ntm_config_init(&cfg);
  cfg.dc_address = dc.c_str();
  cfg.dc_public_key = key.c_str();
  cfg.node_name = name.c_str();
  cfg.state_dir = state.c_str();
  cfg.bind_address = bind.empty() ? nullptr : bind.c_str();
  ntm::Node node(cfg);  // ntm_stop() when it goes out of scope

  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  if (ntm_getaddrinfo(fqdn, AF_INET, port, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    throw ntm::Node::error("ntm_getaddrinfo");
  ntm::Socket s(AF_INET, SOCK_STREAM);
  if (ntm_connect(s.fd(), reinterpret_cast<sockaddr*>(&peer), peer_len) != 0)
    throw ntm_error("ntm_connect");

  std::exception_ptr send_failure;
  std::thread sender([&] {
    try {
      send_all(s, out);
    } catch (...) {
      send_failure = std::current_exception();
    }
  });
  char buf[1 << 16];
  ssize_t n;
  while ((n = ntm_recv(s.fd(), buf, sizeof buf, 0)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ntm_shutdown(s.fd(), SHUT_RDWR);  // ends a sender blocked on a dead connection
      sender.join();
      throw ntm_error("ntm_recv");
    }
    std::cout.write(buf, n);
  }
  sender.join();
  if (send_failure) std::rethrow_exception(send_failure);
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: app FQDN PORT < to-send > received (node settings: NTM_* env)\n";
    return 2;
  }
  try {
    return run(argv[1], uint16_t(std::atoi(argv[2])));
  } catch (const std::exception& e) {
    std::cerr << "app: " << e.what() << "\n";
    return 1;
  }
}
