// ntm-rs under a flood of junk keeps relaying (issue 10, item 5). A real ntm-rs on 127.0.0.1;
// two sides bound with a real ticket exchange 2000 relay datagrams, each checked byte for byte,
// while a third socket sends junk as fast as it can: random bytes, forged binds (a ticket under
// another key, a bind MAC'ed with a wrong key, a replay of a side's bind), relay data with the
// session's ID from an address no side is bound to, truncated headers, data for no session.
// Asserted: every legitimate datagram arrives unless the kernel dropped datagrams on the way
// (/proc/net/udp); every datagram the RS got is accounted for in its stats line; each kind of
// junk shows up under its drop reason; the RS answers afterwards. No timing assertions.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "crypto/relay_auth.h"
#include "crypto/static_key.h"
#include "dc_fixture.h"
#include "proto/relay.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;
using proto::Bytes;

/// A UDP socket on 127.0.0.1 (an ephemeral port).
class Socket {
 public:
  Socket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int buf = 8 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  uint16_t port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }
  /// True when the whole datagram went (a full socket buffer is not an error here).
  bool send(const sockaddr_in& to, proto::ByteView d) {
    return ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                    sizeof to) == ssize_t(d.size());
  }
  /// The next datagram within `wait`, or nullopt.
  std::optional<Bytes> receive(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, int(wait.count())) <= 0) return std::nullopt;
    uint8_t buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return Bytes(buf, buf + n);
  }

 private:
  int fd_ = -1;
};

/// Legitimate datagram `seq` from side `side`: the relay header, then a tunnel packet (type
/// 0x05) of 5..1452 bytes whose bytes follow from (side, seq), so the receiver can check them.
Bytes legit(uint32_t session_id, int side, uint32_t seq) {
  std::mt19937 rng(uint32_t(side) * 1000003u + seq);
  Bytes inner(5 + rng() % 1448);
  for (auto& b : inner) b = uint8_t(rng());
  inner[0] = uint8_t(proto::PacketType::kData);
  proto::put_u32(&inner[1], seq);
  Bytes d(proto::kRelayHeaderSize + inner.size());
  proto::write_relay_header(d.data(), session_id);
  std::copy(inner.begin(), inner.end(), d.begin() + proto::kRelayHeaderSize);
  return d;
}

