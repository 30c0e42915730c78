// ntm-testnode's UDP commands: an echo server, and a client that sends each datagram once and
// waits for its echo before the next, so a lost or damaged datagram is a failure (on loopback
// nothing is lost unless the node loses it).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "ntm/ntm.h"
#include "testnode.h"

namespace ntm::testnode {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<size_t> sizes() {
  std::vector<size_t> out;
  std::stringstream in(opt("sizes", "1000"));
  for (std::string tok; std::getline(in, tok, ',');)
    out.push_back(std::strtoul(tok.c_str(), nullptr, 10));
  if (out.empty()) out.push_back(1000);
  return out;
}

}  // namespace

int cmd_serve_udp() {
  uint16_t port = uint16_t(std::atoi(g_pos.at(1).c_str()));
  int s = ntm_socket(family(), SOCK_DGRAM, 0);
  sockaddr_storage a;
  socklen_t len = make_addr(a, family(), port);
  if (s < 0 || ntm_bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    std::printf("fail reason=bind errno=%s\n", errno_name(errno));
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<uint8_t> buf(65536);
  long echoed = 0, bytes = 0;
  for (;;) {
    sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n =
        ntm_recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) break;
    if (n == 4 && std::memcmp(buf.data(), "QUIT", 4) == 0) break;
    if (ntm_sendto(s, buf.data(), size_t(n), 0, reinterpret_cast<sockaddr*>(&from), flen) != n)
      std::fprintf(stderr, "echo of %zd bytes: %s\n", n, std::strerror(errno));
    ++echoed, bytes += n;
  }
  std::printf("served datagrams=%ld bytes=%ld\n", echoed, bytes);
  print_stats();
  hold();
  ntm_close(s);
  return 0;
}

int cmd_client_udp() {
  std::string name = g_pos.at(1);
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  sockaddr_storage peer;
  socklen_t plen;
  if (!resolve(name, port, peer, plen)) return 1;
  std::vector<size_t> size_list = sizes();
  size_t bytes = size_t(num("bytes", 0));
  long pace_ms = num("pace-ms", 0), duration_ms = num("duration-ms", 0);
  if (!bytes && !duration_ms) bytes = 100000;
  int s = ntm_socket(family(), SOCK_DGRAM, 0);
  // Only a datagram the node lost can miss this: the echo of one datagram at a time.
  timeval tv{10, 0};
  ntm_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<uint8_t> out(65536), in(65536);
  size_t sent = 0;
  long seq = 0;
  Clock::time_point end;
  for (;; ++seq) {
    if (duration_ms ? (seq > 0 && Clock::now() >= end) : sent >= bytes) break;
    size_t n = size_list[size_t(seq) % size_list.size()];
    if (!duration_ms) n = std::min(n, bytes - sent);
    for (size_t i = 0; i < n; ++i) out[i] = pattern(int(seq), i, "");
    if (ntm_sendto(s, out.data(), n, 0, reinterpret_cast<sockaddr*>(&peer), plen) != ssize_t(n)) {
      std::printf("fail reason=sendto errno=%s size=%zu seq=%ld\n", errno_name(errno), n, seq);
      print_stats();
      return 1;
    }
    ssize_t r = ntm_recvfrom(s, in.data(), in.size(), 0, nullptr, nullptr);
    if (r != ssize_t(n) || std::memcmp(in.data(), out.data(), n) != 0) {
      std::printf("fail reason=udp-echo-missing seq=%ld size=%zu got=%zd\n", seq, n, r);
      print_stats();
      return 1;
    }
    sent += n;
    if (duration_ms && seq == 0) {  // the tunnel is up: the timed part starts
      // The initiator confirms a new tunnel with one keep-alive right after installing it
      // (maybe after this echo came back): the timed part starts once that one is counted.
      ntm_stats st{};
      for (int i = 0; i < 200 && ntm_get_stats(&st) == 0 && st.tx_keepalives == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      print_stats();
      std::fflush(stdout);
      end = Clock::now() + std::chrono::milliseconds(duration_ms);
    }
    if (pace_ms) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
  }
  ntm_sendto(s, "QUIT", 4, 0, reinterpret_cast<sockaddr*>(&peer), plen);
  std::printf("ok conns=1 bytes=%zu datagrams=%ld\n", sent, seq);
  print_stats();
  hold();
  ntm_close(s);
  return 0;
}

}  // namespace ntm::testnode
