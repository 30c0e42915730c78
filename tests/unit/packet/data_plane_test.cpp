// The packet path of one node (DataPlane with lwIP) against a test peer that holds the other
// end of a tunnel's keys: what struct ntm_stats promises. Every datagram the node receives is
// accepted or dropped under exactly one reason, and every reason is reachable: malformed,
// unknown tunnel, authentication, replay, behind the window, spoofed inner source;
// fragments of large inner datagrams are reassembled or counted; outbound packets for a vIP
// without a tunnel queue up to 256 per destination and 4096 in all, and the rest is counted; a
// peer address not yet validated gets at most 3x what it sent, and the rest is counted.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/aead.h"
#include "crypto/session.h"
#include "packet/data_plane.h"
#include "packet/lwip_c.h"  // C linkage for lwipopts.h before the lwIP headers below

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcpip.h"
#include "lwip/udp.h"

namespace ntm::packet {
namespace {

using namespace std::chrono_literals;
using proto::Bytes;

constexpr uint32_t kLocalId = 0x11111111, kPeerId = 0x22222222;
const uint8_t kOurVip4[4] = {100, 64, 0, 1}, kPeerVip4[4] = {100, 64, 0, 2};

uint32_t v4(const uint8_t (&a)[4]) {
  uint32_t v;
  std::memcpy(&v, a, 4);
  return v;
}

/// Counters as plain numbers, to compare before and after.
struct Snapshot {
  ntm_stats s{};
  uint64_t control = 0;
  uint64_t received() const {
    return s.rx_packets + s.drop_malformed + s.drop_unknown_tunnel + s.drop_auth + s.drop_replay +
           s.drop_too_old + s.drop_spoofed + control;
  }
};

/// An IPv4 UDP packet from `src` to our vIP, `n` payload bytes.
Bytes inner_udp4(const uint8_t (&src)[4], size_t n, uint16_t id = 1) {
  Bytes ip(28 + n);
  ip[0] = 0x45;
  ip[2] = uint8_t(ip.size() >> 8), ip[3] = uint8_t(ip.size());
  ip[4] = uint8_t(id >> 8), ip[5] = uint8_t(id);
  ip[8] = 64, ip[9] = 17;
  std::memcpy(&ip[12], src, 4);
  std::memcpy(&ip[16], kOurVip4, 4);
  ip[20] = 0x30, ip[21] = 0x39;  // source port 12345
  ip[22] = 0x30, ip[23] = 0x3a;  // destination port 12346: nobody listens
  ip[24] = uint8_t((8 + n) >> 8), ip[25] = uint8_t(8 + n);
  return ip;
}

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    std::string error;
    ASSERT_TRUE(udp_.open(proto::Endpoint::parse("127.0.0.1:0"), error)) << error;
    DataPlaneHooks hooks;
    hooks.on_control = [this](proto::Bytes, const Path&) { ++control_; };
    hooks.on_missing_tunnel = [this](const VipKey&) { ++missing_; };
    dp_ = std::make_unique<DataPlane>(udp_, tunnels_, stats_, std::move(hooks));
    ASSERT_TRUE(dp_->start_receiver(error)) << error;
    dp_->attach_netif(v4(kOurVip4), std::nullopt);

    peer_fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(peer_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(peer_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    peer_ep_ = *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), len);

    crypto::Key k1, k2;
    crypto::random_bytes(k1.data(), k1.size());
    crypto::random_bytes(k2.data(), k2.size());
    auto t = std::make_shared<Tunnel>();
    t->local_id = kLocalId;
    t->has_vip4 = true;
    t->peer_vip4 = v4(kPeerVip4);
    t->session = std::make_unique<crypto::Session>(k1, k2, kPeerId);
    t->set_endpoint(peer_ep_);
    t->confirmed = true;
    tunnel_ = t;
    peer_ = std::make_unique<crypto::Session>(k2, k1, kLocalId);
  }
  void TearDown() override {
    dp_->stop();
    dp_.reset();
    ::close(peer_fd_);
  }

  void install() { dp_->install_tunnel(tunnel_); }