class RsFlood : public DcFixture {
 protected:
  void start_rs() {
    std::string key_file = dir_.path() + "/relay.key";
    {
      Process gen({bin("ntm-rs"), "--generate-key", key_file});
      ASSERT_EQ(gen.wait(5s), 0);
    }
    std::ifstream f(key_file);
    std::string text;
    std::getline(f, text);
    auto k = crypto::key_from_base64(text);
    ASSERT_TRUE(k) << "relay key file";
    key_ = *k;
    std::string port_file = dir_.path() + "/rs.port";
    rs_ = std::make_unique<Process>(
        std::vector<std::string>{bin("ntm-rs"), "--listen", "127.0.0.1:0", "--key-file", key_file,
                                 "--port-file", port_file},
        std::map<std::string, std::string>{}, dir_.path() + "/rs.log");
    for (int i = 0; i < 500 && port_ == 0; ++i) {  // up to 10 s on a busy machine
      std::ifstream pf(port_file);
      pf >> port_;
      if (!port_) std::this_thread::sleep_for(20ms);
    }
    ASSERT_NE(port_, 0) << "ntm-rs did not start";
    rs_addr_.sin_family = AF_INET;
    rs_addr_.sin_port = htons(port_);
    rs_addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  std::string rs_log() const {
    std::ifstream f(dir_.path() + "/rs.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  /// Binds `side` from `s` (retrying: the bind or its ack may be lost under a flood); the
  /// number of binds sent is added to `sent`.
  bool bind(Socket& s, uint8_t side, uint64_t& counter, uint64_t& sent) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      ++sent;
      s.send(rs_addr_, crypto::make_relay_bind(side, ++counter, ticket_, side_key_[side - 1]));
      auto deadline = std::chrono::steady_clock::now() + 500ms;
      while (std::chrono::steady_clock::now() < deadline)
        if (auto ack = s.receive(50ms)) {
          proto::RelayBindAck a;
          if (proto::parse_relay_bind_ack(*ack, a) && a.counter == counter &&
              crypto::verify_relay_bind_ack(*ack, side_key_[side - 1]))
            return true;
        }
    }
    return false;
  }

  crypto::Key key_;
  std::unique_ptr<Process> rs_;
  uint16_t port_ = 0;
  sockaddr_in rs_addr_{};
  Bytes ticket_;
  crypto::Key side_key_[2];
};

TEST_F(RsFlood, JunkIsCountedAndTheAuthorizedPairIsStillRelayed) {
  start_rs();
  crypto::init();
  crypto::RelayKeys dc(key_);  // what the DC derives from the key it shares with the RS
  const uint32_t session_id = 0x5EED0001;
  crypto::Key id_a, id_b;
  crypto::random_bytes(id_a.data(), id_a.size());
  crypto::random_bytes(id_b.data(), id_b.size());
  ticket_ = dc.issue_ticket(session_id, uint32_t(time(nullptr)) + 3600, id_a, id_b);
  side_key_[0] = dc.side_key(1, ticket_);
  side_key_[1] = dc.side_key(2, ticket_);

  Socket a, b, junk;
  uint64_t to_rs = 0;  // every datagram sent to the RS, junk included
  uint64_t counter_a = 0, counter_b = 0;
  ASSERT_TRUE(bind(a, 1, counter_a, to_rs));
  ASSERT_TRUE(bind(b, 2, counter_b, to_rs));
  const Bytes captured_bind = crypto::make_relay_bind(1, 1, ticket_, side_key_[0]);

  // The junk: as fast as the socket takes it, until the exchange is over (at most 30 s or
  // 3 million datagrams).
  std::atomic<bool> stop{false}, flood_over{false};
  std::atomic<uint64_t> junk_sent{0};
  std::thread flood([&] {
    std::mt19937 rng(1);
    crypto::RelayKeys foreign([] {
      crypto::Key k;
      crypto::random_bytes(k.data(), k.size());
      return k;
    }());
    Bytes forged_ticket =
        foreign.issue_ticket(session_id, uint32_t(time(nullptr)) + 3600, id_a, id_b);
    crypto::Key wrong_key;
    crypto::random_bytes(wrong_key.data(), wrong_key.size());
    auto deadline = std::chrono::steady_clock::now() + 30s;
    uint64_t n = 0;
    for (; n < 3'000'000 && !stop.load(std::memory_order_relaxed); ++n) {
      if (n % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
      Bytes d;
      switch (n % 7) {
        case 0: {  // noise (never a relay data, bind or status type: all malformed)
          d.resize(1 + rng() % 1500);
          for (auto& x : d) x = uint8_t(rng());
          if (d[0] == 0x07 || d[0] == 0x08 || d[0] == 0x0B) d[0] = 0x42;
          break;
        }
        case 1:  // a bind with a ticket under a key the RS does not hold
          d = crypto::make_relay_bind(2, n, forged_ticket, foreign.side_key(2, forged_ticket));
          break;
        case 2:  // the real ticket, a bind MAC'ed with a wrong key
          d = crypto::make_relay_bind(uint8_t(1 + n % 2), n, ticket_, wrong_key);
          break;
        case 3:  // side 1's first bind, replayed
          d = captured_bind;
          break;
        case 4:  // relay data with the session's ID from an address no side is bound to
          d = legit(session_id, 3, uint32_t(n));
          break;
        case 5:  // a truncated relay header
          d = legit(session_id, 3, uint32_t(n));
          d.resize(1 + n % proto::kRelayHeaderSize);
          break;
        case 6:  // relay data for a session that does not exist
          d = legit(session_id + 1 + uint32_t(n % 1000), 3, uint32_t(n));
          break;
      }
      if (junk.send(rs_addr_, d)) junk_sent.fetch_add(1, std::memory_order_relaxed);
      // The RS's notices to the junk address are not read; its socket buffer drops them.
    }
    flood_over = true;
  });

  // The legitimate exchange, in rounds of 20 datagrams each way; a round ends when all 40
  // arrived or nothing more arrived for 2 s (lost ones are then checked against the kernel's
  // drop counters below).
  constexpr uint32_t kRounds = 50, kPerRound = 20;
  uint64_t received[2] = {0, 0}, legit_sent = 0;
  uint64_t mismatched = 0;
  // Each round starts after another 5000 junk datagrams went out, so the exchange is spread
  // over the whole flood (about 250000 datagrams).
  constexpr uint64_t kJunkPerRound = 5000;
  for (uint32_t round = 0; round < kRounds; ++round) {
    for (int i = 0; i < 10000 && !flood_over && junk_sent.load() < (round + 1) * kJunkPerRound; ++i)
      std::this_thread::sleep_for(1ms);
    std::vector<bool> seen[2] = {std::vector<bool>(kPerRound), std::vector<bool>(kPerRound)};
    for (uint32_t i = 0; i < kPerRound; ++i) {
      uint32_t seq = round * kPerRound + i;
      legit_sent += a.send(rs_addr_, legit(session_id, 1, seq));
      legit_sent += b.send(rs_addr_, legit(session_id, 2, seq));
    }
    to_rs += 2 * kPerRound;
    size_t got = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (got < 2 * kPerRound && std::chrono::steady_clock::now() - last_progress < 2s) {
      for (int to = 0; to < 2; ++to) {
        Socket& s = to == 0 ? a : b;
        while (auto d = s.receive(to == 0 ? 1ms : 0ms)) {
          // At `to` arrive the datagrams of the other side, unchanged (header included).
          int from = 2 - to;
          if (d->size() < proto::kRelayHeaderSize + 5) {
            ++mismatched;
            continue;
          }
          uint32_t seq = proto::get_u32(&(*d)[proto::kRelayHeaderSize + 1]);
          if (seq < round * kPerRound || seq >= (round + 1) * kPerRound ||
              *d != legit(session_id, from, seq) || seen[to][seq % kPerRound]) {
            ++mismatched;
            continue;
          }
          seen[to][seq % kPerRound] = true;
          ++received[to];
          ++got;
          last_progress = std::chrono::steady_clock::now();
        }
      }
    }
  }
  stop = true;
  flood.join();
  to_rs += junk_sent.load();
  const uint64_t expected = uint64_t(kRounds) * kPerRound;

  // Still answering: an authenticated status for a new sequence, and one more datagram each way.
  Socket dc_socket;
  ++to_rs;
  dc_socket.send(rs_addr_, dc.make_status_request(1));
  auto status = dc_socket.receive(5s);
  ASSERT_TRUE(status) << "no status answer after the flood";
  EXPECT_TRUE(dc.verify_status(*status));
  for (int from = 1; from <= 2; ++from) {
    Socket& s = from == 1 ? a : b;
    Socket& r = from == 1 ? b : a;
    Bytes d = legit(session_id, from, 1'000'000);
    ++to_rs;
    s.send(rs_addr_, d);
    std::optional<Bytes> got;
    for (int i = 0; i < 100 && !(got && *got == d); ++i) got = r.receive(50ms);
    ASSERT_TRUE(got && *got == d) << "nothing relayed after the flood, side " << from;
  }

  long rs_drops = kernel_udp_drops(port_);
  long a_drops = kernel_udp_drops(a.port()), b_drops = kernel_udp_drops(b.port());
  ASSERT_GE(rs_drops, 0);
  ASSERT_GE(a_drops, 0);
  ASSERT_GE(b_drops, 0);
  // SIGHUP logs the counters (servers/common/daemon.h) and the relay goes on.
  rs_->signal(SIGHUP);
  for (int i = 0; i < 200 && rs_log().find("SIGHUP: sessions=") == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(rs_log().find("SIGHUP: sessions="), std::string::npos) << rs_log();
  ASSERT_FALSE(rs_->wait(0ms)) << "SIGHUP must not stop ntm-rs";
  rs_->signal(SIGTERM);
  ASSERT_EQ(rs_->wait(10s), 0) << "ntm-rs must stop cleanly";
  std::string log = rs_log();
  auto stopping = log.find("stopping on signal");
  ASSERT_NE(stopping, std::string::npos) << log;
  auto at = log.find("sessions=", stopping);
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  std::cout << "junk sent " << junk_sent.load() << ", legitimate " << legit_sent
            << ", kernel drops at the RS " << rs_drops << ", at the sides " << a_drops << " + "
            << b_drops << "\nntm-rs: " << line << "\n";

  EXPECT_EQ(mismatched, 0u) << "a relayed datagram that was not one a side sent";
  EXPECT_EQ(legit_sent, 2 * expected);
  uint64_t lost = 2 * expected - received[0] - received[1];
  EXPECT_LE(lost, uint64_t(rs_drops + a_drops + b_drops))
      << "legitimate datagrams lost beyond what the kernel dropped";
  // Every datagram the RS read is a relayed one, an answered bind or status, or a counted drop.
  long long accounted =
      number(line, "relayed_packets") + number(line, "binds") + number(line, "status_answers");
  for (const char* reason :
       {"malformed", "unknown_session", "unbound_source", "quota", "held_overflow", "bad_ticket",
        "expired", "bad_mac", "stale", "conflict", "full", "status"})
    accounted += number(line, reason);
  EXPECT_EQ(uint64_t(accounted + rs_drops), to_rs)
      << "every datagram sent to the RS is accounted for";
  // Each kind of junk was seen and counted under its reason; none of it was relayed.
  for (const char* reason :
       {"malformed", "unknown_session", "unbound_source", "bad_ticket", "bad_mac", "stale"})
    EXPECT_GE(number(line, reason), 1) << reason;
  EXPECT_EQ(number(line, "quota"), 0);
  EXPECT_EQ(number(line, "binds"), static_cast<long long>(counter_a + counter_b));
  // Relayed: what the sides received, plus what the kernel dropped at their sockets.
  EXPECT_GE(number(line, "relayed_packets"), static_cast<long long>(received[0] + received[1] + 2));
  EXPECT_LE(number(line, "relayed_packets"), static_cast<long long>(2 * expected + 2));
  EXPECT_EQ(number(line, "sessions_created"), 1);
}

}  // namespace
}  // namespace ntm::test
