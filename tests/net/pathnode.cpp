// ntm-pathnode: a node for the path scenarios of the test network (tests/net/test_paths.sh):
// which path a tunnel takes, and a TCP stream that must come through path changes intact.
// Node settings come from the environment (NTM_DC, NTM_DC_KEY, NTM_NAME, NTM_STATE_DIR, ...).
// Results are "<word> key=value" lines on stdout; libntm's log goes to stderr (NTM_LOG).
//
//   serve PORT                    TCP echo server; every connection echoes until EOF. Prints
//                                 "ready", then "conn closed bytes=N path=KIND" and a stats
//                                 line per connection; runs until it is stopped (SIGTERM).
//   client NAME PORT [--bytes N] [--chunk B] [--pace-ms T] [--v6]
//                                 resolves NAME, waits for the tunnel ("setup ms=... path=...")
//                                 and streams N bytes (B per write, T ms apart) through one TCP
//                                 connection, every echoed byte checked; prints "path kind=K
//                                 via=ADDRESS" whenever the tunnel's path changes (its kind or
//                                 where it goes), then "ok bytes=N path=K"
//                                 (or "fail ...") and a stats line.
//   setup NAME [--v6]             resolve + wait for the tunnel; "setup ms=... path=..."
//
// KIND is lan, direct, punched or relayed (ntm_get_path).
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/node_options.h"
#include "ntm/ntm.h"

namespace {

std::map<std::string, std::string> g_opts;
std::vector<std::string> g_pos;
std::mutex g_out;

long num(const char* name, long def) {
  auto it = g_opts.find(name);
  return it == g_opts.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
}
int family() {
  return g_opts.count("v6") ? AF_INET6 : AF_INET;
}

void say(const char* fmt, auto... args) {
  std::lock_guard l(g_out);
  std::printf(fmt, args...);
  std::fflush(stdout);
}

const char* kind_name(int k) {
  switch (k) {
    case NTM_PATH_LAN:
      return "lan";
    case NTM_PATH_DIRECT:
      return "direct";
    case NTM_PATH_PUNCHED:
      return "punched";
    case NTM_PATH_RELAYED:
      return "relayed";
  }
  return "none";
}

std::string path_of(const sockaddr* peer, socklen_t len) {
  ntm_path_info info;
  if (ntm_get_path(peer, len, &info) != 0) return "none";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (info.address.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&info.address);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (info.address.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&info.address);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  std::string h = info.address.ss_family == AF_INET6 ? "[" + std::string(host) + "]" : host;
  return std::string(kind_name(info.kind)) + " via=" + h + ":" + std::to_string(port);
}

std::string kind_of(const sockaddr* peer, socklen_t len) {
  std::string p = path_of(peer, len);
  return p.substr(0, p.find(' '));
}

uint8_t pattern(size_t i) {
  return uint8_t((i * 131 + (i >> 11) * 7) & 0xff);
}

bool send_all(int s, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ntm_send(s, p, n, 0);
    if (w <= 0) return false;
    p += w, n -= size_t(w);
  }
  return true;
}

void print_stats() {
  std::lock_guard l(g_out);
  ntm::apps::write_stats(stdout);
}