  Bytes seal(const Bytes& inner) {
    Bytes out(inner.size() + proto::kSealedOverhead);
    peer_->seal(proto::PacketType::kData, inner, out.data());
    return out;
  }
  void send(const Bytes& d) {
    auto to = udp_.local();
    ASSERT_EQ(::sendto(peer_fd_, d.data(), d.size(), 0, to.sa(), to.sa_len()), ssize_t(d.size()));
  }
  Snapshot snapshot() {
    Snapshot s;
    stats_.copy_to(s.s);
    s.control = control_;
    return s;
  }
  /// Sends `d` and returns the counters once the receive thread has dealt with it.
  Snapshot deliver(const Bytes& d) {
    uint64_t before = snapshot().received();
    send(d);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (snapshot().received() == before && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return snapshot();
  }
  /// Sends `d`; expects exactly the counter `field` to move, by one.
  void expect_counted(const Bytes& d, uint64_t ntm_stats::*field, const char* what) {
    Snapshot before = snapshot();
    Snapshot after = deliver(d);
    EXPECT_EQ(after.received(), before.received() + 1) << what << ": counted once in all";
    if (field)
      EXPECT_EQ(after.s.*field, before.s.*field + 1) << what;
    else
      EXPECT_EQ(after.control, before.control + 1) << what << ": handed to negotiation";
  }

  UdpTransport udp_;
  TunnelTable tunnels_;
  Stats stats_;
  std::atomic<uint64_t> control_{0}, missing_{0};
  std::unique_ptr<DataPlane> dp_;
  std::shared_ptr<Tunnel> tunnel_;
  std::unique_ptr<crypto::Session> peer_;
  int peer_fd_ = -1;
  proto::Endpoint peer_ep_;
};

TEST_F(DataPlaneTest, EveryReceivedDatagramIsAcceptedOrDroppedUnderOneReason) {
  install();
  expect_counted(seal(inner_udp4(kPeerVip4, 100)), &ntm_stats::rx_packets, "genuine packet");
  expect_counted(seal({}), &ntm_stats::rx_packets, "keep-alive");
  expect_counted({}, &ntm_stats::drop_malformed, "empty datagram");
  expect_counted({0x42, 0, 0, 0, 1, 2, 3}, &ntm_stats::drop_malformed, "unknown packet type");
  expect_counted(Bytes(20, 0x05), &ntm_stats::drop_malformed, "data packet shorter than 32");
  Bytes reserved = seal(inner_udp4(kPeerVip4, 10));
  reserved[2] = 1;
  expect_counted(reserved, &ntm_stats::drop_malformed, "reserved header byte set");
  Bytes unknown = seal(inner_udp4(kPeerVip4, 10));
  unknown[4] ^= 0xff;  // receiver index
  expect_counted(unknown, &ntm_stats::drop_unknown_tunnel, "unknown receiver index");
  Bytes tampered = seal(inner_udp4(kPeerVip4, 10));
  tampered[40] ^= 1;
  expect_counted(tampered, &ntm_stats::drop_auth, "one ciphertext bit flipped");
  Bytes genuine = seal(inner_udp4(kPeerVip4, 10));
  expect_counted(genuine, &ntm_stats::rx_packets, "genuine packet");
  expect_counted(genuine, &ntm_stats::drop_replay, "the same packet again");
  uint8_t stranger[4] = {100, 64, 0, 3};
  expect_counted(seal(inner_udp4(stranger, 10)), &ntm_stats::drop_spoofed,
                 "inner source is another vIP");
  expect_counted(seal(Bytes(30, 0x10)), &ntm_stats::drop_spoofed, "inner packet is no IP packet");
  expect_counted(seal(Bytes(9, 0)), &ntm_stats::drop_malformed,
                 "tunnel message (marker 0x00) shorter than 10 bytes");
  expect_counted(seal(Bytes(1200, 0)), &ntm_stats::rx_packets,
                 "tunnel message of an unknown kind, padded: taken, ignored");
  expect_counted({1, 0, 0, 0, 9, 9, 9, 9}, &ntm_stats::drop_malformed,
                 "handshake initiation: only a DC takes those");
  for (uint8_t type : {2, 3, 4, 6})
    expect_counted({type, 0, 0, 0, 9, 9, 9, 9}, nullptr,
                   "handshake response, control, tunnel handshake, cookie reply");
}

TEST_F(DataPlaneTest, DatagramsTheKernelCoalescedAreEachTakenAlone) {
  // UDP GRO (as the node turns it on): the peer sends nine data packets and a keep-alive as
  // one UDP GSO message; loopback hands it to a GRO socket whole, with the segment size in a
  // control message, and the receive loop must take each datagram on its own.
  ASSERT_TRUE(udp_.enable_gro()) << "this kernel has no UDP_GRO (Linux 5.0+)";
  install();
  Bytes message;
  size_t segment = 0;
  for (uint16_t i = 0; i < 9; ++i) {
    Bytes d = seal(inner_udp4(kPeerVip4, 100, i));
    segment = d.size();
    message.insert(message.end(), d.begin(), d.end());
  }
  Bytes keepalive = seal({});  // the last segment may be shorter
  message.insert(message.end(), keepalive.begin(), keepalive.end());
  Snapshot before = snapshot();
  auto to = udp_.local();
  iovec iov{message.data(), message.size()};
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(uint16_t))] = {};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(to.sa());
  m.msg_namelen = to.sa_len();
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t size = uint16_t(segment);
  std::memcpy(CMSG_DATA(c), &size, sizeof size);
  ASSERT_EQ(::sendmsg(peer_fd_, &m, 0), ssize_t(message.size())) << std::strerror(errno);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (snapshot().received() < before.received() + 10 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  Snapshot after = snapshot();
  EXPECT_EQ(after.s.rx_packets, before.s.rx_packets + 10) << "nine data packets, one keep-alive";
  EXPECT_EQ(after.received(), before.received() + 10) << "and nothing dropped";
  EXPECT_EQ(after.s.rx_bytes, before.s.rx_bytes + message.size());
}

