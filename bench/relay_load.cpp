// relay-load: pumps datagrams through one relay and counts what arrives (bench/relay.sh).
//
//   relay-load --relay ntm  --server IP:PORT --key-file FILE [options]   through ntm-rs
//   relay-load --relay turn --server IP:PORT [options]                   through a TURN server
//   relay-load --relay direct [options]                                  no relay (the baseline)
// options: --size BYTES (the tunnel packet, default 1452: a full sealed packet) --seconds S
//          (measured, default 3) --warmup S (default 0.5) --window N (datagrams in flight,
//          default 128)
//
// 1. the sender's and the receiver's UDP sockets on 127.0.0.1 are set up through the relay:
//    ntm: a relay ticket for a fresh session under the relay key (as the DC issues it), and a
//         bind from each side (as a node binds, docs/protocol.md §12.4);
//    turn: an Allocate (no credentials: the server runs with --no-auth) and a ChannelBind to
//         the receiver (RFC 8656 §7, §12); the receiver is the TURN "peer";
//    direct: the sender sends straight to the receiver.
// 2. the sender keeps at most --window datagrams in flight (sent and not yet received), so the
//    relay's socket does not overflow and the figure is what the relay forwards, not what the
//    kernel drops; a datagram lost anyway is written off after 20 ms without progress.
// 3. every datagram is what a node would send for a tunnel packet of --size bytes:
//    ntm: relay header (8) + the packet; turn: ChannelData header (4) + the packet, arriving
//    at the peer as the bare packet; direct: the packet.
// 4. after the warm-up, datagrams and bytes received in --seconds are counted.
// Prints one line: relay=… size=… pps=… gbps=… (packet bytes, without relay or UDP/IP headers)
// wire_per_payload=… (UDP/IPv4 bytes on the wire — to the relay and from it — per byte of
// application payload inside the packet: packet − 32 (sealed header + tag) − 40 (inner IPv4 +
// TCP headers); 0 when the packet holds no payload), lost=… stalls=…
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/relay_auth.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"
#include "proto/relay.h"

using namespace ntm;
using Clock = std::chrono::steady_clock;
using proto::Bytes;

namespace {

constexpr size_t kUdpIpv4Headers = 28;
constexpr size_t kInnerHeaders = 40;  // IPv4 + TCP, inside the sealed packet

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "relay-load: %s\n", what.c_str());
  std::exit(1);
}

const char* opt(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

int udp_socket() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("socket");
  int buf = 8 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  return fd;
}

proto::Endpoint local(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

void send_to(int fd, const proto::Endpoint& to, proto::ByteView d) {
  ::sendto(fd, d.data(), d.size(), 0, to.sa(), to.sa_len());
}

std::optional<Bytes> receive(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  uint8_t buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return std::nullopt;
  return Bytes(buf, buf + n);
}

// --- ntm-rs: ticket and binds ---------------------------------------------------------------

void ntm_bind(int fd, const proto::Endpoint& rs, uint8_t side, const Bytes& ticket,
              const crypto::Key& side_key) {
  for (uint64_t counter = 1; counter <= 10; ++counter) {
    send_to(fd, rs, crypto::make_relay_bind(side, counter, ticket, side_key));
    while (auto ack = receive(fd, 200)) {
      proto::RelayBindAck a;
      if (proto::parse_relay_bind_ack(*ack, a) && a.counter == counter &&
          crypto::verify_relay_bind_ack(*ack, side_key))
        return;
    }
  }
  fail("ntm-rs did not ack a bind");
}

// --- TURN (RFC 8489 STUN, RFC 8656 TURN), just what an unauthenticated client needs --------

constexpr uint32_t kMagicCookie = 0x2112A442;

struct Stun {
  Bytes d = Bytes(20);
  explicit Stun(uint16_t type) {
    proto::put_u16(&d[0], type);
    proto::put_u32(&d[4], kMagicCookie);
    crypto::random_bytes(&d[8], 12);
  }
  void attr(uint16_t type, proto::ByteView v) {
    size_t at = d.size();
    d.resize(at + 4 + ((v.size() + 3) & ~size_t(3)));
    proto::put_u16(&d[at], type);
    proto::put_u16(&d[at + 2], uint16_t(v.size()));
    std::memcpy(&d[at + 4], v.data(), v.size());
    proto::put_u16(&d[2], uint16_t(d.size() - 20));
  }
  void xor_address(uint16_t type, const proto::Endpoint& e) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(e.sa());
    uint8_t v[8] = {0, 1};
    proto::put_u16(v + 2, uint16_t(ntohs(sin->sin_port) ^ (kMagicCookie >> 16)));
    proto::put_u32(v + 4, ntohl(sin->sin_addr.s_addr) ^ kMagicCookie);
    attr(type, proto::ByteView(v, 8));
  }
};

