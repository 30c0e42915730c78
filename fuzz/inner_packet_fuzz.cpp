// Fuzz target: a node's packet path after decryption — what an authenticated but hostile peer
// can make a node's stack swallow. A real DataPlane (receive thread, reassembly, lwIP with a
// netif holding the node's vIPs) has one tunnel whose peer keys the harness holds; lwIP has a
// UDP socket and a TCP listener so inner packets reach past IP.
//
// 1. per input: a fresh DataPlane on 127.0.0.1 port 0 and a fresh tunnel (fixed keys)
// 2. the input is a list of records, each: kind (1 byte), length (2 bytes BE), bytes
//      kind % 3 == 0  the bytes are an inner IP packet, sealed with the peer's session
//      kind % 3 == 1  the bytes are a raw datagram (no crypto: the outer parsers)
//      kind % 3 == 2  the bytes are an inner IP packet the harness cuts into fragments, as a
//                     peer's lwIP would (fragment size from the first byte), each sealed
// 3. after the records, the harness waits until the receive thread has dealt with every
//    datagram, and reads back whatever the node sent (ICMP errors, TCP answers)
//
// Invariants beyond "no crash": every datagram sent is accounted for exactly once — accepted
// (rx_packets), dropped under one reason, or handed to the negotiation hook — within 10 s;
// no more fragments are dropped in reassembly than were accepted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "crypto/session.h"
#include "fuzz_support.h"
#include "packet/data_plane.h"
#include "packet/lwip_c.h"  // C linkage for lwipopts.h before the lwIP headers below

#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "lwip/udp.h"

using namespace ntm;
using proto::Bytes;