TEST_F(DataPlaneTest, PacketsBehindTheReplayWindowAreTooOld) {
  install();
  Bytes old = seal(inner_udp4(kPeerVip4, 10));  // counter 0, held back
  for (int i = 0; i < 5000; ++i) seal({});      // counters the node never sees
  expect_counted(seal({}), &ntm_stats::rx_packets, "counter 5001");
  expect_counted(old, &ntm_stats::drop_too_old, "counter 0 after 5001");
}

TEST_F(DataPlaneTest, LargeInnerDatagramsAreReassembledOrCounted) {
  install();
  // A 20,000-byte datagram in 15 fragments of up to 1400 bytes, as a peer's lwIP sends it.
  Bytes whole = inner_udp4(kPeerVip4, 20000, 77);
  std::vector<Bytes> frags;
  for (size_t off = 0; off < whole.size() - 20; off += 1400) {
    size_t n = std::min<size_t>(1400, whole.size() - 20 - off);
    Bytes f(whole.begin(), whole.begin() + 20);
    f.insert(f.end(), whole.begin() + 20 + std::ptrdiff_t(off),
             whole.begin() + 20 + std::ptrdiff_t(off + n));
    f[2] = uint8_t(f.size() >> 8), f[3] = uint8_t(f.size());
    uint16_t fo = uint16_t(off / 8) | (off + n < whole.size() - 20 ? 0x2000 : 0);
    f[6] = uint8_t(fo >> 8), f[7] = uint8_t(fo);
    frags.push_back(f);
  }
  ASSERT_EQ(frags.size(), 15u);
  for (auto& f : frags) expect_counted(seal(f), &ntm_stats::rx_packets, "fragment");
  EXPECT_EQ(snapshot().s.drop_reassembly, 0u);
  // The same datagram again with overlapping fragments: all of them are counted as lost.
  for (int i = 0; i < 3; ++i) expect_counted(seal(frags[size_t(i)]), &ntm_stats::rx_packets, "f");
  expect_counted(seal(frags[1]), &ntm_stats::rx_packets, "duplicate fragment");
  EXPECT_EQ(snapshot().s.drop_reassembly, 4u);
}

/// Sends `n` UDP datagrams of 20 bytes from our vIP to `dst` through lwIP (as an application
/// would); the caller holds the core lock.
void send_through_lwip_locked(const uint8_t (&dst)[4], int n) {
  udp_pcb* pcb = udp_new();
  ip_addr_t to;
  IP_ADDR4(&to, dst[0], dst[1], dst[2], dst[3]);
  for (int i = 0; i < n; ++i) {
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, 20, PBUF_RAM);
    std::memset(p->payload, 0, 20);
    udp_sendto(pcb, p, &to, 9);
    pbuf_free(p);
  }
  udp_remove(pcb);
}

/// The same in one pass of the core lock, like lwIP's socket layer.
void send_through_lwip(const uint8_t (&dst)[4], int n) {
  LOCK_TCPIP_CORE();
  send_through_lwip_locked(dst, n);
  UNLOCK_TCPIP_CORE();
}

