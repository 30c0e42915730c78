// The C API's contract, in-process against a real ntm-dc: errno values, BSD semantics on the
// node's own vIP (lwIP loops packets to its own address back), ntm_event_fd(), restarts, and
// the C++ wrappers. One node per process, so these tests run in their own executable.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "api_fixture.h"
#include "ntm/ntm.hpp"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

TEST_F(Api, CallsWithoutANodeFailWithEnotconn) {
  errno = 0;
  EXPECT_EQ(ntm_socket(AF_INET, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(ntm_stop(), -1);
  EXPECT_EQ(errno, ENOTCONN);
  ntm_stats s;
  EXPECT_EQ(ntm_get_stats(&s), -1);
  EXPECT_EQ(errno, ENOTCONN);
}

TEST_F(Api, StartRejectsBadConfigurationWithEinval) {
  ntm_config bad = cfg_;
  bad.node_name = nullptr;
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  bad = cfg_;
  bad.dc_public_key = "not-a-key";
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_NE(std::string(ntm_last_error()).find("dc_public_key"), std::string::npos);
  bad = cfg_;
  bad.node_name = "Not A Label!";
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  bad = cfg_;
  bad.dc_address = "localhost";
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  // Nine DC endpoints, each well-formed: at most 8.
  std::string nine = cfg_.dc_address;
  for (int i = 0; i < 8; ++i) nine += std::string(",") + cfg_.dc_address;
  bad = cfg_;
  bad.dc_address = nine.c_str();
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_NE(std::string(ntm_last_error()).find("at most 8"), std::string::npos);
  // An account needs its password, and both have lengths.
  std::string long_account(65, 'a'), long_password(257, 'p');
  struct Login {
    const char *account, *password;
  };
  for (Login l : {Login{"acct", nullptr}, Login{nullptr, "password1"}, Login{"", "password1"},
                  Login{long_account.c_str(), "password1"}, Login{"acct", "seven77"},
                  Login{"acct", long_password.c_str()}}) {
    bad = cfg_;
    bad.account = l.account;
    bad.password = l.password;
    errno = 0;
    EXPECT_EQ(ntm_start(&bad), -1) << (l.account ? l.account : "(null)");
    EXPECT_EQ(errno, EINVAL) << (l.account ? l.account : "(null)");
  }
  // A tunnel timeout under twice the keep-alive interval.
  bad = cfg_;
  bad.keepalive_interval_ms = 1000;
  bad.tunnel_timeout_ms = 1999;
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_NE(std::string(ntm_last_error()).find("tunnel_timeout_ms"), std::string::npos);
  // NTM_NS_PING_MS outside 1000..86400000.
  for (const char* ping : {"999", "86400001"}) {
    ::setenv("NTM_NS_PING_MS", ping, 1);
    errno = 0;
    EXPECT_EQ(ntm_start(&cfg_), -1) << ping;
    EXPECT_EQ(errno, EINVAL) << ping;
  }
  ::unsetenv("NTM_NS_PING_MS");
  // None of the refusals left anything behind: the good configuration starts.
  ASSERT_EQ(ntm_start(&cfg_), 0) << ntm_last_error();
  EXPECT_EQ(ntm_stop(), 0);
}

TEST_F(Api, ADcListedAtSeveralAddressesIsReachedAtOneThatAnswers) {
  // The first endpoint has a route but no DC behind it: the next handshake try goes to the
  // second one (docs/api.md, ntm_config.dc_address), and the node registers there.
  std::string list = "127.0.0.1:" + std::to_string(free_udp_port()) + "," + cfg_.dc_address;
  ntm_config two = cfg_;
  two.dc_address = list.c_str();
  two.start_timeout_ms = 5000;
  ASSERT_EQ(ntm_start(&two), 0) << ntm_last_error();
  char fqdn_buf[256] = "";
  ASSERT_EQ(ntm_get_fqdn(fqdn_buf, sizeof fqdn_buf), 0);
  EXPECT_EQ(std::string(fqdn_buf), fqdn("self"));
  EXPECT_EQ(ntm_stop(), 0);
  // After the stop: the node's final counters, with nothing held.
  ntm_stats final{};
  EXPECT_EQ(ntm_get_stats(&final), 0) << "the stopped node's final counters";
  EXPECT_EQ(final.tunnels_open + final.negotiations_open + final.sockets_open, 0u);
  // A list with a bad entry is refused as a whole.
  std::string bad_list = std::string(cfg_.dc_address) + ",localhost";
  two.dc_address = bad_list.c_str();
  EXPECT_EQ(ntm_start(&two), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Api, WrongPinnedDcKeyTimesOut) {
  ntm_config bad = cfg_;
  bad.dc_public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";  // valid base64, wrong key
  bad.start_timeout_ms = 1000;
  EXPECT_EQ(ntm_start(&bad), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
}

TEST_F(Api, SocketsBehaveLikeBsdSocketsOnTheOwnVip) {
  ntm::Node node(cfg_);
  EXPECT_EQ(node.fqdn(), fqdn("self"));
  EXPECT_EQ(ntm_start(&cfg_), -1);
  EXPECT_EQ(errno, EALREADY);

  ntm::Socket listener(AF_INET, SOCK_STREAM);
  sockaddr_in addr = vip4_port(8080);
  ASSERT_EQ(ntm_bind(listener.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(ntm_listen(listener.fd(), 4), 0);
  // A non-blocking accept with nothing pending.
  ASSERT_EQ(ntm_fcntl(listener.fd(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(ntm_accept(listener.fd(), nullptr, nullptr), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_EQ(ntm_fcntl(listener.fd(), F_GETFL, 0) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(ntm_fcntl(listener.fd(), F_DUPFD, 0), -1);
  EXPECT_EQ(errno, EINVAL);

  int efd = ntm_event_fd();
  ASSERT_GE(efd, 0);
  ntm_event_clear();

  ntm::Socket client(AF_INET, SOCK_STREAM);
  ASSERT_EQ(ntm_connect(client.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  pollfd p{listener.fd(), POLLIN, 0};
  ASSERT_EQ(ntm_poll(&p, 1, 2000), 1);
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  ntm::Socket server(ntm_accept(listener.fd(), reinterpret_cast<sockaddr*>(&peer), &plen));
  ASSERT_GE(server.fd(), 0);
  EXPECT_EQ(peer.sin_addr.s_addr, addr.sin_addr.s_addr);
  EXPECT_EQ(stats_now().sockets_open, 3u) << "listener, client, accepted";

  sockaddr_in name{};
  socklen_t nlen = sizeof name;
  ASSERT_EQ(ntm_getpeername(client.fd(), reinterpret_cast<sockaddr*>(&name), &nlen), 0);
  EXPECT_EQ(name.sin_port, htons(8080));
  ASSERT_EQ(ntm_getsockname(server.fd(), reinterpret_cast<sockaddr*>(&name), &nlen), 0);
  EXPECT_EQ(name.sin_port, htons(8080));

  // The event fd turns readable once data is waiting, and clear() resets it.
  ntm_event_clear();
  pollfd e{efd, POLLIN, 0};
  EXPECT_EQ(::poll(&e, 1, 0), 0);
  ASSERT_EQ(ntm_send(client.fd(), "ping", 4, 0), 4);
  EXPECT_EQ(::poll(&e, 1, 2000), 1);
  ntm_event_clear();
  EXPECT_EQ(::poll(&e, 1, 0), 0);

  char buf[16] = {};
  ASSERT_EQ(ntm_recv(server.fd(), buf, sizeof buf, 0), 4);
  EXPECT_STREQ(buf, "ping");
  ASSERT_EQ(ntm_fcntl(server.fd(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(ntm_recv(server.fd(), buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);

  int on = 1, got = 0;
  socklen_t glen = sizeof got;
  EXPECT_EQ(ntm_setsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), 0);
  EXPECT_EQ(ntm_getsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &got, &glen), 0);
  EXPECT_NE(got, 0);
  EXPECT_EQ(ntm_getsockopt(client.fd(), SOL_SOCKET, SO_TYPE, &got, &glen), 0);
  EXPECT_EQ(got, SOCK_STREAM);

  ASSERT_EQ(ntm_shutdown(client.fd(), SHUT_WR), 0);
  ASSERT_EQ(ntm_fcntl(server.fd(), F_SETFL, 0), 0);
  EXPECT_EQ(ntm_recv(server.fd(), buf, sizeof buf, 0), 0) << "EOF after the peer's shutdown";

  EXPECT_EQ(ntm_close(12345), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(ntm_send(12345, "x", 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
  server.reset();
  EXPECT_EQ(stats_now().sockets_open, 2u) << "a closed socket leaves the table";
}

TEST_F(Api, UdpOnTheOwnIpv6Vip) {
  ntm::Node node(cfg_);
  sockaddr_in6 a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(ntm_get_vip(AF_INET6, reinterpret_cast<sockaddr*>(&a), &len), 0);
  a.sin6_port = htons(9999);
  ntm::Socket rx(AF_INET6, SOCK_DGRAM), tx(AF_INET6, SOCK_DGRAM);
  ASSERT_EQ(ntm_bind(rx.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(ntm_sendto(tx.fd(), "dgram", 5, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), 5);
  char buf[16] = {};
  sockaddr_in6 from{};
  socklen_t flen = sizeof from;
  timeval tv{2, 0};
  ntm_setsockopt(rx.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(ntm_recvfrom(rx.fd(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen),
            5);
  EXPECT_STREQ(buf, "dgram");
  EXPECT_EQ(std::memcmp(&from.sin6_addr, &a.sin6_addr, 16), 0);
}

TEST_F(Api, StopClosesSocketsAndAllowsARestartWithTheSameVip) {
  sockaddr_in first{};
  int s = -1, u = -1;
  {
    ntm::Node node(cfg_);
    first = vip4_port(0);
    s = ntm_socket(AF_INET, SOCK_STREAM, 0);
    u = ntm_socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(s, 0);
    ASSERT_GE(u, 0);
  }  // ntm_stop() closes s and u
  EXPECT_EQ(ntm_socket(AF_INET, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(ntm_send(u, "x", 1, 0), -1);
  EXPECT_EQ(errno, ENOTCONN) << "no node: every call fails with ENOTCONN first";
  ntm::Node again(cfg_);
  // The descriptors of the stopped node are gone, not handed over to the new one.
  EXPECT_EQ(ntm_send(u, "x", 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(ntm_listen(s, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(ntm_close(s), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(vip4_port(0).sin_addr.s_addr, first.sin_addr.s_addr);
  sockaddr_in out{};
  socklen_t len = 4;  // too small
  EXPECT_EQ(ntm_get_vip(AF_INET, reinterpret_cast<sockaddr*>(&out), &len), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(ntm_get_vip(AF_UNIX, reinterpret_cast<sockaddr*>(&out), &len), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

}  // namespace
}  // namespace ntm::test