namespace {

constexpr size_t kMaxRecords = 64;
constexpr size_t kMaxFragmentsPerRecord = 160;  // more than reassembly keeps (128)
constexpr uint32_t kLocalId = 0x51515151, kPeerId = 0x52525252;
const uint8_t kOurVip4[4] = {100, 64, 0, 1}, kPeerVip4[4] = {100, 64, 0, 2};
const uint8_t kOurVip6[16] = {0xfd, 0, 0x6e, 0x74, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kPeerVip6[16] = {0xfd, 0, 0x6e, 0x74, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

uint16_t checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

/// Cuts `ip` into fragments of about `step` payload bytes the way lwIP does (IPv4: MF and
/// offset in the header; IPv6: a Fragment header after the fixed header); anything that is
/// neither comes back whole.
std::vector<Bytes> fragments(const Bytes& ip, size_t step) {
  step = std::max({size_t(8), step, ip.size() / kMaxFragmentsPerRecord + 8}) / 8 * 8;
  std::vector<Bytes> out;
  if (ip.size() > 20 && (ip[0] >> 4) == 4 && size_t(ip[0] & 0xf) * 4 == 20) {
    size_t body = ip.size() - 20;
    for (size_t off = 0; off < body; off += step) {
      size_t n = std::min(step, body - off);
      Bytes f(ip.begin(), ip.begin() + 20);
      f.insert(f.end(), ip.begin() + std::ptrdiff_t(20 + off),
               ip.begin() + std::ptrdiff_t(20 + off + n));
      proto::put_u16(&f[2], uint16_t(f.size()));
      proto::put_u16(&f[6], uint16_t(off / 8) | (off + n < body ? 0x2000 : 0));
      proto::put_u16(&f[10], 0);
      proto::put_u16(&f[10], checksum(f.data(), 20));
      out.push_back(f);
    }
    return out;
  }
  if (ip.size() > 40 && (ip[0] >> 4) == 6) {
    size_t body = ip.size() - 40;
    for (size_t off = 0; off < body; off += step) {
      size_t n = std::min(step, body - off);
      Bytes f(ip.begin(), ip.begin() + 40);
      uint8_t hdr[8] = {ip[6], 0, 0, 0, 0, 0, 0x12, 0x34};
      proto::put_u16(hdr + 2, uint16_t(off) | (off + n < body ? 1 : 0));
      f.insert(f.end(), hdr, hdr + 8);
      f.insert(f.end(), ip.begin() + std::ptrdiff_t(40 + off),
               ip.begin() + std::ptrdiff_t(40 + off + n));
      f[6] = 44;
      proto::put_u16(&f[4], uint16_t(f.size() - 40));
      out.push_back(f);
    }
    return out;
  }
  out.push_back(ip);
  return out;
}

err_t on_tcp_recv(void*, tcp_pcb* pcb, pbuf* p, err_t) {
  if (!p) return ERR_OK;
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

/// Accepted connections, until lwIP frees them (tcp_err) or the harness aborts them.
struct Accepted {
  std::vector<tcp_pcb*>* list;
  tcp_pcb* pcb;
};

class Harness {
 public:
  Harness() {
    std::string error;
    FUZZ_CHECK(udp_.open(proto::Endpoint::parse("127.0.0.1:0"), error));
    packet::DataPlaneHooks hooks;
    hooks.on_control = [this](Bytes, const packet::Path&) { ++control_; };
    hooks.on_missing_tunnel = [](const packet::VipKey&) {};
    dp_ = std::make_unique<packet::DataPlane>(udp_, tunnels_, stats_, std::move(hooks));
    FUZZ_CHECK(dp_->start_receiver(error));
    uint32_t v4;
    std::memcpy(&v4, kOurVip4, 4);
    packet::Vip6 v6;
    std::memcpy(v6.data(), kOurVip6, 16);
    dp_->attach_netif(v4, v6);

    peer_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(::bind(peer_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int buf = 8 << 20;
    ::setsockopt(peer_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    socklen_t len = sizeof a;
    ::getsockname(peer_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    auto peer_ep = *proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), len);

    crypto::Key k1 = fuzz::fixed_key(fuzz::kNodeAStatic), k2 = fuzz::fixed_key(fuzz::kNodeBStatic);
    auto t = std::make_shared<packet::Tunnel>();
    t->local_id = kLocalId;
    t->has_vip4 = t->has_vip6 = true;
    std::memcpy(&t->peer_vip4, kPeerVip4, 4);
    std::memcpy(t->peer_vip6.data(), kPeerVip6, 16);
    t->session = std::make_unique<crypto::Session>(k1, k2, kPeerId);
    t->set_endpoint(peer_ep);
    t->confirmed = true;
    dp_->install_tunnel(t);
    peer_ = std::make_unique<crypto::Session>(k2, k1, kLocalId);

    // Something for inner packets to reach: UDP port 53 and a TCP listener on port 80.
    LOCK_TCPIP_CORE();
    udp_pcb_ = udp_new_ip_type(IPADDR_TYPE_ANY);
    udp_bind(udp_pcb_, IP_ANY_TYPE, 53);
    udp_recv(
        udp_pcb_, [](void*, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) { pbuf_free(p); }, nullptr);
    tcp_pcb* l = tcp_new_ip_type(IPADDR_TYPE_ANY);
    tcp_bind(l, IP_ANY_TYPE, 80);
    listener_ = tcp_listen(l);
    tcp_arg(listener_, this);
    tcp_accept(listener_, [](void* arg, tcp_pcb* pcb, err_t err) -> err_t {
      if (err != ERR_OK || !pcb) return ERR_VAL;
      auto& list = static_cast<Harness*>(arg)->accepted_;
      list.push_back(pcb);
      tcp_arg(pcb, new Accepted{&list, pcb});
      tcp_recv(pcb, on_tcp_recv);
      tcp_err(pcb, [](void* a, err_t) {  // lwIP freed the pcb
        auto* acc = static_cast<Accepted*>(a);
        std::erase(*acc->list, acc->pcb);
        delete acc;
      });
      return ERR_OK;
    });
    UNLOCK_TCPIP_CORE();
  }

  ~Harness() {
    LOCK_TCPIP_CORE();
    for (tcp_pcb* p : accepted_) {
      delete static_cast<Accepted*>(p->callback_arg);
      tcp_arg(p, nullptr);
      tcp_err(p, nullptr);
      tcp_abort(p);
    }
    tcp_close(listener_);
    udp_remove(udp_pcb_);
    UNLOCK_TCPIP_CORE();
    dp_->stop();
    ::close(peer_fd_);
  }

  void run(const uint8_t* data, size_t size) {
    size_t pos = 0;
    for (size_t count = 0; pos < size && count < kMaxRecords; ++count) {
      uint8_t kind = data[pos++] % 3;
      size_t len = 0;
      if (pos + 2 <= size) len = size_t(data[pos]) << 8 | data[pos + 1];
      pos = std::min(pos + 2, size);
      len = std::min(len, size - pos);
      Bytes body(data + pos, data + pos + len);
      pos += len;
      if (kind == 1) {
        send(body.size() > 65507 ? Bytes(body.begin(), body.begin() + 65507) : body);
      } else if (kind == 0) {
        send_sealed(body);
      } else {
        size_t step = body.empty() ? 1400 : 8 * (size_t(body[0]) + 1);
        for (auto& f : fragments(body, step)) send_sealed(f);
      }
    }
    wait_until_handled();
  }

 private:
  void send(const Bytes& d) {
    auto to = udp_.local();
    if (::sendto(peer_fd_, d.data(), d.size(), 0, to.sa(), to.sa_len()) == ssize_t(d.size()))
      ++sent_;
  }
  void send_sealed(const Bytes& inner) {
    size_t n = std::min(inner.size(), size_t(65507) - proto::kSealedOverhead);
    Bytes out(n + proto::kSealedOverhead);
    FUZZ_CHECK(peer_->seal(proto::PacketType::kData, proto::ByteView(inner.data(), n),
                           out.data()) != crypto::Session::SealStatus::kExhausted);
    send(out);
  }

  uint64_t handled() const {
    return stats_.rx_packets + stats_.drop_malformed + stats_.drop_unknown_tunnel +
           stats_.drop_auth + stats_.drop_replay + stats_.drop_too_old + stats_.drop_spoofed +
           stats_.drop_relay + control_;
  }

  void wait_until_handled() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (handled() < sent_ && std::chrono::steady_clock::now() < deadline) {
      drain();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    FUZZ_CHECK(handled() == sent_);
    FUZZ_CHECK(stats_.drop_reassembly <= stats_.rx_packets);
    drain();
  }

  /// Reads back what the node sent to its peer (its answers must open with the peer's keys).
  void drain() {
    uint8_t buf[65536];
    for (ssize_t n; (n = ::recv(peer_fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
      crypto::SealedHeader h;
      FUZZ_CHECK(crypto::parse_sealed_header(proto::ByteView(buf, size_t(n)), h));
      FUZZ_CHECK(h.type == proto::PacketType::kData && h.receiver_index == kPeerId);
      std::vector<uint8_t> plain(size_t(n) - proto::kSealedOverhead);
      FUZZ_CHECK(peer_->open(h, proto::ByteView(buf, size_t(n)), plain.data()) ==
                 crypto::Session::OpenStatus::kOk);
    }
  }

  packet::UdpTransport udp_;
  packet::TunnelTable tunnels_;
  packet::Stats stats_;
  std::atomic<uint64_t> control_{0};
  uint64_t sent_ = 0;
  std::unique_ptr<packet::DataPlane> dp_;
  std::unique_ptr<crypto::Session> peer_;
  int peer_fd_ = -1;
  udp_pcb* udp_pcb_ = nullptr;
  tcp_pcb* listener_ = nullptr;
  std::vector<tcp_pcb*> accepted_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  Harness h;
  h.run(data, size);
  return 0;
}
