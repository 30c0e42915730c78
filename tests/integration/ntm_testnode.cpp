// ntm-testnode: a node with scripted behaviour for the integration tests. Node settings come
// from the environment (NTM_DC, NTM_DC_KEY, NTM_NAME, NTM_STATE_DIR, NTM_BIND). Results are
// printed on stdout as "<word> key=value ..." lines; diagnostics go to stderr.
//
//   info [--hold]                     fqdn and vIPs; --hold keeps the node up until stdin EOF
//   resolve NAME [--v6]               ntm_getaddrinfo result or its errno
//   serve PORT [--udp] [--v6] [--conns N]   echo server for N connections (UDP: until "QUIT")
//   client NAME PORT [--udp] [--v6] [--conns N] [--bytes B] [--marker TEXT] [--idle-ms T]
//          [--pause-ms T]             N concurrent connections, each echoes B bytes, verified;
//          [--samples K]              --idle-ms: stats again after T ms of idling (K times);
//                                     --pause-ms:
//                                     each writer stops for T ms halfway ("paused" on stdout)
//   any command: --pin NAME=KEY       ntm_pin_peer(NAME, KEY) right after start
//   info prints the node's key (key=...); client's ok line the peer's (peer_key=...)
//   eventfd-client NAME PORT          non-blocking client driven by poll() on ntm_event_fd()
//                                     together with an OS pipe
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/node_options.h"
#include "ntm/ntm.h"

namespace {

std::map<std::string, std::string> g_opts;
std::vector<std::string> g_pos;

bool flag(const char* name) {
  return g_opts.count(name) > 0;
}
long num(const char* name, long def) {
  auto it = g_opts.find(name);
  return it == g_opts.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
}

const char* errno_name(int e) {
  switch (e) {
    case ENOENT:
      return "ENOENT";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EHOSTUNREACH:
      return "EHOSTUNREACH";
    case EAFNOSUPPORT:
      return "EAFNOSUPPORT";
    case EINVAL:
      return "EINVAL";
    case ENOTCONN:
      return "ENOTCONN";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case EKEYREJECTED:
      return "EKEYREJECTED";
    case EAGAIN:
      return "EAGAIN";
    default:
      return "EOTHER";
  }
}

void print_stats() {
  ntm::apps::write_stats(stdout);
}

std::string addr_text(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = "-";
  if (a->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof buf);
  else if (a->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof buf);
  return buf;
}

int family() {
  return flag("v6") ? AF_INET6 : AF_INET;
}

bool resolve(const std::string& name, uint16_t port, sockaddr_storage& out, socklen_t& len) {
  len = sizeof out;
  if (ntm_getaddrinfo(name.c_str(), family(), port, reinterpret_cast<sockaddr*>(&out), &len) != 0) {
    int e = errno;
    std::printf("error errno=%s text=%s\n", errno_name(e), ntm_last_error());
    return false;
  }
  return true;
}

/// Byte i of connection c's stream: a marker repeated, or a pattern that catches reordering.
uint8_t pattern(int c, size_t i, const std::string& marker) {
  if (!marker.empty()) return uint8_t(marker[i % marker.size()]);
  return uint8_t((i * 131 + size_t(c) * 17 + (i >> 11)) & 0xff);
}

int cmd_info() {
  sockaddr_storage v4{}, v6{};
  socklen_t l4 = sizeof v4, l6 = sizeof v6;
  char fqdn[256] = "", key[64] = "";
  ntm_get_fqdn(fqdn, sizeof fqdn);
  ntm_get_node_key(key, sizeof key);
  ntm_get_vip(AF_INET, reinterpret_cast<sockaddr*>(&v4), &l4);
  ntm_get_vip(AF_INET6, reinterpret_cast<sockaddr*>(&v6), &l6);
  std::printf("info fqdn=%s vip4=%s vip6=%s key=%s\n", fqdn,
              addr_text(reinterpret_cast<sockaddr*>(&v4)).c_str(),
              addr_text(reinterpret_cast<sockaddr*>(&v6)).c_str(), key);
  std::fflush(stdout);
  if (flag("hold")) {
    char c;
    while (::read(0, &c, 1) > 0) {
    }
  }
  return 0;
}

int cmd_resolve() {
  sockaddr_storage a;
  socklen_t len;
  if (g_pos.size() < 2 || !resolve(g_pos[1], 0, a, len)) return 1;
  std::printf("resolved vip=%s\n", addr_text(reinterpret_cast<sockaddr*>(&a)).c_str());
  print_stats();
  return 0;
}

bool send_all(int s, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ntm_send(s, p, n, 0);
    if (w <= 0) return false;
    p += w, n -= size_t(w);
  }
  return true;
}

