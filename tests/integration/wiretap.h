// A loopback packet capture for tests (AF_PACKET on "lo"; needs CAP_NET_RAW): collects the
// UDP payloads to or from a set of ports while a test runs, as an on-path observer would
// see them.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace ntm::test {

struct CapturedDatagram {
  uint16_t src_port, dst_port;
  std::vector<uint8_t> payload;
};

class Wiretap {
 public:
  /// Starts capturing UDP over IPv4 loopback whose source or destination port is in `ports`.
  /// ok() is false when the socket could not be opened (no CAP_NET_RAW).
  explicit Wiretap(std::set<uint16_t> ports);
  ~Wiretap();
  bool ok() const { return fd_ >= 0; }
  /// Everything captured so far.
  std::vector<CapturedDatagram> snapshot();

 private:
  void run();
  int fd_ = -1;
  std::set<uint16_t> ports_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<CapturedDatagram> captured_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace ntm::test
