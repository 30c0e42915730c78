// ntm-cat: netcat over ntm sockets.
//   ntm-cat [node options] -l PORT            accept one TCP connection on this node's vIP
//   ntm-cat [node options] FQDN PORT          connect to FQDN (resolved through the DC)
//   -u  UDP instead of TCP    -6  use the IPv6 vIPs    -v  print timings to stderr
// stdin goes to the network, the network to stdout; the program exits when the stream from
// the network ends (TCP: the peer's FIN; UDP: an empty datagram, which is also what this
// program sends when its stdin ends).
// Exit status: 0 when everything worked and, over TCP, every byte read from stdin (and the
// end of the stream) was acknowledged by the peer; 1 otherwise, with the reason on stderr
// ("ntm-cat: N bytes on 1 TCP connection not acknowledged by the peer after ..."); 2 for
// usage errors. --linger bounds how long it waits at exit for the acknowledgments.
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "common/node_options.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  bool listen = false, udp = false, v6 = false, verbose = false;
  int idle_timeout_s = 0;
  std::string host;
  uint16_t port = 0;
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

bool write_all_fd(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w, n -= size_t(w);
  }
  return true;
}

bool send_all(int s, const char* p, size_t n) {
  while (n) {
    ssize_t w = ntm_send(s, p, n, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w, n -= size_t(w);
  }
  return true;
}

std::atomic<uint64_t> g_sent{0}, g_received{0};

int run_tcp(int s, const Options& o) {
  std::atomic<bool> upload_failed{false};
  std::thread up([s, &o, &upload_failed] {
    static char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::fprintf(stderr, "ntm-cat: read stdin: %s\n", std::strerror(errno));
        upload_failed = true;
        break;
      }
      if (n == 0) break;
      if (!send_all(s, buf, size_t(n))) {
        std::fprintf(stderr, "ntm-cat: send: %s (%llu bytes sent)\n", std::strerror(errno),
                     (unsigned long long)g_sent.load());
        upload_failed = true;
        break;
      }
      g_sent += uint64_t(n);
    }
    // Readiness line for scripts: the whole input is queued in the stack.
    if (o.verbose && !upload_failed)
      std::fprintf(stderr, "ntm-cat: input ended after %llu bytes\n",
                   (unsigned long long)g_sent.load());
    ntm_shutdown(s, SHUT_WR);
  });
  static char buf[64 * 1024];
  auto t0 = Clock::now();
  int rc = 0;
  // The longest gap between two arrivals, and when it ended (wall clock): with -v, for
  // scripts that time a pause (bench/handover.sh).
  Clock::time_point last{};
  double gap_ms = 0;
  std::chrono::system_clock::time_point gap_end{};
  for (;;) {
    ssize_t n = ntm_recv(s, buf, sizeof buf, 0);
    if (n > 0) {
      auto now = Clock::now();
      if (last != Clock::time_point{} &&
          std::chrono::duration<double, std::milli>(now - last).count() > gap_ms) {
        gap_ms = std::chrono::duration<double, std::milli>(now - last).count();
        gap_end = std::chrono::system_clock::now();
      }
      last = now;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "ntm-cat: recv: %s\n", std::strerror(errno));
      rc = 1;
      break;
    }
    if (n == 0) {
      if (o.verbose) std::fprintf(stderr, "ntm-cat: the peer's stream ended\n");
      break;
    }
    if (!write_all_fd(1, buf, size_t(n))) {
      rc = 1;
      break;
    }
    g_received += uint64_t(n);
  }
  double ms = ms_since(t0);
  if (o.verbose && g_received > 0) {
    std::fprintf(stderr, "ntm-cat: received %llu bytes in %.1f ms (%.1f Mbit/s)\n",
                 (unsigned long long)g_received.load(), ms, g_received * 8.0 / 1000.0 / ms);
    std::fprintf(stderr, "ntm-cat: longest gap in arrival %.1f ms, ended at %.6f\n", gap_ms,
                 std::chrono::duration<double>(gap_end.time_since_epoch()).count());
  }
  up.join();  // both directions end before we exit: stdin may still be uploading
  return upload_failed ? 1 : rc;
}

