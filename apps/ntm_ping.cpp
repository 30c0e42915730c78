// ntm-ping: ICMP echo through the tunnel to a node's vIP, printed like ping(8).
//   ntm-ping [node options] [-c COUNT] [-i INTERVAL_MS] [-W TIMEOUT_MS] [-6] FQDN
// The echo reply comes from the peer's userspace stack (lwIP answers echo requests itself).
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "common/node_options.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(uint16_t(~sum));
}

}  // namespace

int main(int argc, char** argv) {
  int count = 5, interval_ms = 1000, timeout_ms = 2000, size = 56;
  bool v6 = false;
  std::string host;
  ntm::apps::NodeOptions node;
  po::options_description desc("ntm-ping [options] FQDN");
  desc.add_options()("help,h", "show this help")("count,c", po::value(&count),
                                                 "echo requests to send (default 5)")(
      "interval,i", po::value(&interval_ms), "milliseconds between requests (default 1000)")(
      "timeout,W", po::value(&timeout_ms), "milliseconds to wait for each reply (default 2000)")(
      "size,s", po::value(&size), "payload bytes (default 56)")("ipv6,6", po::bool_switch(&v6),
                                                                "ping the IPv6 vIP");
  node.add_to(desc);
  po::options_description hidden;
  hidden.add_options()("host", po::value(&host));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description p;
  p.add("host", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(p).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "ntm-ping: %s\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (host.empty() || count < 1 || count > 100000 || interval_ms < 0 || timeout_ms < 1 ||
      size < 8 || size > 1300) {
    std::fprintf(stderr, "usage: ntm-ping [options] FQDN (count 1..100000, size 8..1300 bytes)\n");
    return 2;
  }
  if (!node.complete("ntm-ping")) return 2;
  ntm_config cfg;
  if (!node.start_node("ntm-ping", cfg)) return 1;

  int family = v6 ? AF_INET6 : AF_INET;
  sockaddr_storage peer{};
  socklen_t plen = sizeof peer;
  auto t0 = Clock::now();
  if (ntm_getaddrinfo(host.c_str(), family, 0, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
    std::fprintf(stderr, "ntm-ping: cannot resolve %s: %s\n", host.c_str(), ntm_last_error());
    return 1;
  }
  bool up = ntm_wait_tunnel(reinterpret_cast<sockaddr*>(&peer), plen, 10000) == 0;
  double setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  char text[INET6_ADDRSTRLEN];
  void* ip = v6 ? (void*)&reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr
                : (void*)&reinterpret_cast<sockaddr_in*>(&peer)->sin_addr;
  inet_ntop(family, ip, text, sizeof text);
  std::printf("PING %s (%s): %d data bytes; tunnel %s in %.2f ms\n", host.c_str(), text, size,
              up ? "established" : "NOT established", setup_ms);

  int s = ntm_socket(family, SOCK_RAW, v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP));
  if (s < 0) {
    std::fprintf(stderr, "ntm-ping: socket: %s\n", std::strerror(errno));
    return 1;
  }
  uint16_t ident = uint16_t(getpid());
  std::vector<double> rtts;
  std::vector<uint8_t> pkt(8 + size_t(size)), buf(2048);
  for (int seq = 1; seq <= count; ++seq) {
    std::fill(pkt.begin(), pkt.end(), 0);
    pkt[0] = v6 ? uint8_t(ICMP6_ECHO_REQUEST) : uint8_t(ICMP_ECHO);
    pkt[4] = uint8_t(ident >> 8), pkt[5] = uint8_t(ident);
    pkt[6] = uint8_t(seq >> 8), pkt[7] = uint8_t(seq);
    for (size_t i = 8; i < pkt.size(); ++i) pkt[i] = uint8_t(i);
    if (!v6) {  // lwIP computes the ICMPv6 checksum itself (RFC 3542 §3.1)
      uint16_t c = checksum(pkt.data(), pkt.size());
      std::memcpy(&pkt[2], &c, 2);
    }
    auto sent = Clock::now();
    if (ntm_sendto(s, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&peer), plen) < 0) {
      std::fprintf(stderr, "ntm-ping: sendto: %s\n", std::strerror(errno));
      return 1;
    }
    bool got = false;
    for (;;) {
      int left =
          timeout_ms -
          int(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count());
      if (left <= 0) break;
      pollfd pfd{s, POLLIN, 0};
      if (ntm_poll(&pfd, 1, left) <= 0) break;
      ssize_t n = ntm_recvfrom(s, buf.data(), buf.size(), MSG_DONTWAIT, nullptr, nullptr);
      if (n <= 0) continue;
      // lwIP's raw sockets deliver the IP header too (IPv4 and IPv6 alike); an ICMPv6 echo
      // reply starts with 0x81, an IPv6 header with 0x6_, so the two cannot be confused.
      size_t off = v6 ? ((buf[0] >> 4) == 6 ? 40 : 0) : size_t(buf[0] & 0x0f) * 4;
      if (size_t(n) < off + 8) continue;
      const uint8_t* icmp = &buf[off];
      uint8_t reply = v6 ? uint8_t(ICMP6_ECHO_REPLY) : uint8_t(ICMP_ECHOREPLY);
      if (icmp[0] != reply || (icmp[4] << 8 | icmp[5]) != ident || (icmp[6] << 8 | icmp[7]) != seq)
        continue;
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      rtts.push_back(ms);
      std::printf("%zd bytes from %s: icmp_seq=%d time=%.3f ms\n", n - ssize_t(off), text, seq, ms);
      got = true;
      break;
    }
    if (!got) std::printf("no reply for icmp_seq=%d within %d ms\n", seq, timeout_ms);
    std::fflush(stdout);
    if (seq < count) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  std::printf("--- %s ping statistics ---\n", host.c_str());
  std::printf("%d packets transmitted, %zu received, %.0f%% packet loss\n", count, rtts.size(),
              100.0 * double(count - int(rtts.size())) / count);
  if (!rtts.empty()) {
    double mn = *std::min_element(rtts.begin(), rtts.end());
    double mx = *std::max_element(rtts.begin(), rtts.end());
    double sum = 0, sq = 0;
    for (double r : rtts) sum += r, sq += r * r;
    double avg = sum / double(rtts.size());
    std::vector<double> sorted = rtts;
    std::sort(sorted.begin(), sorted.end());
    double med = sorted[sorted.size() / 2];
    std::printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms, median %.3f ms\n", mn, avg, mx,
                std::sqrt(std::max(0.0, sq / double(rtts.size()) - avg * avg)), med);
  }
  node.note_gauges();
  ntm_close(s);
  node.stop_node("ntm-ping");  // no TCP: nothing to linger for
  return rtts.empty() ? 1 : 0;
}