/// Sends `req` until a response with its transaction ID arrives; returns it.
Bytes stun_transaction(int fd, const proto::Endpoint& server, const Stun& req) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    send_to(fd, server, req.d);
    while (auto r = receive(fd, 200))
      if (r->size() >= 20 && std::equal(&req.d[8], &req.d[20], &(*r)[8])) return *r;
  }
  fail("no answer from the TURN server");
}

/// The XOR-RELAYED-ADDRESS of a successful Allocate response.
proto::Endpoint turn_allocate(int fd, const proto::Endpoint& server) {
  Stun req(0x0003);
  const uint8_t udp[4] = {17, 0, 0, 0};
  req.attr(0x0019, proto::ByteView(udp, 4));  // REQUESTED-TRANSPORT: UDP
  Bytes r = stun_transaction(fd, server, req);
  if (proto::get_u16(&r[0]) != 0x0103) fail("Allocate refused (is turnserver --no-auth?)");
  for (size_t at = 20; at + 4 <= r.size();) {
    uint16_t type = proto::get_u16(&r[at]), len = proto::get_u16(&r[at + 2]);
    if (at + 4 + len > r.size()) break;
    if (type == 0x0016 && len == 8 && r[at + 5] == 1) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(uint16_t(proto::get_u16(&r[at + 6]) ^ (kMagicCookie >> 16)));
      a.sin_addr.s_addr = htonl(proto::get_u32(&r[at + 8]) ^ kMagicCookie);
      return *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    at += 4 + ((len + 3u) & ~3u);
  }
  fail("Allocate response without an IPv4 XOR-RELAYED-ADDRESS");
}

void turn_channel_bind(int fd, const proto::Endpoint& server, uint16_t channel,
                       const proto::Endpoint& peer) {
  Stun req(0x0009);
  uint8_t ch[4] = {};
  proto::put_u16(ch, channel);
  req.attr(0x000C, proto::ByteView(ch, 4));  // CHANNEL-NUMBER
  req.xor_address(0x0012, peer);             // XOR-PEER-ADDRESS
  if (proto::get_u16(&stun_transaction(fd, server, req)[0]) != 0x0109)
    fail("ChannelBind refused (is turnserver --allow-loopback-peers?)");
}

}  // namespace

