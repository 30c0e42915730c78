// Hostile bytes at the DC: garbage and truncated datagrams are dropped (and logged), and the
// DC keeps serving: the next node registers. Every datagram is accounted for: counted by the
// DC, or dropped by the kernel before the DC could read it (its socket buffer is capped by
// net.core.rmem_max), which /proc/net/udp reports.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

class DcRobustness : public DcFixture {};

TEST_F(DcRobustness, GarbageAndTruncatedDatagramsAreDropped) {
  start_dc();
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in dc{};
  dc.sin_family = AF_INET;
  dc.sin_port = htons(dc_port_);
  dc.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int sent = 0;
  auto send = [&](const std::vector<uint8_t>& d) {
    if (sendto(s, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&dc), sizeof dc) ==
        ssize_t(d.size()))
      ++sent;
    // Paced, so that the DC's socket buffer rarely overflows (those drops are counted too).
    if (sent % 16 == 0) std::this_thread::sleep_for(1ms);
  };
  std::mt19937 rng(42);
  std::vector<uint8_t> init(148);  // right size, random content
  for (auto& b : init) b = uint8_t(rng());
  init[0] = 1, init[1] = init[2] = init[3] = 0;
  send(init);
  std::vector<uint8_t> big(1400, 0x03);  // control packet for no session
  big[1] = big[2] = big[3] = 0;
  send(big);
  send({0x42, 1, 2, 3});                    // unknown packet type
  send({});                                 // empty
  for (uint8_t type = 0; type < 8; ++type)  // every type byte, truncated at every size
    for (size_t len = 1; len < 130; len += 7) {
      std::vector<uint8_t> d(len);
      for (auto& b : d) b = uint8_t(rng());
      d[0] = type;
      send(d);
    }
  for (int i = 0; i < 200; ++i) {  // plain noise
    std::vector<uint8_t> d(rng() % 1500);
    for (auto& b : d) b = uint8_t(rng());
    send(d);
  }
  close(s);
  // The survivor's datagrams queue behind the flood in the DC's one socket: once it is
  // registered, the DC has read everything sent before.
  auto n = node("survivor", {"info"});
  auto line = n->wait_for_line("info ", 10s);
  ASSERT_TRUE(line) << "the DC must still register nodes";
  EXPECT_EQ(fields(*line)["fqdn"], fqdn("survivor"));
  ASSERT_FALSE(dc_->wait(0ms)) << "ntm-dc died";
  long lost_in_kernel = kernel_udp_drops(dc_port_);
  ASSERT_GE(lost_in_kernel, 0) << "no UDP socket on 127.0.0.1:" << dc_port_;
  // Each reason is logged (the first ones of a flood; the rest are rate-limited) ...
  std::string log = read_dc_log();
  EXPECT_NE(log.find("handshake initiation with a bad mac1"), std::string::npos);
  EXPECT_NE(log.find("control packet for unknown session"), std::string::npos);
  EXPECT_NE(log.find("unknown packet type"), std::string::npos);
  // ... and every drop is counted: the DC's exit summary accounts for the whole flood.
  dc_->signal(SIGTERM);
  ASSERT_EQ(dc_->wait(5s), 0);
  log = read_dc_log();
  auto at = log.find("drops: ");
  ASSERT_NE(at, std::string::npos) << log;
  std::string summary = log.substr(at, log.find('\n', at) - at);
  long long total = 0;
  for (const char* reason :
       {"malformed", "bad_source", "mac", "ratelimit", "handshake", "unknown_session", "auth",
        "replay", "session_limit", "bad_relay_status", "drop_peer", "drop_peer_cert"})
    total += number(summary, reason);
  EXPECT_GE(number(summary, "mac"), 1);
  EXPECT_GE(number(summary, "unknown_session"), 1);
  EXPECT_EQ(total + lost_in_kernel, sent)
      << "every hostile datagram is a counted drop (" << lost_in_kernel
      << " dropped by the kernel before the DC read them): " << summary;
}

}  // namespace
}  // namespace ntm::test
