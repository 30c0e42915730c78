// UdpTransport::send_batch, the data plane's batched send: every datagram the kernel takes
// arrives as its own datagram, byte for byte, in order per destination, whether runs of equal
// size went as one UDP GSO message or not; relayed ones carry their relay header; a refused
// datagram is reported as not sent and does not stop the others.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "packet/udp_transport.h"
#include "proto/relay.h"

namespace ntm::packet {
namespace {

using proto::Bytes;

/// A receiving socket on 127.0.0.1 with a large buffer (a batch arrives at once).
struct Receiver {
  Receiver() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    at = *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), len);
  }
  ~Receiver() { ::close(fd); }
  /// The next datagram, or empty after 5 s without one.
  Bytes next() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return {};
    Bytes b(70000);
    ssize_t n = ::recv(fd, b.data(), b.size(), 0);
    b.resize(n > 0 ? size_t(n) : 0);
    return b;
  }
  /// Whether another datagram is waiting.
  bool more() {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  int fd = -1;
  proto::Endpoint at;
};

/// `len` bytes: the datagram's number, then a pattern from it.
Bytes payload(uint32_t number, size_t len) {
  Bytes b(len);
  for (size_t i = 0; i < len; ++i) b[i] = uint8_t(number * 7 + i);
  std::memcpy(b.data(), &number, sizeof number);
  return b;
}

struct Case {
  const char* bind;
  bool gso;
};

class SendBatchTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(udp_.open(proto::Endpoint::parse(GetParam().bind), error)) << error;
    if (GetParam().gso) udp_.enable_gso();
  }
  UdpTransport udp_;
};

TEST_P(SendBatchTest, EveryDatagramArrivesInOrderPerDestination) {
  Receiver a, b;
  // Runs GSO can merge (equal sizes to one destination, a shorter last one), sizes that end a
  // run, switches of destination, and more datagrams than one GSO message holds.
  std::vector<std::pair<Receiver*, size_t>> plan;
  for (int i = 0; i < 70; ++i) plan.push_back({&a, 1452});
  plan.push_back({&a, 600});
  for (int i = 0; i < 5; ++i) plan.push_back({&b, 1452});
  plan.push_back({&a, 1452});
  plan.push_back({&b, 100});
  plan.push_back({&b, 1452});
  for (int i = 0; i < 3; ++i) plan.push_back({&a, 40});
  std::vector<Bytes> data;
  std::vector<UdpTransport::Datagram> batch;
  for (size_t i = 0; i < plan.size(); ++i) data.push_back(payload(uint32_t(i), plan[i].second));
  for (size_t i = 0; i < plan.size(); ++i)
    batch.push_back({Path(plan[i].first->at), data[i].data(), data[i].size()});
  std::vector<char> sent(batch.size());
  ASSERT_EQ(udp_.send_batch(batch.data(), batch.size(), reinterpret_cast<bool*>(sent.data())),
            batch.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_TRUE(sent[i]) << i;
    EXPECT_EQ(plan[i].first->next(), data[i]) << "datagram " << i;
  }
  EXPECT_FALSE(a.more());
  EXPECT_FALSE(b.more());
}

TEST_P(SendBatchTest, RelayedDatagramsCarryTheirRelayHeaderEach) {
  Receiver relay, direct;
  std::vector<Bytes> data;
  std::vector<UdpTransport::Datagram> batch;
  for (uint32_t i = 0; i < 6; ++i) data.push_back(payload(i, i == 3 ? 1452 : 1400));
  for (uint32_t i = 0; i < 6; ++i) {
    Path p = i == 3 ? Path(direct.at) : Path(relay.at, 0x01020304);
    batch.push_back({p, data[i].data(), data[i].size()});
  }
  bool sent[6];
  ASSERT_EQ(udp_.send_batch(batch.data(), batch.size(), sent), 6u);
  for (uint32_t i = 0; i < 6; ++i) {
    if (i == 3) {
      EXPECT_EQ(direct.next(), data[i]);
      continue;
    }
    Bytes got = relay.next();
    uint32_t session = 0;
    proto::ByteView inner;
    ASSERT_TRUE(proto::parse_relay_header(got, session, inner)) << i;
    EXPECT_EQ(session, 0x01020304u);
    EXPECT_EQ(Bytes(inner.begin(), inner.end()), data[i]) << i;
  }
  EXPECT_FALSE(relay.more());
}

