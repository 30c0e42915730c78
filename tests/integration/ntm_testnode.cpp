// ntm-testnode: a node with scripted behaviour for the integration tests. Node settings come
// from the environment (NTM_DC, NTM_DC_KEY, NTM_NAME, NTM_STATE_DIR, NTM_BIND,
// NTM_KEEPALIVE_MS). Results are printed on stdout as "<word> key=value ..." lines;
// diagnostics go to stderr. Any command exits 1 after "error errno=NAME text=..." when the node
// cannot start (ntm_start) or a name does not resolve.
//
//   info [--hold]                     fqdn and vIPs
//   resolve NAME [--v6]               ntm_getaddrinfo result or its errno
//   serve PORT [--udp] [--v6] [--conns N] [--poll] [--hold]
//                                     TCP echo server for N connections (--poll: one thread
//                                     and ntm_poll instead of a thread per connection); UDP:
//                                     echo every datagram until "QUIT"
//   client NAME PORT [--v6] [--conns N] [--bytes B] [--marker TEXT] [--poll] [--hold]
//          [--pause-ms T | --pause-until-stdin] [--idle-ms T [--samples K]]
//                                     N concurrent TCP connections, each echoes B bytes, all
//                                     verified byte by byte; --pause-ms: each writer stops for
//                                     T ms halfway ("paused" on stdout); --pause-until-stdin:
//                                     halfway, once all it sent came back, each writer prints
//                                     "paused" and waits for a line on stdin; --idle-ms: a
//                                     stats line again after each T ms of idling (K times)
//   client NAME PORT --udp [--v6] [--bytes B] [--sizes S1,S2,...] [--pace-ms P]
//          [--duration-ms D] [--hold]
//                                     UDP datagrams of the sizes given, in turn (default
//                                     1000), each sent once and its echo verified before the
//                                     next; B bytes in all, or (--duration-ms) for D ms with P ms
//                                     between datagrams
//   any command: --pin NAME=KEY       ntm_pin_peer(NAME, KEY) right after start
//   info prints the node's key (key=...); the TCP client's ok line the peer's (peer_key=...)
//   eventfd-client NAME PORT          non-blocking client driven by poll() on ntm_event_fd()
//                                     together with an OS pipe
//
// --hold keeps the node up after the command: each "stats" line on stdin is answered with a
// stats line, and the node stops when stdin ends. Every command prints a stats line before it
// ends.
#include "testnode.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "common/node_options.h"
#include "ntm/ntm.h"

namespace ntm::testnode {

std::map<std::string, std::string> g_opts;
std::vector<std::string> g_pos;

bool flag(const char* name) {
  return g_opts.count(name) > 0;
}
long num(const char* name, long def) {
  auto it = g_opts.find(name);
  return it == g_opts.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
}
std::string opt(const char* name, const std::string& def) {
  auto it = g_opts.find(name);
  return it == g_opts.end() ? def : it->second;
}
int family() {
  return flag("v6") ? AF_INET6 : AF_INET;
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
    case EIO:
      return "EIO";
    case EMSGSIZE:
      return "EMSGSIZE";
    case ENFILE:
      return "ENFILE";
    case EACCES:
      return "EACCES";
    case EDQUOT:
      return "EDQUOT";
    default:
      return "EOTHER";
  }
}

std::string addr_text(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = "-";
  if (a->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof buf);
  else if (a->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof buf);
  return buf;
}

socklen_t make_addr(sockaddr_storage& a, int fam, uint16_t port) {
  a = {};
  if (fam == AF_INET) {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    return sizeof *a4;
  }
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
  a6->sin6_family = AF_INET6;
  a6->sin6_port = htons(port);
  return sizeof *a6;
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

bool send_all(int s, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ntm_send(s, p, n, 0);
    if (w <= 0) return false;
    p += w, n -= size_t(w);
  }
  return true;
}

void print_stats() {
  ntm::apps::write_stats(stdout);
}

uint8_t pattern(int c, size_t i, const std::string& marker) {
  if (!marker.empty()) return uint8_t(marker[i % marker.size()]);
  return uint8_t((i * 131 + size_t(c) * 17 + (i >> 11)) & 0xff);
}

void hold() {
  if (!flag("hold")) return;
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "stats") print_stats();
    std::fflush(stdout);
  }
}

namespace {

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
  hold();
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

}  // namespace
}  // namespace ntm::testnode

int main(int argc, char** argv) {
  using namespace ntm::testnode;
  static const char* kValued[] = {"conns",       "bytes",   "marker",   "sizes", "pace-ms",
                                  "duration-ms", "idle-ms", "pause-ms", "pin",   "samples"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      std::string key = a.substr(2), value = "1";
      for (const char* v : kValued)
        if (key == v && i + 1 < argc) value = argv[++i];
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
  bool udp = flag("udp");
  int rc = cmd == "info"             ? cmd_info()
           : cmd == "resolve"        ? cmd_resolve()
           : cmd == "serve"          ? (udp ? cmd_serve_udp() : cmd_serve_tcp())
           : cmd == "client"         ? (udp ? cmd_client_udp() : cmd_client_tcp())
           : cmd == "eventfd-client" ? cmd_eventfd_client()
                                     : 2;
  std::fflush(stdout);
  ntm_stop();
  return rc;
}