TEST_F(DataPlaneTest, PendingQueueHolds256PerDestinationAnd4096InAllTheRestIsCounted) {
  send_through_lwip(kPeerVip4, 300);  // no tunnel yet
  EXPECT_EQ(missing_, 1u) << "one direction request per destination";
  EXPECT_EQ(snapshot().s.drop_no_tunnel, 300u - PendingQueue::kPerDestination);
  // Sixteen more destinations: the 17th finds the whole queue full.
  for (uint8_t d = 10; d < 26; ++d) send_through_lwip({100, 64, 1, d}, 256);
  uint64_t queued = PendingQueue::kTotal;
  uint64_t sent = 300 + 16 * 256;
  EXPECT_EQ(snapshot().s.drop_no_tunnel, sent - queued);
  // A failed negotiation drops (and counts) what waited for it.
  dp_->drop_pending(vip_key4(v4(kPeerVip4)));
  EXPECT_EQ(snapshot().s.drop_no_tunnel, sent - queued + PendingQueue::kPerDestination);
  // The tunnel comes up: what waited for other destinations stays queued; new packets to
  // the peer go out at once.
  install();
  uint64_t tx = snapshot().s.tx_packets;
  send_through_lwip(kPeerVip4, 5);
  EXPECT_EQ(snapshot().s.tx_packets, tx + 5);
  EXPECT_EQ(snapshot().s.drop_no_tunnel, sent - queued + PendingQueue::kPerDestination);
}

TEST_F(DataPlaneTest, QueuedPacketsLeaveWhenTheTunnelIsInstalled) {
  send_through_lwip(kPeerVip4, 10);
  EXPECT_EQ(snapshot().s.tx_packets, 0u);
  install();
  EXPECT_EQ(snapshot().s.tx_packets, 10u);
  EXPECT_EQ(snapshot().s.drop_no_tunnel, 0u);
  // The peer gets them, in order, and they open with its session.
  for (int i = 0; i < 10; ++i) {
    uint8_t buf[2048];
    ssize_t n = ::recv(peer_fd_, buf, sizeof buf, 0);
    ASSERT_GT(n, 32);
    crypto::SealedHeader h;
    ASSERT_TRUE(crypto::parse_sealed_header(proto::ByteView(buf, size_t(n)), h));
    EXPECT_EQ(h.counter, uint64_t(i));
    Bytes plain(size_t(n) - 32);
    EXPECT_EQ(peer_->open(h, proto::ByteView(buf, size_t(n)), plain.data()),
              crypto::Session::OpenStatus::kOk);
  }
}

TEST_F(DataPlaneTest, APassSendsItsPacketsWhenItReleasesTheCoreLockCountingEachDatagram) {
  install();
  // 150 packets in one pass: more than one batch holds, so the pass flushes on the way too.
  LOCK_TCPIP_CORE();
  send_through_lwip_locked(kPeerVip4, 150);
  size_t queued = dp_->tx_queued();
  uint64_t counted = snapshot().s.tx_packets;
  UNLOCK_TCPIP_CORE();
#ifdef NTM_LWIP_UNLOCK_HOOK
  EXPECT_EQ(queued, 150u % DataPlane::kTxSlots) << "the rest waits for the end of the pass";
#else
  EXPECT_EQ(queued, 0u) << "packaged lwIP has no end-of-pass hook: every packet goes at once";
#endif
  EXPECT_EQ(counted, 150u - queued) << "counted when the kernel took them, not before";
  Snapshot s = snapshot();
  EXPECT_EQ(s.s.tx_packets, 150u);
  EXPECT_EQ(s.s.tx_bytes, 150u * (28 + 20 + proto::kSealedOverhead));
  for (int i = 0; i < 150; ++i) {
    uint8_t buf[2048];
    ssize_t n = ::recv(peer_fd_, buf, sizeof buf, 0);
    ASSERT_EQ(n, ssize_t(28 + 20 + proto::kSealedOverhead));
    crypto::SealedHeader h;
    ASSERT_TRUE(crypto::parse_sealed_header(proto::ByteView(buf, size_t(n)), h));
    EXPECT_EQ(h.counter, uint64_t(i)) << "in order";
    Bytes plain(size_t(n) - 32);
    EXPECT_EQ(peer_->open(h, proto::ByteView(buf, size_t(n)), plain.data()),
              crypto::Session::OpenStatus::kOk);
  }
}

TEST_F(DataPlaneTest, APacketTheKernelRefusesIsNotCountedAsSent) {
  tunnel_->set_endpoint(*proto::Endpoint::parse("127.0.0.1:0"));  // sendto: EINVAL
  install();
  send_through_lwip(kPeerVip4, 5);
  EXPECT_EQ(snapshot().s.tx_packets, 0u);
  EXPECT_EQ(snapshot().s.tx_bytes, 0u);
  tunnel_->set_endpoint(peer_ep_);
  send_through_lwip(kPeerVip4, 3);
  EXPECT_EQ(snapshot().s.tx_packets, 3u);
}