int main(int argc, char** argv) {
  std::string relay = opt(argc, argv, "--relay", "");
  size_t size = std::strtoul(opt(argc, argv, "--size", "1452"), nullptr, 10);
  double seconds = std::atof(opt(argc, argv, "--seconds", "3"));
  double warmup = std::atof(opt(argc, argv, "--warmup", "0.5"));
  uint64_t window = std::strtoull(opt(argc, argv, "--window", "128"), nullptr, 10);
  if (relay != "ntm" && relay != "turn" && relay != "direct")
    fail("--relay ntm|turn|direct (see the comment at the top of bench/relay_load.cpp)");
  if (size < 1 || size > 1452 || seconds <= 0 || window < 1) fail("bad --size/--seconds/--window");
  crypto::init();

  int tx = udp_socket(), rx = udp_socket();  // 1
  proto::Endpoint to = local(rx);
  Bytes datagram;
  Bytes packet(size);
  crypto::random_bytes(packet.data(), packet.size());
  packet[0] = uint8_t(proto::PacketType::kData);
  size_t in_wire = size, out_wire = size;  // UDP payload to the relay, and from it
  if (relay != "direct") {
    auto server = proto::Endpoint::parse(opt(argc, argv, "--server", ""));
    if (!server) fail("--server IP:PORT");
    to = *server;
    if (relay == "ntm") {
      std::ifstream f(opt(argc, argv, "--key-file", ""));
      std::string text;
      std::getline(f, text);
      auto key = crypto::key_from_base64(text);
      if (!key) fail("--key-file: a relay key file (ntm-rs --generate-key)");
      crypto::RelayKeys keys(*key);
      crypto::Key a, b;
      crypto::random_bytes(a.data(), a.size());
      crypto::random_bytes(b.data(), b.size());
      uint32_t session = crypto::random_u32() | 1;
      Bytes ticket = keys.issue_ticket(session, uint32_t(time(nullptr)) + 3600, a, b);
      ntm_bind(tx, *server, 1, ticket, keys.side_key(1, ticket));
      ntm_bind(rx, *server, 2, ticket, keys.side_key(2, ticket));
      datagram.resize(proto::kRelayHeaderSize);
      proto::write_relay_header(datagram.data(), session);
      in_wire = out_wire = proto::kRelayHeaderSize + size;
    } else {
      turn_allocate(tx, *server);
      turn_channel_bind(tx, *server, 0x4000, local(rx));
      datagram = {0x40, 0x00, 0, 0};  // ChannelData: channel, length
      proto::put_u16(&datagram[2], uint16_t(size));
      in_wire = 4 + size;
    }
  }
  datagram.insert(datagram.end(), packet.begin(), packet.end());  // 3

  std::atomic<uint64_t> received{0}, received_bytes{0};
  std::atomic<bool> stop{false};
  std::thread receiver([&] {
    constexpr int kBatch = 64;
    static uint8_t bufs[kBatch][2048];
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    timeval tv{0, 100000};
    ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int k = 0; k < kBatch; ++k) {
        iov[k] = {bufs[k], sizeof bufs[k]};
        msgs[k].msg_hdr = {nullptr, 0, &iov[k], 1, nullptr, 0, 0};
      }
      int n = recvmmsg(rx, msgs, kBatch, MSG_WAITFORONE, nullptr);
      if (n <= 0) continue;
      uint64_t bytes = 0;
      for (int k = 0; k < n; ++k) bytes += msgs[k].msg_len;
      received_bytes.fetch_add(bytes, std::memory_order_relaxed);
      received.fetch_add(uint64_t(n), std::memory_order_relaxed);
    }
  });

  // 2: the sender, with at most `window` datagrams in flight.
  constexpr unsigned kBatch = 32;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (unsigned k = 0; k < kBatch; ++k) {
    iov[k] = {datagram.data(), datagram.size()};
    msgs[k].msg_hdr = {const_cast<sockaddr*>(to.sa()), to.sa_len(), &iov[k], 1, nullptr, 0, 0};
  }
  uint64_t sent = 0, written_off = 0, stalls = 0;
  auto start = Clock::now();
  auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  auto measure_to = measure_from + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
  uint64_t at_start = 0, bytes_at_start = 0;
  bool measuring = false;
  uint64_t last_received = 0;
  auto last_progress = Clock::now();
  for (;;) {
    auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      at_start = received.load();
      bytes_at_start = received_bytes.load();
      measuring = true;
    }
    if (now >= measure_to) break;
    uint64_t got = received.load(std::memory_order_relaxed);
    if (got != last_received) last_received = got, last_progress = now;
    uint64_t in_flight = sent > written_off + got ? sent - written_off - got : 0;
    if (in_flight + kBatch > window) {
      if (now - last_progress > std::chrono::milliseconds(20)) {  // lost: write them off
        written_off += in_flight;
        ++stalls;
        last_progress = now;
      } else {
        std::this_thread::yield();
      }
      continue;
    }
    int n = sendmmsg(tx, msgs, kBatch, 0);
    if (n > 0) sent += uint64_t(n);
  }
  uint64_t count = received.load() - at_start, bytes = received_bytes.load() - bytes_at_start;
  // Datagrams still in flight now are not lost: give them a moment.
  for (int i = 0; i < 50 && received.load() + written_off < sent; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  stop = true;
  receiver.join();
  uint64_t lost = sent - std::min(sent, received.load());

  double pps = double(count) / seconds;
  size_t payload = size > 32 + kInnerHeaders ? size - 32 - kInnerHeaders : 0;
  // Bytes on the wire per delivered datagram: the leg to the relay and the leg from it (one
  // leg for the direct path).
  double wire = relay == "direct" ? double(in_wire + kUdpIpv4Headers)
                                  : double(in_wire + out_wire + 2 * kUdpIpv4Headers);
  std::printf(
      "relay=%s size=%zu datagram=%zu pps=%.0f gbps=%.3f wire_per_payload=%.3f received=%llu "
      "received_bytes=%llu sent=%llu lost=%llu stalls=%llu\n",
      relay.c_str(), size, datagram.size(), pps, pps * double(size) * 8 / 1e9,
      payload ? wire / double(payload) : 0.0, (unsigned long long)count, (unsigned long long)bytes,
      (unsigned long long)sent, (unsigned long long)lost, (unsigned long long)stalls);
  ::close(tx);
  ::close(rx);
  return count > 0 ? 0 : 1;
}
