// What an on-path observer or attacker sees and can do: tunnel payloads are ciphertext, and
// tampered or replayed data packets are dropped and counted while the stream carries on.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "dc_fixture.h"
#include "wiretap.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

const std::string kMarker = "NTM-PLAINTEXT-MARKER-5f1c";

bool contains(const std::vector<uint8_t>& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

void send_udp(uint16_t port, const std::vector<uint8_t>& payload) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  close(s);
}

class Wire : public DcFixture {
 protected:
  void SetUp() override {
    start_dc();
    port_a_ = free_udp_port();
    port_b_ = free_udp_port();
  }
  uint16_t port_a_ = 0, port_b_ = 0;
};

TEST_F(Wire, NoPlaintextOnTheWire) {
  Wiretap tap({port_a_, port_b_, dc_port_});
  if (!tap.ok()) GTEST_SKIP() << "needs CAP_NET_RAW for an AF_PACKET capture on lo";
  auto srv = node("alpha", {"serve", "7100"}, "", "127.0.0.1:" + std::to_string(port_a_));
  ASSERT_TRUE(srv->wait_for_line("ready", 10s));
  auto cli =
      node("beta", {"client", fqdn("alpha"), "7100", "--bytes", "300000", "--marker", kMarker}, "",
           "127.0.0.1:" + std::to_string(port_b_));
  ASSERT_TRUE(cli->wait_for_line("ok ", 30s));
  // Positive control: the same marker sent in clear to alpha's port must be seen, so a
  // capture that sees nothing cannot pass this test.
  std::vector<uint8_t> clear(kMarker.begin(), kMarker.end());
  send_udp(port_a_, clear);
  std::vector<CapturedDatagram> captured;
  size_t data_bytes = 0, marker_hits = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       marker_hits == 0 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);
    captured = tap.snapshot();
    data_bytes = marker_hits = 0;
    for (auto& d : captured) {
      // Bytes, not packets: lo segments nothing, so a UDP GSO message of several data packets
      // is one capture (its payload their concatenation, each starting with type 0x05).
      if (!d.payload.empty() && d.payload[0] == 0x05) data_bytes += d.payload.size();
      if (contains(d.payload, kMarker)) ++marker_hits;
    }
  }
  EXPECT_GE(data_bytes, 300000u) << "the transfer should have crossed the wire as data packets";
  EXPECT_EQ(marker_hits, 1u) << "the marker must appear only in the clear control datagram";
  // Node names travel inside sealed control messages too.
  for (auto& d : captured) EXPECT_FALSE(contains(d.payload, "alpha.it.ntm.test"));
}

TEST_F(Wire, TamperedAndReplayedDataPacketsAreDroppedAndCounted) {
  Wiretap tap({port_a_});
  if (!tap.ok()) GTEST_SKIP() << "needs CAP_NET_RAW for an AF_PACKET capture on lo";
  auto srv = node("alpha", {"serve", "7101", "--udp"}, "", "127.0.0.1:" + std::to_string(port_a_));
  ASSERT_TRUE(srv->wait_for_line("ready", 10s));
  // A paced stream (a datagram and its echo every 5 ms), each datagram verified: a copy
  // injected a moment after its original is well inside the replay window (4032 packets,
  // 20 s of this stream), however slowly the machine runs.
  auto cli = node("beta",
                  {"client", fqdn("alpha"), "7101", "--udp", "--sizes", "200", "--pace-ms", "5",
                   "--duration-ms", "3000"},
                  "", "127.0.0.1:" + std::to_string(port_b_));
  // While the stream runs, inject copies of data packets heading to alpha.
  int replays = 0, tampers = 0;
  size_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((replays < 5 || tampers < 5) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    auto captured = tap.snapshot();
    for (; seen < captured.size(); ++seen) {
      auto& d = captured[seen];
      if (d.dst_port != port_a_ || d.payload.size() < 100 || d.payload[0] != 0x05) continue;
      if (replays < 5) {
        send_udp(port_a_, d.payload);  // an exact copy: same counter
        ++replays;
      } else if (tampers < 5) {
        auto t = d.payload;
        t[40 + size_t(tampers)] ^= 0x5a;  // one ciphertext byte
        send_udp(port_a_, t);
        ++tampers;
      }
    }
  }
  ASSERT_EQ(replays, 5);
  ASSERT_EQ(tampers, 5);
  auto ok = cli->wait_for_line("ok ", 60s);
  ASSERT_TRUE(ok) << "every datagram must come back intact despite the injected packets";
  ASSERT_TRUE(srv->wait_for_line("served ", 20s));
  auto stats = srv->wait_for_line("stats ", 20s).value_or("");
  EXPECT_EQ(number(stats, "drop_replay"), 5) << stats;
  EXPECT_EQ(number(stats, "drop_auth"), 5) << stats;
  EXPECT_EQ(number(stats, "drop_too_old"), 0) << stats;
  EXPECT_EQ(number(stats, "roams"), 0) << "unauthenticated packets from another port must not roam";
}

}  // namespace
}  // namespace ntm::test