TEST_P(SendBatchTest, ARefusedDatagramIsReportedAndTheOthersStillGo) {
  Receiver a;
  // Port 0: the kernel refuses the destination (EINVAL), alone or as a GSO run.
  proto::Endpoint nowhere = *proto::Endpoint::parse("127.0.0.1:0");
  std::vector<Bytes> data;
  std::vector<UdpTransport::Datagram> batch;
  for (uint32_t i = 0; i < 8; ++i) data.push_back(payload(i, 1000));
  for (uint32_t i = 0; i < 8; ++i)
    batch.push_back({Path(i >= 2 && i < 5 ? nowhere : a.at), data[i].data(), data[i].size()});
  bool sent[8];
  EXPECT_EQ(udp_.send_batch(batch.data(), batch.size(), sent), 5u);
  for (uint32_t i = 0; i < 8; ++i) {
    bool refused = i >= 2 && i < 5;
    EXPECT_EQ(sent[i], !refused) << i;
    if (!refused) {
      EXPECT_EQ(a.next(), data[i]) << i;
    }
  }
  EXPECT_FALSE(a.more());
  EXPECT_EQ(udp_.gso(), GetParam().gso) << "a refused destination is not GSO's fault";
}

INSTANTIATE_TEST_SUITE_P(Sockets, SendBatchTest,
                         ::testing::Values(Case{"127.0.0.1:0", true}, Case{"127.0.0.1:0", false},
                                           Case{"[::]:0", true}, Case{"[::]:0", false}),
                         [](const auto& info) {
                           return std::string(info.param.bind[0] == '[' ? "DualStack" : "Ipv4") +
                                  (info.param.gso ? "Gso" : "NoGso");
                         });

TEST(SendBatch, AKernelThatRefusesGsoTurnsItOffAndNothingIsLost) {
  for (const char* bind : {"127.0.0.1:0", "[::]:0"}) {
    SCOPED_TRACE(bind);
    UdpTransport udp;
    std::string error;
    ASSERT_TRUE(udp.open(proto::Endpoint::parse(bind), error)) << error;
    udp.enable_gso();
    ASSERT_TRUE(udp.gso()) << "this kernel has no UDP GSO at all";
    // Linux refuses UDP_SEGMENT on a socket without UDP checksums (SO_NO_CHECK: EINVAL) but
    // sends its datagrams one by one: what a kernel or device without UDP GSO does.
    int one = 1;
    ASSERT_EQ(::setsockopt(udp.fd(), SOL_SOCKET, SO_NO_CHECK, &one, sizeof one), 0);
    Receiver a;
    std::vector<Bytes> data;
    std::vector<UdpTransport::Datagram> batch;
    for (uint32_t i = 0; i < 6; ++i) data.push_back(payload(i, 1000));
    for (uint32_t i = 0; i < 6; ++i) batch.push_back({Path(a.at), data[i].data(), data[i].size()});
    bool sent[6];
    EXPECT_EQ(udp.send_batch(batch.data(), batch.size(), sent), 6u);
    for (uint32_t i = 0; i < 6; ++i) {
      EXPECT_TRUE(sent[i]) << i;
      EXPECT_EQ(a.next(), data[i]) << i;
    }
    EXPECT_FALSE(a.more());
    EXPECT_FALSE(udp.gso()) << "GSO stays off once the kernel refused it";
    // The next batch goes datagram by datagram from the start.
    EXPECT_EQ(udp.send_batch(batch.data(), batch.size(), sent), 6u);
    for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(a.next(), data[i]) << i;
  }
}

}  // namespace
}  // namespace ntm::packet
