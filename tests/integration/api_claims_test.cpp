// What docs/api.md promises beyond plain BSD semantics, each checked in-process against a
// real ntm-dc and peer processes: name resolution (AF_UNSPEC, answers from a live tunnel
// while the DC is silent, EHOSTUNREACH), ntm_wait_tunnel, the event fd's once-per-clear-cycle
// rule and its wake-ups, the socket table (ENFILE, and recovery), datagram size limits (EMSGSIZE),
// the drop counters of a running node fed hostile datagrams, and TCP retransmitting at once when
// the path works again after a network change (§7).
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "api_fixture.h"
#include "ntm/ntm.hpp"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

sockaddr* sa(void* p) {
  return reinterpret_cast<sockaddr*>(p);
}

std::string text(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "-";
  if (a.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf, sizeof buf);
  if (a.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, buf, sizeof buf);
  return buf;
}

/// Waits (up to 10 s) until `done(stats)` holds; returns the last counters seen.
template <typename Pred>
ntm_stats wait_stats(Pred done) {
  ntm_stats s = stats_now();
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !done(s) && std::chrono::steady_clock::now() < deadline; s = stats_now())
    std::this_thread::sleep_for(5ms);
  return s;
}

TEST_F(Api, NamesResolveWithAfUnspecFromALiveTunnelAndNeverToOneself) {
  auto peer = node("peer", {"info", "--hold"});
  auto info = fields(peer->wait_for_line("info ", 10s).value_or(""));
  ntm::Node self(cfg_);
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(ntm_getaddrinfo(fqdn("peer").c_str(), AF_UNSPEC, 8080, sa(&a), &len), 0)
      << ntm_last_error();
  EXPECT_EQ(a.ss_family, AF_INET) << "AF_UNSPEC: IPv4 first";
  EXPECT_EQ(text(a), info["vip4"]);
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&a)->sin_port, htons(8080));
  ASSERT_EQ(ntm_wait_tunnel(sa(&a), len, 10000), 0);

  // With the tunnel up the name is answered here: the DC is frozen and cannot answer.
  ASSERT_TRUE(dc_->freeze());
  sockaddr_storage b{};
  socklen_t blen = sizeof b;
  int rc = ntm_getaddrinfo(fqdn("peer").c_str(), AF_INET6, 0, sa(&b), &blen);
  int err = errno;
  dc_->thaw();
  ASSERT_EQ(rc, 0) << strerror(err) << ": " << ntm_last_error();
  EXPECT_EQ(text(b), info["vip6"]);

  sockaddr_storage me{};
  socklen_t melen = sizeof me;
  EXPECT_EQ(ntm_getaddrinfo(fqdn("self").c_str(), AF_INET, 0, sa(&me), &melen), -1);
  EXPECT_EQ(errno, EHOSTUNREACH) << "the DC directs no tunnel to the asking node itself";
  EXPECT_NE(std::string(ntm_last_error()), "");
}