int cmd_serve() {
  uint16_t port = uint16_t(std::atoi(g_pos.at(1).c_str()));
  int conns = int(num("conns", 1));
  bool udp = flag("udp");
  int s = ntm_socket(family(), udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  sockaddr_storage a{};
  socklen_t len;
  if (family() == AF_INET) {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof *a4;
  } else {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof *a6;
  }
  if (s < 0 || ntm_bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      (!udp && ntm_listen(s, 16) != 0)) {
    std::printf("fail reason=bind errno=%d\n", errno);
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  if (udp) {
    std::vector<uint8_t> buf(65536);
    long echoed = 0;
    for (;;) {
      sockaddr_storage from;
      socklen_t flen = sizeof from;
      ssize_t n =
          ntm_recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 0) break;
      if (n == 4 && std::memcmp(buf.data(), "QUIT", 4) == 0) break;
      ntm_sendto(s, buf.data(), size_t(n), 0, reinterpret_cast<sockaddr*>(&from), flen);
      ++echoed;
    }
    std::printf("served datagrams=%ld\n", echoed);
  } else {
    std::vector<std::thread> workers;
    std::atomic<long> total{0};
    for (int i = 0; i < conns; ++i) {
      int c = ntm_accept(s, nullptr, nullptr);
      if (c < 0) break;
      workers.emplace_back([c, &total] {
        std::vector<uint8_t> buf(65536);
        for (;;) {
          ssize_t n = ntm_recv(c, buf.data(), buf.size(), 0);
          if (n <= 0) break;
          if (!send_all(c, buf.data(), size_t(n))) break;
          total += n;
        }
        ntm_close(c);
      });
    }
    for (auto& w : workers) w.join();
    std::printf("served conns=%zu bytes=%ld\n", workers.size(), total.load());
  }
  print_stats();
  ntm_close(s);
  return 0;
}

int cmd_client() {
  std::string name = g_pos.at(1);
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  int conns = int(num("conns", 1));
  size_t bytes = size_t(num("bytes", 100000));
  std::string marker = g_opts.count("marker") ? g_opts["marker"] : "";
  sockaddr_storage peer;
  socklen_t plen;
  if (!resolve(name, port, peer, plen)) return 1;
  if (flag("udp")) {
    int s = ntm_socket(family(), SOCK_DGRAM, 0);
    timeval tv{2, 0};
    ntm_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t chunk = 1000, sent = 0, echoed = 0;
    std::vector<uint8_t> out(chunk), in(65536);
    // One datagram in flight at a time: this checks delivery both ways, not buffer sizes.
    for (int seq = 0; sent < bytes; ++seq) {
      size_t n = std::min(chunk, bytes - sent);
      for (size_t i = 0; i < n; ++i) out[i] = pattern(0, sent + i, marker);
      bool ok = false;
      for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
        ntm_sendto(s, out.data(), n, 0, reinterpret_cast<sockaddr*>(&peer), plen);
        ssize_t r = ntm_recvfrom(s, in.data(), in.size(), 0, nullptr, nullptr);
        ok = r == ssize_t(n) && std::memcmp(in.data(), out.data(), n) == 0;
      }
      if (!ok) {
        std::printf("fail reason=udp-echo-missing seq=%d\n", seq);
        return 1;
      }
      sent += n, echoed += n;
    }
    ntm_sendto(s, "QUIT", 4, 0, reinterpret_cast<sockaddr*>(&peer), plen);
    std::printf("ok conns=1 bytes=%zu\n", echoed);
    print_stats();
    return 0;
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      int s = ntm_socket(family(), SOCK_STREAM, 0);
      if (s < 0 || ntm_connect(s, reinterpret_cast<sockaddr*>(&peer), plen) != 0) {
        std::fprintf(stderr, "conn %d: connect: %s\n", c, std::strerror(errno));
        ++failures;
        return;
      }
      std::thread writer([&, s, c] {
        std::vector<uint8_t> buf(16384);
        long pause = num("pause-ms", 0);
        for (size_t off = 0; off < bytes;) {
          if (pause > 0 && off >= bytes / 2) {
            std::printf("paused conn=%d\n", c);
            std::fflush(stdout);
            std::this_thread::sleep_for(std::chrono::milliseconds(pause));
            pause = 0;
          }
          size_t n = std::min(buf.size(), bytes - off);
          for (size_t i = 0; i < n; ++i) buf[i] = pattern(c, off + i, marker);
          if (!send_all(s, buf.data(), n)) break;
          off += n;
        }
        ntm_shutdown(s, SHUT_WR);
      });
      std::vector<uint8_t> in(65536);
      size_t got = 0;
      bool ok = true;
      for (;;) {
        ssize_t n = ntm_recv(s, in.data(), in.size(), 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n && ok; ++i)
          if (in[size_t(i)] != pattern(c, got + size_t(i), marker)) ok = false;
        got += size_t(n);
      }
      writer.join();
      ntm_close(s);
      if (!ok || got != bytes) {
        std::fprintf(stderr, "conn %d: echoed %zu of %zu bytes, content %s\n", c, got, bytes,
                     ok ? "ok" : "CORRUPT");
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failures) {
    std::printf("fail reason=echo failures=%d\n", failures.load());
    print_stats();
    return 1;
  }
  char peer_key[64] = "-";
  ntm_get_peer_key(reinterpret_cast<sockaddr*>(&peer), plen, peer_key, sizeof peer_key);
  std::printf("ok conns=%d bytes=%zu peer_key=%s\n", conns, bytes, peer_key);
  print_stats();
  if (long idle = num("idle-ms", 0); idle > 0) {  // stay up, idle, then count again
    for (long i = 0; i < num("samples", 1); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(idle));
      print_stats();
    }
  }
  return 0;
}

