#include "wiretap.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ntm::test {

Wiretap::Wiretap(std::set<uint16_t> ports) : ports_(std::move(ports)) {
  fd_ = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
  if (fd_ < 0) return;
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = int(if_nametoindex("lo"));
  int buf = 16 << 20;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  thread_ = std::thread([this] { run(); });
}

Wiretap::~Wiretap() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

std::vector<CapturedDatagram> Wiretap::snapshot() {
  std::lock_guard l(mu_);
  return captured_;
}

void Wiretap::run() {
  std::vector<uint8_t> buf(70000);
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    sockaddr_ll from{};
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    // On lo a packet socket bound with a protocol sees each packet once.
    if (n < 28) continue;
    size_t ihl = size_t(buf[0] & 0x0f) * 4;
    if ((buf[0] >> 4) != 4 || buf[9] != IPPROTO_UDP || size_t(n) < ihl + 8) continue;
    uint16_t sport = uint16_t(buf[ihl] << 8 | buf[ihl + 1]);
    uint16_t dport = uint16_t(buf[ihl + 2] << 8 | buf[ihl + 3]);
    if (!ports_.count(sport) && !ports_.count(dport)) continue;
    CapturedDatagram d{sport, dport, {buf.begin() + long(ihl + 8), buf.begin() + n}};
    std::lock_guard l(mu_);
    captured_.push_back(std::move(d));
  }
}

}  // namespace ntm::test