/// Datagrams to port 12346 of our vIP, in the order lwIP delivered them: the first payload
/// byte of each.
class Listener {
 public:
  Listener() {
    LOCK_TCPIP_CORE();
    pcb_ = udp_new();
    udp_bind(pcb_, IP4_ADDR_ANY, 12346);
    udp_recv(
        pcb_,
        [](void* arg, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {
          auto* self = static_cast<Listener*>(arg);
          uint8_t first = 0;
          pbuf_copy_partial(p, &first, 1, 0);
          pbuf_free(p);
          std::lock_guard l(self->mu_);
          self->got_.push_back(first);
        },
        this);
    UNLOCK_TCPIP_CORE();
  }
  ~Listener() {
    LOCK_TCPIP_CORE();
    udp_remove(pcb_);
    UNLOCK_TCPIP_CORE();
  }
  std::vector<uint8_t> got() {
    std::lock_guard l(mu_);
    return got_;
  }

 private:
  udp_pcb* pcb_ = nullptr;
  std::mutex mu_;
  std::vector<uint8_t> got_;
};

TEST_F(DataPlaneTest, DataThatOvertakesItsTunnelResponseIsHeldAndDeliveredInOrder) {
  // The initiator's view (docs/protocol.md §7.5): the responder sends data as soon as it has
  // answered, so data packets for the receiver index this node reserved can arrive before the
  // tunnel response has installed the tunnel. They wait, and enter the stack before any
  // packet that comes after the install — whichever thread gets there first.
  Listener app;
  auto numbered = [&](uint8_t i) {
    Bytes ip = inner_udp4(kPeerVip4, 10, i);
    ip[28] = i;
    // A header checksum, as a real sender's: lwIP built with the system's options checks it.
    uint32_t sum = 0;
    for (size_t k = 0; k < 20; k += 2) sum += uint32_t(ip[k] << 8 | ip[k + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = uint8_t(~sum >> 8), ip[11] = uint8_t(~sum);
    return seal(ip);
  };
  auto reserve = [&] {
    uint32_t id = tunnels_.allocate_id();
    tunnel_->local_id = id;
    crypto::Key k1, k2;
    crypto::random_bytes(k1.data(), k1.size());
    crypto::random_bytes(k2.data(), k2.size());
    tunnel_->session = std::make_unique<crypto::Session>(k1, k2, kPeerId);
    peer_ = std::make_unique<crypto::Session>(k2, k1, id);
    return id;
  };
  auto barrier = [&] {  // the receive thread is done with what was sent before
    uint64_t c = control_;
    send({4, 0, 0, 0, 9, 9, 9, 9});  // a control datagram: handed to the negotiation
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (control_ == c && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    ASSERT_EQ(control_, c + 1);
  };
  auto wait_for = [&](size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (app.got().size() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
  };

  // 1. Five packets before the install, the sixth after it and before the negotiation thread
  //    delivers the held ones: the receive thread delivers them first.
  reserve();
  for (uint8_t i = 1; i <= 5; ++i) send(numbered(i));
  barrier();
  EXPECT_EQ(snapshot().s.rx_packets, 0u) << "held, not delivered, not dropped";
  EXPECT_TRUE(app.got().empty());
  install();
  send(numbered(6));
  wait_for(6);
  EXPECT_EQ(app.got(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  dp_->deliver_held(tunnel_);  // what the negotiation thread does next: nothing left
  EXPECT_EQ(app.got().size(), 6u);
  EXPECT_EQ(snapshot().s.rx_packets, 6u);

  // 2. The negotiation thread first: the held packets go in when it installs the tunnel.
  tunnels_.remove(tunnel_->local_id);
  reserve();
  for (uint8_t i = 7; i <= 9; ++i) send(numbered(i));
  barrier();
  install();
  dp_->deliver_held(tunnel_);
  EXPECT_EQ(app.got(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  send(numbered(10));
  wait_for(10);
  EXPECT_EQ(app.got(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  // 3. At most TunnelTable::kMaxHeld per reserved ID; the rest, and what a released ID held,
  //    count as unknown tunnel.
  tunnels_.remove(tunnel_->local_id);
  uint32_t id = reserve();
  uint64_t unknown = snapshot().s.drop_unknown_tunnel;
  for (size_t i = 0; i < TunnelTable::kMaxHeld + 3; ++i) send(numbered(uint8_t(i)));
  barrier();
  EXPECT_EQ(snapshot().s.drop_unknown_tunnel, unknown + 3);
  EXPECT_EQ(tunnels_.release_id(id), TunnelTable::kMaxHeld);
  EXPECT_EQ(app.got().size(), 10u);
}

TEST_F(DataPlaneTest, ANewPeerAddressGetsThreeTimesWhatItSentUntilItAnswersItsChallenge) {
  // docs/protocol.md §8.3 and docs/api.md §5 (drop_unvalidated_path): an authenticated packet
  // with the highest counter from a new address moves the tunnel there, but until that address
  // answers a path challenge the node sends it at most 3x the bytes it received from it; the
  // rest is dropped and counted. The answer lifts the limit.
  install();
  Listener app;  // the inner datagrams below have a receiver: lwIP answers nothing
  int fd2 = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd2, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{5, 0};
  ::setsockopt(fd2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto to = udp_.local();
  auto send_from_new = [&](const Bytes& d) {
    ASSERT_EQ(::sendto(fd2, d.data(), d.size(), 0, to.sa(), to.sa_len()), ssize_t(d.size()));
  };
  auto wait_for = [&](uint64_t ntm_stats::*field, uint64_t value) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (snapshot().s.*field < value && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return snapshot().s.*field >= value;
  };
  Snapshot before = snapshot();
  Bytes moved = seal(inner_udp4(kPeerVip4, 400));
  send_from_new(moved);
  ASSERT_TRUE(wait_for(&ntm_stats::path_challenges, before.s.path_challenges + 1));
  EXPECT_EQ(snapshot().s.roams, before.s.roams + 1);

  // 100 packets of 80 bytes on the wire: far more than 3x what came from the new address.
  send_through_lwip(kPeerVip4, 100);
  Snapshot after = snapshot();
  uint64_t sent = after.s.tx_packets - before.s.tx_packets;  // the challenge and the data
  uint64_t dropped = after.s.drop_unvalidated_path - before.s.drop_unvalidated_path;
  EXPECT_GE(dropped, 1u);
  EXPECT_EQ(sent - 1 + dropped, 100u) << "each packet sent or counted";
  uint64_t token = 0, bytes = 0;
  for (uint64_t i = 0; i < sent; ++i) {
    uint8_t buf[2048];
    ssize_t n = ::recv(fd2, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "datagram " << i << " of " << sent << " did not arrive";
    bytes += uint64_t(n);
    crypto::SealedHeader h;
    ASSERT_TRUE(crypto::parse_sealed_header(proto::ByteView(buf, size_t(n)), h));
    Bytes plain(size_t(n) - proto::kSealedOverhead);
    ASSERT_EQ(peer_->open(h, proto::ByteView(buf, size_t(n)), plain.data()),
              crypto::Session::OpenStatus::kOk);
    if (plain.size() >= proto::kTunnelMessageSize && plain[0] == proto::kTunnelMessageMarker &&
        plain[1] == uint8_t(proto::TunnelMessage::kPathChallenge))
      token = proto::get_u64(&plain[2]);
  }
  EXPECT_LE(bytes, 3 * moved.size()) << "more than 3x what the unvalidated address sent";
  ASSERT_NE(token, 0u) << "no path challenge reached the new address";
  uint8_t dummy[64];
  EXPECT_LT(::recv(peer_fd_, dummy, sizeof dummy, MSG_DONTWAIT), 0) << "the old address got data";

  // The new address answers: the limit is gone.
  Bytes response(proto::kTunnelMessageSize, 0);
  response[0] = proto::kTunnelMessageMarker;
  response[1] = uint8_t(proto::TunnelMessage::kPathResponse);
  proto::put_u64(&response[2], token);
  send_from_new(seal(response));
  ASSERT_TRUE(wait_for(&ntm_stats::paths_validated, before.s.paths_validated + 1));
  send_through_lwip(kPeerVip4, 100);
  Snapshot validated = snapshot();
  EXPECT_EQ(validated.s.tx_packets, after.s.tx_packets + 100);
  EXPECT_EQ(validated.s.drop_unvalidated_path, after.s.drop_unvalidated_path);
  for (int i = 0; i < 100; ++i) {
    uint8_t buf[2048];
    ASSERT_EQ(::recv(fd2, buf, sizeof buf, 0), ssize_t(28 + 20 + proto::kSealedOverhead));
  }
  ::close(fd2);
}

}  // namespace
}  // namespace ntm::packet