int cmd_eventfd_client() {
  std::string name = g_pos.at(1);
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  sockaddr_storage peer;
  socklen_t plen;
  if (!resolve(name, port, peer, plen)) return 1;
  int efd = ntm_event_fd();
  int s = ntm_socket(family(), SOCK_STREAM, 0);
  ntm_fcntl(s, F_SETFL, O_NONBLOCK);
  if (ntm_connect(s, reinterpret_cast<sockaddr*>(&peer), plen) == 0 || errno != EINPROGRESS) {
    std::printf("fail reason=connect-not-inprogress errno=%d\n", errno);
    return 1;
  }
  // An OS pipe in the same poll set proves ntm events and OS events wait together.
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  std::thread poke([w = pipefd[1]] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    [[maybe_unused]] auto r = ::write(w, "x", 1);
  });
  const size_t total = 65536;
  size_t sent = 0, got = 0;
  bool connected = false, saw_pipe = false;
  std::vector<uint8_t> in(8192), out(total);
  for (size_t i = 0; i < total; ++i) out[i] = pattern(7, i, "");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((got < total || !saw_pipe) && std::chrono::steady_clock::now() < deadline) {
    ntm_event_clear();
    // Drain everything ready now, then sleep in poll() on the two OS descriptors.
    pollfd np{s, short(POLLIN | (sent < total ? POLLOUT : 0)), 0};
    if (ntm_poll(&np, 1, 0) > 0) {
      if (np.revents & POLLOUT) {
        connected = true;
        ssize_t n = ntm_send(s, out.data() + sent, total - sent, 0);
        if (n > 0) sent += size_t(n);
      }
      if (np.revents & POLLIN) {
        ssize_t n = ntm_recv(s, in.data(), in.size(), 0);
        if (n > 0) {
          for (ssize_t i = 0; i < n; ++i)
            if (in[size_t(i)] != out[got + size_t(i)]) {
              std::printf("fail reason=corrupt\n");
              return 1;
            }
          got += size_t(n);
        } else if (n == 0) {
          break;
        }
      }
      continue;
    }
    pollfd fds[2] = {{efd, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
    if (::poll(fds, 2, 5000) <= 0) {
      std::printf("fail reason=poll-timeout got=%zu sent=%zu\n", got, sent);
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      char c;
      [[maybe_unused]] auto r = ::read(pipefd[0], &c, 1);
      saw_pipe = true;
    }
  }
  poke.join();
  ntm_close(s);
  if (got != total || !connected || !saw_pipe) {
    std::printf("fail reason=incomplete got=%zu connected=%d pipe=%d\n", got, connected, saw_pipe);
    return 1;
  }
  std::printf("ok bytes=%zu\n", got);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      std::string key = a.substr(2), value = "1";
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0 &&
          (key == "conns" || key == "bytes" || key == "marker" || key == "idle-ms" ||
           key == "pause-ms" || key == "pin" || key == "samples"))
        value = argv[++i];
      g_opts[key] = value;
    } else {
      g_pos.push_back(a);
    }
  }
  if (g_pos.empty()) {
    std::fprintf(stderr, "usage: ntm-testnode info|resolve|serve|client|eventfd-client ...\n");
    return 2;
  }
  ntm::apps::NodeOptions node;  // all from the environment
  if (!node.complete("ntm-testnode")) return 2;
  ntm_config cfg;
  node.fill(cfg);
  if (ntm_start(&cfg) != 0) {
    std::printf("error errno=%s text=%s\n", errno_name(errno), ntm_last_error());
    return 1;
  }
  if (auto pin = g_opts.find("pin"); pin != g_opts.end()) {
    auto eq = pin->second.find('=');
    if (eq == std::string::npos ||
        ntm_pin_peer(pin->second.substr(0, eq).c_str(), pin->second.substr(eq + 1).c_str()) != 0) {
      std::printf("error errno=%s text=%s\n", errno_name(errno), ntm_last_error());
      return 1;
    }
  }
  std::string cmd = g_pos[0];
  int rc = cmd == "info"             ? cmd_info()
           : cmd == "resolve"        ? cmd_resolve()
           : cmd == "serve"          ? cmd_serve()
           : cmd == "client"         ? cmd_client()
           : cmd == "eventfd-client" ? cmd_eventfd_client()
                                     : 2;
  std::fflush(stdout);
  ntm_stop();
  return rc;
}