int run_udp(int s, const Options& o, sockaddr_storage peer, bool peer_known) {
  std::mutex mu;
  std::condition_variable cv;
  bool known = peer_known;
  std::thread up([&] {
    {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return known; });
    }
    static char buf[1200];
    socklen_t plen = peer.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (ntm_sendto(s, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&peer), plen) < 0) break;
      g_sent += uint64_t(n);
    }
    for (int i = 0; i < 3; ++i)  // end of stream, sent thrice against loss
      ntm_sendto(s, buf, 0, 0, reinterpret_cast<sockaddr*>(&peer), plen);
  });
  if (o.idle_timeout_s > 0) {
    timeval tv{o.idle_timeout_s, 0};
    ntm_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  static char buf[65536];
  int rc = 0;
  for (;;) {
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    ssize_t n = ntm_recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "ntm-cat: recvfrom: %s\n", std::strerror(errno));
      rc = 1;
      break;
    }
    {
      std::lock_guard l(mu);
      if (!known) {
        peer = from;
        known = true;
        cv.notify_all();
      }
    }
    if (n == 0) break;
    if (!write_all_fd(1, buf, size_t(n))) break;
    g_received += uint64_t(n);
  }
  {
    std::lock_guard l(mu);
    if (!known) {
      known = true;  // never heard from anyone: let the sender thread finish
      peer.ss_family = AF_UNSPEC;
    }
    cv.notify_all();
  }
  up.join();  // our own stream is finished too before we exit
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  ntm::apps::NodeOptions node;
  po::options_description desc("ntm-cat [options] (-l PORT | FQDN PORT)");
  desc.add_options()("help,h", "show this help")("listen,l", po::bool_switch(&o.listen),
                                                 "listen for one peer")(
      "udp,u", po::bool_switch(&o.udp), "UDP instead of TCP")(
      "ipv6,6", po::bool_switch(&o.v6), "use IPv6 vIPs")("verbose,v", po::bool_switch(&o.verbose),
                                                         "print timings to stderr")(
      "wait,w", po::value(&o.idle_timeout_s), "UDP: exit after this many idle seconds");
  node.add_to(desc);
  po::options_description hidden;
  std::vector<std::string> pos;
  hidden.add_options()("pos", po::value(&pos));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description p;
  p.add("pos", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(p).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "ntm-cat: %s\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if ((o.listen && pos.size() != 1) || (!o.listen && pos.size() != 2)) {
    std::fprintf(stderr, "usage: ntm-cat [options] -l PORT | ntm-cat [options] FQDN PORT\n");
    return 2;
  }
  std::string port_text = pos.back();
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) > 65535) {
    std::fprintf(stderr, "ntm-cat: bad port '%s'\n", port_text.c_str());
    return 2;
  }
  o.port = uint16_t(std::stoul(port_text));
  if (!o.listen) o.host = pos[0];
  if (!node.complete("ntm-cat")) return 2;

  auto t_start = Clock::now();
  ntm_config cfg;
  if (!node.start_node("ntm-cat", cfg)) return 1;
  if (o.verbose) {
    char fqdn[256] = "";
    ntm_get_fqdn(fqdn, sizeof fqdn);
    std::fprintf(stderr, "ntm-cat: registered as %s in %.1f ms\n", fqdn, ms_since(t_start));
  }
  int family = o.v6 ? AF_INET6 : AF_INET;
  int s = ntm_socket(family, o.udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (s < 0) {
    std::fprintf(stderr, "ntm-cat: socket: %s\n", std::strerror(errno));
    return 1;
  }
  int rc = 0;
  if (o.listen) {
    sockaddr_storage addr{};
    socklen_t len;
    if (o.v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(o.port);
      a->sin6_addr = in6addr_any;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_port = htons(o.port);
      len = sizeof *a;
    }
    if (ntm_bind(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      std::fprintf(stderr, "ntm-cat: bind: %s\n", std::strerror(errno));
      return 1;
    }
    if (!o.udp && ntm_listen(s, 4) != 0) {
      std::fprintf(stderr, "ntm-cat: listen: %s\n", std::strerror(errno));
      return 1;
    }
    // Readiness line for scripts: the vIP is bound (and listening).
    if (o.verbose)
      std::fprintf(stderr, "ntm-cat: listening on %s port %u\n", o.udp ? "udp" : "tcp", o.port);
    if (o.udp) {
      rc = run_udp(s, o, {}, false);
    } else {
      int c = ntm_accept(s, nullptr, nullptr);
      if (c < 0) {
        std::fprintf(stderr, "ntm-cat: accept: %s\n", std::strerror(errno));
        return 1;
      }
      if (o.verbose) std::fprintf(stderr, "ntm-cat: connected\n");
      rc = run_tcp(c, o);
      ntm_close(c);
    }
  } else {
    auto t0 = Clock::now();
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (ntm_getaddrinfo(o.host.c_str(), family, o.port, reinterpret_cast<sockaddr*>(&peer),
                        &plen) != 0) {
      std::fprintf(stderr, "ntm-cat: cannot resolve %s: %s\n", o.host.c_str(), ntm_last_error());
      return 1;
    }
    double resolve_ms = ms_since(t0);
    int wait_rc = ntm_wait_tunnel(reinterpret_cast<sockaddr*>(&peer), plen, 10000);
    if (o.verbose) {
      char text[INET6_ADDRSTRLEN];
      void* ip = family == AF_INET ? (void*)&reinterpret_cast<sockaddr_in*>(&peer)->sin_addr
                                   : (void*)&reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr;
      inet_ntop(family, ip, text, sizeof text);
      std::fprintf(stderr, "ntm-cat: %s is %s; name resolution %.2f ms, tunnel setup %.2f ms%s\n",
                   o.host.c_str(), text, resolve_ms, ms_since(t0),
                   wait_rc == 0 ? "" : " (not yet up)");
    }
    if (o.udp) {
      rc = run_udp(s, o, peer, true);
    } else {
      if (ntm_connect(s, reinterpret_cast<sockaddr*>(&peer), plen) != 0) {
        std::fprintf(stderr, "ntm-cat: connect: %s\n", std::strerror(errno));
        return 1;
      }
      if (o.verbose) std::fprintf(stderr, "ntm-cat: connected\n");
      rc = run_tcp(s, o);
    }
  }
  std::fflush(stdout);
  node.note_gauges();
  ntm_close(s);
  // Over TCP, ntm_stop() waits for the peer to acknowledge what we sent and says when it
  // could not: the data would otherwise die with this process.
  if (!node.stop_node("ntm-cat")) rc = 1;
  return rc;
}