bool resolve(const std::string& name, sockaddr_storage& out, socklen_t& len, uint16_t port,
             double& setup_ms) {
  auto t0 = std::chrono::steady_clock::now();
  len = sizeof out;
  if (ntm_getaddrinfo(name.c_str(), family(), port, reinterpret_cast<sockaddr*>(&out), &len) != 0) {
    say("fail step=resolve errno=%d text=%s\n", errno, ntm_last_error());
    return false;
  }
  if (ntm_wait_tunnel(reinterpret_cast<sockaddr*>(&out), len, 20000) != 0) {
    say("fail step=tunnel errno=%d\n", errno);
    return false;
  }
  setup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

int cmd_setup() {
  sockaddr_storage a;
  socklen_t len;
  double ms;
  if (g_pos.size() < 2 || !resolve(g_pos[1], a, len, 0, ms)) return 1;
  say("setup ms=%.3f path=%s\n", ms, path_of(reinterpret_cast<sockaddr*>(&a), len).c_str());
  return 0;
}

int cmd_serve() {
  uint16_t port = uint16_t(std::atoi(g_pos.at(1).c_str()));
  int s = ntm_socket(family(), SOCK_STREAM, 0);
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
  if (s < 0 || ntm_bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0 || ntm_listen(s, 16) != 0) {
    say("fail step=listen errno=%d\n", errno);
    return 1;
  }
  say("ready\n");
  std::thread([s] {
    for (;;) {
      sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      int c = ntm_accept(s, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (c < 0) return;
      std::thread([c, peer, plen] {
        std::vector<uint8_t> buf(65536);
        long total = 0;
        for (;;) {
          ssize_t n = ntm_recv(c, buf.data(), buf.size(), 0);
          if (n <= 0) break;
          if (!send_all(c, buf.data(), size_t(n))) break;
          total += n;
        }
        say("conn closed bytes=%ld path=%s\n", total,
            kind_of(reinterpret_cast<const sockaddr*>(&peer), plen).c_str());
        print_stats();
        ntm_close(c);
      }).detach();
    }
  }).detach();
  for (;;) pause();  // until SIGTERM
}

int cmd_client() {
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  size_t bytes = size_t(num("bytes", 1 << 20));
  size_t chunk = size_t(num("chunk", 16384));
  long pace = num("pace-ms", 0);
  sockaddr_storage a;
  socklen_t len;
  double ms;
  if (!resolve(g_pos[1], a, len, port, ms)) return 1;
  auto* peer = reinterpret_cast<sockaddr*>(&a);
  say("setup ms=%.3f path=%s\n", ms, path_of(peer, len).c_str());
  int s = ntm_socket(family(), SOCK_STREAM, 0);
  if (s < 0 || ntm_connect(s, peer, len) != 0) {
    say("fail step=connect errno=%d\n", errno);
    return 1;
  }
  std::atomic<bool> done{false};
  std::thread monitor([&] {  // path changes while the stream runs
    std::string last = path_of(peer, len);
    while (!done) {
      std::string p = path_of(peer, len);
      if (p != last && p != "none") {
        say("path kind=%s\n", p.c_str());
        last = p;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::thread writer([&] {
    std::vector<uint8_t> buf(chunk);
    for (size_t off = 0; off < bytes;) {
      size_t n = std::min(chunk, bytes - off);
      for (size_t i = 0; i < n; ++i) buf[i] = pattern(off + i);
      if (!send_all(s, buf.data(), n)) return;
      off += n;
      if (pace) std::this_thread::sleep_for(std::chrono::milliseconds(pace));
    }
    ntm_shutdown(s, SHUT_WR);
  });
  std::vector<uint8_t> buf(65536);
  size_t got = 0;
  const char* failure = nullptr;
  while (got < bytes) {
    ssize_t n = ntm_recv(s, buf.data(), buf.size(), 0);
    if (n <= 0) {
      failure = n == 0 ? "eof" : "recv";
      break;
    }
    for (ssize_t i = 0; i < n && !failure; ++i)
      if (buf[size_t(i)] != pattern(got + size_t(i))) failure = "corrupt";
    if (failure) break;
    got += size_t(n);
  }
  writer.join();
  done = true;
  monitor.join();
  ntm_close(s);
  if (failure) {
    say("fail step=%s bytes=%zu errno=%d\n", failure, got, errno);
    print_stats();
    return 1;
  }
  say("ok bytes=%zu path=%s\n", got, path_of(peer, len).c_str());
  print_stats();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      std::string key = a.substr(2), value = "1";
      if (key != "v6" && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        value = argv[++i];
      g_opts[key] = value;
    } else {
      g_pos.push_back(a);
    }
  }
  if (g_pos.empty()) {
    std::fprintf(stderr, "usage: ntm-pathnode serve PORT | client NAME PORT [...] | setup NAME\n");
    return 2;
  }
  ntm::apps::NodeOptions opts;
  if (!opts.complete("ntm-pathnode")) return 2;
  ntm_config cfg;
  if (!opts.start_node("ntm-pathnode", cfg)) {
    std::printf("fail step=start errno=%d\n", errno);
    return 1;
  }
  int rc = 2;
  if (g_pos[0] == "serve" && g_pos.size() >= 2) rc = cmd_serve();
  if (g_pos[0] == "client" && g_pos.size() >= 3) rc = cmd_client();
  if (g_pos[0] == "setup" && g_pos.size() >= 2) rc = cmd_setup();
  ntm_stop();
  return rc;
}
