// Injects hand-made UDP datagrams on loopback (a raw IPv4 socket; AF_PACKET on "lo" for IPv6;
// needs CAP_NET_RAW), with any source address and port — port 0, or an IPv4-mapped IPv6 source —
// which an ordinary socket cannot send. For the DC's source-address checks.
#pragma once

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace ntm::test {

class RawInjector {
 public:
  RawInjector() {
    fd_ = ::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    ifindex_ = int(if_nametoindex("lo"));
  }
  ~RawInjector() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0 && ifindex_ > 0; }

  /// IPv4/UDP from src:sport to dst:dport (a raw IP socket: the kernel completes the header).
  bool send4(const char* src, uint16_t sport, const char* dst, uint16_t dport,
             const std::vector<uint8_t>& payload) {
    int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) return false;
    std::vector<uint8_t> p(20 + 8 + payload.size(), 0);
    uint8_t* ip = p.data();
    ip[0] = 0x45;
    uint16_t total = uint16_t(p.size());
    ip[2] = uint8_t(total >> 8), ip[3] = uint8_t(total);
    ip[8] = 64, ip[9] = IPPROTO_UDP;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    write_udp(ip + 20, sport, dport, payload);  // UDP checksum 0: none (allowed on IPv4)
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, dst, &to.sin_addr);
    bool ok = ::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
              ssize_t(p.size());
    ::close(fd);
    return ok;
  }

  /// IPv6/UDP from src:sport to dst:dport (with the mandatory UDP checksum).
  bool send6(const char* src, uint16_t sport, const char* dst, uint16_t dport,
             const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> f(14 + 40 + 8 + payload.size(), 0);
    f[12] = 0x86, f[13] = 0xdd;
    uint8_t* ip = &f[14];
    ip[0] = 0x60;
    uint16_t len = uint16_t(8 + payload.size());
    ip[4] = uint8_t(len >> 8), ip[5] = uint8_t(len);
    ip[6] = IPPROTO_UDP, ip[7] = 64;
    inet_pton(AF_INET6, src, ip + 8);
    inet_pton(AF_INET6, dst, ip + 24);
    uint8_t* udp = ip + 40;
    write_udp(udp, sport, dport, payload);
    // Pseudo-header: addresses, length, next header.
    uint32_t acc = 0;
    for (int i = 8; i < 40; i += 2) acc += uint32_t(ip[i] << 8 | ip[i + 1]);
    acc += len + IPPROTO_UDP;
    uint16_t sum = checksum(udp, len, acc);
    if (sum == 0) sum = 0xffff;
    udp[6] = uint8_t(sum >> 8), udp[7] = uint8_t(sum);
    return inject(f);
  }

 private:
  static void write_udp(uint8_t* udp, uint16_t sport, uint16_t dport,
                        const std::vector<uint8_t>& payload) {
    uint16_t len = uint16_t(8 + payload.size());
    udp[0] = uint8_t(sport >> 8), udp[1] = uint8_t(sport);
    udp[2] = uint8_t(dport >> 8), udp[3] = uint8_t(dport);
    udp[4] = uint8_t(len >> 8), udp[5] = uint8_t(len);
    if (!payload.empty()) std::memcpy(udp + 8, payload.data(), payload.size());
  }
  static uint16_t checksum(const uint8_t* p, size_t n, uint32_t acc) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += uint32_t(p[n - 1] << 8);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc);
  }
  bool inject(const std::vector<uint8_t>& frame) {
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_ifindex = ifindex_;
    a.sll_halen = 6;
    return ::sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&a),
                    sizeof a) == ssize_t(frame.size());
  }
  int fd_ = -1, ifindex_ = 0;
};

}  // namespace ntm::test
