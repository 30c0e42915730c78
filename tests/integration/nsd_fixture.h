// A real authoritative DNS server (Debian's nsd) for one zone, started by a test on a
// loopback port in a temporary directory and killed with the test: the parent zone
// ("ntm.test.") that delegates each DC's zone in the multi-domain tests (issue 11). nsd's
// response rate limiting is switched off: the tests send bursts from one address.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "process.h"
// After the C++ headers: ldns/common.h may define bool, true and false as macros.
#include <ldns/ldns.h>

namespace ntm::test {

class Nsd {
 public:
  /// The nsd binary, or "" when it is not installed.
  static std::string binary() {
    for (const char* p : {"/usr/sbin/nsd", "/usr/bin/nsd"})
      if (access(p, X_OK) == 0) return p;
    return {};
  }

  /// Serves `zone` (no trailing dot) with `records` (zone-file lines relative to the origin;
  /// an SOA and an NS record for the apex are added) on 127.0.0.1:port(). Check ready().
  Nsd(const std::string& zone, const std::string& records) : port_(free_udp_port()) {
    const std::string& d = dir_.path();
    std::ofstream(d + "/zone") << "$ORIGIN " << zone << ".\n$TTL 300\n"
                               << "@ IN SOA ns." << zone << ". hostmaster." << zone
                               << ". 1 3600 600 86400 60\n@ IN NS ns." << zone << ".\nns IN A "
                               << "127.0.0.1\n"
                               << records << "\n";
    std::ofstream(d + "/nsd.conf")
        << "server:\n  ip-address: 127.0.0.1\n  port: " << port_
        << "\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"" << d << "\"\n  database: \"\"\n"
        << "  pidfile: \"" << d << "/nsd.pid\"\n  xfrdfile: \"" << d << "/xfrd.state\"\n"
        << "  xfrdir: \"" << d << "\"\n  zonelistfile: \"" << d << "/zone.list\"\n"
        << "  logfile: \"" << d << "/nsd.log\"\n  server-count: 1\n  reuseport: no\n"
        << "  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n"
        << "remote-control:\n  control-enable: no\n"
        << "zone:\n  name: \"" << zone << "\"\n  zonefile: \"zone\"\n";
    proc_ =
        std::make_unique<Process>(std::vector<std::string>{binary(), "-d", "-c", d + "/nsd.conf"},
                                  std::map<std::string, std::string>{}, d + "/stderr");
    ready_ = wait_answering(zone, std::chrono::seconds(15));
  }

  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  /// nsd's log, for failure messages.
  std::string log() const {
    std::ifstream f(dir_.path() + "/nsd.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

 private:
  /// Sends SOA queries for the zone until one is answered (bounded).
  bool wait_answering(const std::string& zone, std::chrono::seconds limit) {
    ldns_pkt* q = ldns_pkt_query_new(ldns_dname_new_frm_str(zone.c_str()), LDNS_RR_TYPE_SOA,
                                     LDNS_RR_CLASS_IN, 0);
    uint8_t* wire = nullptr;
    size_t len = 0;
    bool built = q && ldns_pkt2wire(&wire, q, &len) == LDNS_STATUS_OK;
    ldns_pkt_free(q);
    if (!built) return false;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    auto end = std::chrono::steady_clock::now() + limit;
    while (!ok && std::chrono::steady_clock::now() < end) {
      sendto(s, wire, len, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      pollfd p{s, POLLIN, 0};
      if (poll(&p, 1, 100) == 1) {
        uint8_t buf[512];
        ok = recv(s, buf, sizeof buf, 0) >= 12;
      }
    }
    close(s);
    free(wire);
    return ok;
  }

  TempDir dir_;
  uint16_t port_;
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
};

}  // namespace ntm::test