TEST_F(Api, AfUnspecFallsBackToIpv6WhenThePeerHasNoIpv4Vip) {
  dc_.reset();
  dc_port_ = 0;
  start_dc({"--vip4-pool", "none"});
  configure();
  auto peer = node("peer", {"info", "--hold"});
  auto info = fields(peer->wait_for_line("info ", 10s).value_or(""));
  ASSERT_EQ(info["vip4"], "-");
  ntm::Node self(cfg_);
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(ntm_getaddrinfo(fqdn("peer").c_str(), AF_UNSPEC, 0, sa(&a), &len), 0);
  EXPECT_EQ(a.ss_family, AF_INET6);
  EXPECT_EQ(text(a), info["vip6"]);
  len = sizeof a;
  EXPECT_EQ(ntm_getaddrinfo(fqdn("peer").c_str(), AF_INET, 0, sa(&a), &len), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  EXPECT_EQ(ntm_get_vip(AF_INET, sa(&a), &len), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

TEST_F(Api, WaitTunnelReturnsOnceTheTunnelIsUpAndTimesOutOtherwise) {
  auto peer = node("peer", {"info", "--hold"});
  auto info = fields(peer->wait_for_line("info ", 10s).value_or(""));
  ntm::Node self(cfg_);
  sockaddr_in v{};
  v.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, info["vip4"].c_str(), &v.sin_addr), 1);
  EXPECT_EQ(ntm_wait_tunnel(sa(&v), sizeof v, 100), -1) << "nobody asked for this tunnel";
  EXPECT_EQ(errno, ETIMEDOUT);
  ntm_stats before = stats_now();
  EXPECT_EQ(before.tunnels_established, 0u);
  EXPECT_EQ(before.tunnels_open, 0u);
  EXPECT_EQ(before.negotiations_open, 0u);
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(ntm_getaddrinfo(info["vip4"].c_str(), AF_INET, 0, sa(&a), &len), 0)
      << "a numeric vIP starts the tunnel too";
  ASSERT_EQ(ntm_wait_tunnel(sa(&v), sizeof v, 10000), 0);
  ntm_stats up = stats_now();
  EXPECT_EQ(up.tunnels_established, 1u);
  // The gauges: one peer, one tunnel, the negotiation that keeps it; no relay, no socket.
  EXPECT_EQ(up.tunnels_open, 1u);
  EXPECT_EQ(up.negotiations_open, 1u);
  EXPECT_EQ(up.relay_sessions_open, 0u);
  EXPECT_EQ(up.sockets_open, 0u);
  EXPECT_EQ(ntm_wait_tunnel(sa(&v), sizeof(sockaddr_in) - 1, 100), -1);
  EXPECT_EQ(errno, EINVAL);
  sockaddr bad{};
  bad.sa_family = AF_UNIX;
  EXPECT_EQ(ntm_wait_tunnel(&bad, sizeof bad, 100), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Api, TheEventFdIsWrittenOncePerClearCycle) {
  ntm::Node self(cfg_);
  sockaddr_in a = vip4_port(9100);
  ntm::Socket rx(AF_INET, SOCK_DGRAM), tx(AF_INET, SOCK_DGRAM);
  ASSERT_EQ(ntm_bind(rx.fd(), sa(&a), sizeof a), 0);
  timeval tv{5, 0};
  ntm_setsockopt(rx.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int efd = ntm_event_fd();
  ASSERT_GE(efd, 0);
  for (int cycle = 0; cycle < 3; ++cycle) {
    ASSERT_EQ(ntm_event_clear(), 0);
    // Twenty datagrams in and out: forty socket events or more.
    for (int i = 0; i < 20; ++i) ASSERT_EQ(ntm_sendto(tx.fd(), "e", 1, 0, sa(&a), sizeof a), 1);
    char c;
    for (int i = 0; i < 20; ++i) ASSERT_EQ(ntm_recv(rx.fd(), &c, 1, 0), 1) << i;
    uint64_t writes = 0;
    ASSERT_EQ(::read(efd, &writes, sizeof writes), ssize_t(sizeof writes));
    EXPECT_EQ(writes, 1u) << "the eventfd counts writes: one per clear cycle";
  }
}

TEST_F(Api, TheEventFdWakesForAConnectionDataSendSpaceAndTheEndOfAStream) {
  // The documented loop (clear, check, wait on the event fd) never sleeps through a change:
  // each state below is reached only through a wake-up. The peer is ntm-cat in another
  // process, driven through its stdin and stdout, so every event here is one socket's.
  ntm::Node self(cfg_);
  int efd = ntm_event_fd();
  ASSERT_GE(efd, 0);
  auto until = [&](auto ready) {
    for (int i = 0; i < 1000; ++i) {
      if (ntm_event_clear() != 0) return false;
      if (ready()) return true;
      pollfd p{efd, POLLIN, 0};
      if (::poll(&p, 1, 30000) != 1) return false;  // asleep while nothing told it
    }
    return false;
  };
  sockaddr_in at = vip4_port(9600);
  ntm::Socket l(AF_INET, SOCK_STREAM);
  ASSERT_EQ(ntm_bind(l.fd(), sa(&at), sizeof at), 0);
  ASSERT_EQ(ntm_listen(l.fd(), 1), 0);
  ASSERT_EQ(ntm_fcntl(l.fd(), F_SETFL, O_NONBLOCK), 0);
  Process cat({bin("ntm-cat"), fqdn("self"), "9600"}, node_env("peer"), dir_.path() + "/peer.err");
  // 1. A connection to accept.
  int fd = -1;
  ASSERT_TRUE(until([&] { return (fd = ntm_accept(l.fd(), nullptr, nullptr)) >= 0; }))
      << "no wake-up for the incoming connection";
  ntm::Socket s(fd);
  ASSERT_EQ(ntm_fcntl(s.fd(), F_SETFL, O_NONBLOCK), 0);
  // 2. Data.
  cat.write_stdin("hello\n");
  char in[64];
  ssize_t n = 0;
  ASSERT_TRUE(until([&] { return (n = ntm_recv(s.fd(), in, sizeof in, 0)) > 0; }))
      << "no wake-up for data";
  EXPECT_EQ(std::string(in, size_t(n)), "hello\n");
  // 3. Send space. First fill everything between here and ntm-cat's stdout, which nobody reads
  // yet: send until a send does not fit, again whenever acknowledgements free space, until a
  // send that does not fit is followed by 300 ms of quiet. A send that does not fit is no
  // reason to wake: the loop would spin for as long as the peer does not read (before: each
  // EWOULDBLOCK wrote the event fd, so this never went quiet).
  std::string chunk(64 * 1024, 'x');
  for (size_t i = 63; i < chunk.size(); i += 64) chunk[i] = '\n';
  size_t sent = 0;
  bool quiet = false;
  for (int round = 0; round < 200 && !quiet; ++round) {
    while (sent < (64u << 20) && (n = ntm_send(s.fd(), chunk.data(), chunk.size(), 0)) > 0)
      sent += size_t(n);
    ASSERT_EQ(n, -1) << "64 MiB fitted: nothing to wait for";
    ASSERT_EQ(errno, EWOULDBLOCK);
    ASSERT_EQ(ntm_event_clear(), 0);
    if ((n = ntm_send(s.fd(), chunk.data(), chunk.size(), 0)) > 0) {
      sent += size_t(n);
      continue;
    }
    pollfd p{efd, POLLIN, 0};
    quiet = ::poll(&p, 1, 300) == 0;
  }
  ASSERT_TRUE(quiet) << "the event fd never stayed quiet while every send failed";
  // Then read ntm-cat's stdout, and wait until a send fits again.
  size_t drained = 0;
  std::thread reader([&] {
    while (auto line = cat.read_line(30s)) drained += line->size() + 1;
  });
  EXPECT_TRUE(until([&] { return ntm_send(s.fd(), "\n", 1, 0) == 1; }))
      << "no wake-up for send space";
  // 4. The end of the stream: ntm-cat's stdin ends, it sends its FIN.
  cat.close_stdin();
  EXPECT_TRUE(until([&] { return ntm_recv(s.fd(), in, sizeof in, 0) == 0; }))
      << "no wake-up for the end of the stream";
  s.reset();  // closed: ntm-cat's stdout ends once it has everything
  reader.join();
  EXPECT_EQ(cat.wait(30s), 0);
  EXPECT_GE(drained, sent);
}

TEST_F(Api, AFullSocketTableGivesEnfileAndRecovers) {
  cfg_.max_sockets = 4;
  ntm::Node self(cfg_);
  sockaddr_in a = vip4_port(9200);
  int listener = ntm_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(ntm_bind(listener, sa(&a), sizeof a), 0);
  ASSERT_EQ(ntm_listen(listener, 4), 0);
  int c1 = ntm_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(ntm_connect(c1, sa(&a), sizeof a), 0);
  int a1 = ntm_accept(listener, nullptr, nullptr);
  ASSERT_GE(a1, 0);
  int c2 = ntm_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(c2, 0);
  ASSERT_EQ(ntm_connect(c2, sa(&a), sizeof a), 0);  // queued at the listener
  EXPECT_EQ(ntm_socket(AF_INET, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, ENFILE);
  EXPECT_EQ(ntm_accept(listener, nullptr, nullptr), -1);
  EXPECT_EQ(errno, ENFILE) << "four sockets open";
  ASSERT_EQ(ntm_close(c1), 0);
  int a2 = ntm_accept(listener, nullptr, nullptr);
  ASSERT_GE(a2, 0) << "the connection waited in the queue";
  ASSERT_EQ(ntm_send(c2, "still here", 10, 0), 10);
  char buf[16] = {};
  EXPECT_EQ(ntm_recv(a2, buf, sizeof buf, 0), 10);
  EXPECT_STREQ(buf, "still here");
  EXPECT_EQ(ntm_socket(AF_INET, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, ENFILE);
  ASSERT_EQ(ntm_close(a1), 0);
  int u = ntm_socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(u, 0) << "a closed socket frees its slot";
  for (int fd : {u, a2, c2, listener}) ntm_close(fd);
}

TEST_F(Api, DatagramsLargerThanAnIpPacketFailWithEmsgsize) {
  ntm::Node self(cfg_);
  std::vector<char> big(70000, 'x');
  sockaddr_in a4 = vip4_port(9300);
  ntm::Socket rx4(AF_INET, SOCK_DGRAM), u4(AF_INET, SOCK_DGRAM),
      raw4(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  ASSERT_EQ(ntm_bind(rx4.fd(), sa(&a4), sizeof a4), 0);
  EXPECT_EQ(ntm_sendto(u4.fd(), big.data(), 65507, 0, sa(&a4), sizeof a4), 65507);
  for (size_t n : {65508, 65536, 70000}) {
    errno = 0;
    EXPECT_EQ(ntm_sendto(u4.fd(), big.data(), n, 0, sa(&a4), sizeof a4), -1) << n;
    EXPECT_EQ(errno, EMSGSIZE) << n;
  }
  ASSERT_EQ(ntm_connect(u4.fd(), sa(&a4), sizeof a4), 0);
  EXPECT_EQ(ntm_send(u4.fd(), big.data(), 65508, 0), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  EXPECT_EQ(ntm_sendto(raw4.fd(), big.data(), 65516, 0, sa(&a4), sizeof a4), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  // A refused datagram sent nothing: rx4 holds the one that fitted, and no part of the others.
  timeval tv{10, 0};
  ASSERT_EQ(ntm_setsockopt(rx4.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  std::vector<char> in(70000);
  EXPECT_EQ(ntm_recv(rx4.fd(), in.data(), in.size(), 0), 65507);
  pollfd more{rx4.fd(), POLLIN, 0};
  EXPECT_EQ(ntm_poll(&more, 1, 300), 0) << "a refused datagram arrived, or part of it";

  sockaddr_in6 a6{};
  socklen_t len = sizeof a6;
  ASSERT_EQ(ntm_get_vip(AF_INET6, sa(&a6), &len), 0);
  a6.sin6_port = htons(9301);
  ntm::Socket rx6(AF_INET6, SOCK_DGRAM), u6(AF_INET6, SOCK_DGRAM);
  ASSERT_EQ(ntm_bind(rx6.fd(), sa(&a6), sizeof a6), 0);
  EXPECT_EQ(ntm_sendto(u6.fd(), big.data(), 65487, 0, sa(&a6), sizeof a6), 65487);
  EXPECT_EQ(ntm_sendto(u6.fd(), big.data(), 65488, 0, sa(&a6), sizeof a6), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  ASSERT_EQ(ntm_setsockopt(rx6.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  EXPECT_EQ(ntm_recv(rx6.fd(), in.data(), in.size(), 0), 65487);
  more.fd = rx6.fd();
  EXPECT_EQ(ntm_poll(&more, 1, 300), 0) << "a refused datagram arrived, or part of it";

  // A stream has no datagram limit.
  ntm::Socket l(AF_INET, SOCK_STREAM), c(AF_INET, SOCK_STREAM);
  sockaddr_in at = vip4_port(9302);
  ASSERT_EQ(ntm_bind(l.fd(), sa(&at), sizeof at), 0);
  ASSERT_EQ(ntm_listen(l.fd(), 1), 0);
  ASSERT_EQ(ntm_connect(c.fd(), sa(&at), sizeof at), 0);
  EXPECT_GT(ntm_send(c.fd(), big.data(), big.size(), 0), 0);
}

TEST_F(Api, AFullPendingQueueAndAFailedNegotiationAreCounted) {
  ntm::Node self(cfg_);
  ntm::Socket u(AF_INET, SOCK_DGRAM);
  sockaddr_in nobody{};  // in the DC's pool, held by no node
  nobody.sin_family = AF_INET;
  nobody.sin_port = htons(9);
  inet_pton(AF_INET, "100.64.0.250", &nobody.sin_addr);
  // With the DC frozen the direction request stays unanswered: the packets wait, 256 of them.
  ASSERT_TRUE(dc_->freeze());
  for (int i = 0; i < 300; ++i) ntm_sendto(u.fd(), "queued", 6, 0, sa(&nobody), sizeof nobody);
  uint64_t at_once = stats_now().drop_no_tunnel;
  dc_->thaw();
  EXPECT_EQ(at_once, 300u - 256u) << "256 wait for the tunnel, the rest is dropped at once";
  // The DC knows no such node: the negotiation fails and the waiting packets are counted.
  auto s = wait_stats([](const ntm_stats& s) { return s.drop_no_tunnel >= 300; });
  EXPECT_EQ(s.drop_no_tunnel, 300u);
  EXPECT_EQ(s.tx_packets, 0u);
}

TEST_F(Api, HostileDatagramsAtTheNodesPortAreCountedOnceEach) {
  uint16_t port = free_udp_port();
  std::string bind = "127.0.0.1:" + std::to_string(port);
  cfg_.bind_address = bind.c_str();
  ntm::Node self(cfg_);
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto send = [&](std::vector<uint8_t> d) {
    ASSERT_EQ(::sendto(s, d.data(), d.size(), 0, sa(&to), sizeof to), ssize_t(d.size()));
  };
  auto sealed = [](uint8_t type, uint32_t index, size_t size = 48) {
    std::vector<uint8_t> d(size, 0xab);
    d[0] = type, d[1] = d[2] = d[3] = 0;
    d[4] = uint8_t(index >> 24), d[5] = uint8_t(index >> 16);
    d[6] = uint8_t(index >> 8), d[7] = uint8_t(index);
    return d;
  };
  ntm_stats before = stats_now();
  send({});                              // malformed: empty
  send({0x42, 1, 2, 3});                 // malformed: unknown packet type
  send(std::vector<uint8_t>(20, 0x05));  // malformed: a data packet shorter than its overhead
  send(sealed(0x05, 0x01020304));        // unknown tunnel
  send(sealed(0x03, 7));                 // control, not from the DC
  send(sealed(0x02, 7));                 // handshake response, not from the DC
  // Tunnel requests ahead of their route direction are kept, 64 at most (5 s each); one
  // shorter than any tunnel handshake message is not.
  for (uint32_t i = 0; i < 100; ++i) send(sealed(0x04, 0x10000 + i, 96));
  send(sealed(0x04, 0x20000, 63));
  send(sealed(0x03, 8));  // last: once it is counted, everything before it was handled
  uint64_t want_control = before.drop_control + 2 + (100 - 64) + 1 + 1;
  auto s2 = wait_stats([&](const ntm_stats& st) {
    return st.drop_control >= want_control && st.drop_unknown_tunnel > before.drop_unknown_tunnel;
  });
  EXPECT_EQ(s2.drop_malformed, before.drop_malformed + 3);
  EXPECT_EQ(s2.drop_unknown_tunnel, before.drop_unknown_tunnel + 1);
  EXPECT_EQ(s2.drop_control, want_control);
  EXPECT_EQ(s2.drop_auth + s2.drop_replay + s2.drop_too_old + s2.drop_spoofed,
            before.drop_auth + before.drop_replay + before.drop_too_old + before.drop_spoofed);
  EXPECT_EQ(s2.rx_packets, before.rx_packets);
  // Kept requests expire after 5 s: then 64 new ones are kept again, the 65th is dropped. (The
  // wait only has to be long enough; a slow machine waits longer, which changes nothing.)
  std::this_thread::sleep_for(5500ms);
  for (uint32_t i = 0; i < 65; ++i) send(sealed(0x04, 0x30000 + i, 96));
  send(sealed(0x03, 9));
  auto s3 = wait_stats([&](const ntm_stats& st) { return st.drop_control >= want_control + 2; });
  std::this_thread::sleep_for(200ms);  // nothing more comes
  EXPECT_EQ(stats_now().drop_control, want_control + 2)
      << "the 65th request and the last control packet only; first count " << s3.drop_control;
  ::close(s);
}

TEST_F(Api, RecvWithMsgWaitallWaitsForTheWholeLengthLikeBsd) {
  // docs/api.md §3: MSG_WAITALL on a stream socket waits for the whole length (lwIP alone
  // returns what its first pass found) - or for a timeout, the end of the stream, or nothing
  // more there on a non-blocking call, returning what came; after the end of the stream every
  // read returns 0.
  auto peer = node("peer", {"serve", "9540"});
  ASSERT_TRUE(peer->wait_for_line("ready", 10s));
  ntm::Node self(cfg_);
  sockaddr_in at{};
  socklen_t len = sizeof at;
  ASSERT_EQ(ntm_getaddrinfo(fqdn("peer").c_str(), AF_INET, 9540, sa(&at), &len), 0)
      << ntm_last_error();
  ntm::Socket s(AF_INET, SOCK_STREAM);
  ASSERT_EQ(ntm_connect(s.fd(), sa(&at), len), 0) << ntm_last_error();
  // 200 kB written 1000 bytes at a time: the echo comes back in many segments.
  std::vector<char> data(200000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 7 + i / 251);
  std::thread sender([&] {
    for (size_t off = 0; off < data.size(); off += 1000)
      ASSERT_EQ(ntm_send(s.fd(), data.data() + off, 1000, 0), 1000);
  });
  std::vector<char> back(data.size());
  ssize_t n = ntm_recv(s.fd(), back.data(), back.size(), MSG_WAITALL);
  sender.join();
  ASSERT_EQ(n, ssize_t(back.size())) << "returned before the whole length came";
  EXPECT_TRUE(back == data);
  // Part of the length, then nothing more for SO_RCVTIMEO: that part, not an error.
  ASSERT_EQ(ntm_send(s.fd(), "0123456789", 10, 0), 10);
  pollfd p{s.fd(), POLLIN, 0};
  ASSERT_EQ(ntm_poll(&p, 1, 30000), 1);
  timeval tv{0, 300000};
  ASSERT_EQ(ntm_setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char buf[100];
  for (auto until = std::chrono::steady_clock::now() + 30s;;) {  // the 10 bytes may come apart
    if (ntm_recv(s.fd(), buf, 0, MSG_PEEK) >= 0 && ntm_recv(s.fd(), buf, 10, MSG_PEEK) == 10) break;
    ASSERT_LT(std::chrono::steady_clock::now(), until);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, MSG_WAITALL), 10);
  EXPECT_EQ(std::memcmp(buf, "0123456789", 10), 0);
  // Non-blocking (MSG_DONTWAIT) with nothing there: EWOULDBLOCK, as without MSG_WAITALL.
  errno = 0;
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, MSG_WAITALL | MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  // The end of the stream with part of the length: that part, then 0.
  ASSERT_EQ(ntm_send(s.fd(), "abcde", 5, 0), 5);
  ASSERT_EQ(ntm_shutdown(s.fd(), SHUT_WR), 0);
  tv = {30, 0};
  ASSERT_EQ(ntm_setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, MSG_WAITALL), 5);
  EXPECT_EQ(std::memcmp(buf, "abcde", 5), 0);
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, MSG_WAITALL), 0);
  // And so does every read after it, as on BSD (lwIP alone says ENOTCONN).
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, 0), 0);
  EXPECT_EQ(ntm_recv(s.fd(), buf, sizeof buf, MSG_DONTWAIT), 0);
}

/// Sends this process's stderr (libntm's log) to `path` until destroyed.
class StderrToFile {
 public:
  explicit StderrToFile(const std::string& path) : saved_(::dup(2)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
  }
  ~StderrToFile() {
    ::dup2(saved_, 2);
    ::close(saved_);
  }

 private:
  int saved_;
};

TEST_F(Api, AfterANetworkChangeTcpWaitingForABackedOffTimerRetransmitsOnceThePathWorks) {
  // docs/api.md §7 step 4: the path to the peer broke (every packet lost) and a TCP
  // connection's retransmission timer backed off; then the node moves (here: an address of
  // global scope appears) where the path works, the peer answers the path challenge, and the
  // connection retransmits at once instead of sitting out its timer (3.2 s and more away).
#ifndef NTM_TEST_LWIP_PATCHED
  GTEST_SKIP() << "the packaged lwIP counts no timeouts: the test cannot see the backoff";
#endif
  // A network of this test's own: the DC, the peer and this node in a new network namespace
  // (this process runs this one test), where fixed ports, a firewall rule and a new address
  // disturb nobody.
  if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "unshare: " << std::strerror(errno);
  ASSERT_EQ(std::system("ip link set lo up"), 0);
  dc_.reset();
  dc_port_ = 0;
  start_dc();
  configure();
  cfg_.bind_address = "127.0.0.1:47000";
  auto peer = node("peer", {"serve", "9530"}, "", "127.0.0.1:47001");
  ASSERT_TRUE(peer->wait_for_line("ready", 20s));
  std::string log = dir_.path() + "/self.err";
  StderrToFile to_log(log);
  ::setenv("NTM_LOG", "info", 1);
  ntm::Node self(cfg_);
  sockaddr_in at{};
  socklen_t len = sizeof at;
  ASSERT_EQ(ntm_getaddrinfo(fqdn("peer").c_str(), AF_INET, 9530, sa(&at), &len), 0)
      << ntm_last_error();
  ntm::Socket s(AF_INET, SOCK_STREAM);
  ASSERT_EQ(ntm_connect(s.fd(), sa(&at), len), 0) << ntm_last_error();
  char first[10];
  ASSERT_EQ(ntm_send(s.fd(), "0123456789", 10, 0), 10);
  ASSERT_EQ(ntm_recv(s.fd(), first, sizeof first, MSG_WAITALL), 10);
  // The path between the two nodes breaks: what is sent now is lost, and each timeout
  // doubles the next.
  ASSERT_EQ(
      std::system("nft add table inet ntmtest && "
                  "nft add chain inet ntmtest out '{ type filter hook output priority 0; }' && "
                  "nft add rule inet ntmtest out udp sport 47000 udp dport 47001 drop && "
                  "nft add rule inet ntmtest out udp sport 47001 udp dport 47000 drop"),
      0);
  ASSERT_EQ(ntm_fcntl(s.fd(), F_SETFL, O_NONBLOCK), 0);
  std::vector<char> data(60000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = char('a' + i % 26);
  ssize_t sent = ntm_send(s.fd(), data.data(), data.size(), 0);
  ASSERT_GT(sent, 0);
  // Four timeouts (3 s at the least RTO, 200 ms): the next one is 16x the first, at least
  // 3.2 s away - and both nodes' check of a path that stopped answering is 6 s away.
  ntm_stats st{};
  for (auto until = std::chrono::steady_clock::now() + 30s;
       (st = stats_now()).tcp_rto_events < 4 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(st.tcp_rto_events, 4u);
  // The path works again, and the node sees a change of its network.
  auto moved = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system("nft delete table inet ntmtest && ip addr add 10.77.0.1/32 dev lo"), 0);
  EXPECT_TRUE(
      wait_for_file_text(log, "path after the move works: 1 TCP connection(s) retransmit now", 30s))
      << "the connection was not nudged";
  // Every byte comes back, in order. (How soon is printed, not asserted: without the nudge it
  // would be after the rest of the backed-off timer.)
  ASSERT_EQ(ntm_fcntl(s.fd(), F_SETFL, 0), 0);
  timeval tv{60, 0};
  ntm_setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<char> back(static_cast<size_t>(sent));
  ASSERT_EQ(ntm_recv(s.fd(), back.data(), back.size(), MSG_WAITALL), sent);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), data.begin()));
  std::printf(
      "all %zd bytes back %.0f ms after the move; timeouts: %llu before, %llu after\n", sent,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - moved).count(),
      static_cast<unsigned long long>(st.tcp_rto_events),
      static_cast<unsigned long long>(stats_now().tcp_rto_events));
  ::unsetenv("NTM_LOG");
}

}  // namespace
}  // namespace ntm::test
