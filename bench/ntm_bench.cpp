// ntm-bench: throughput and latency through an NTM tunnel on loopback, next to the kernel's
// own loopback TCP and ICMP measured in the same run (the baseline), as medians and ratios.
//
//   ntm-bench [--mb MiB per run] [--runs N] [--pings N]
//     Loopback: starts an ntm-dc and a sink node (this program again, as a child process),
//     then runs the source node in-process: N bulk TCP transfers to the sink's vIP
//     interleaved with N to a kernel TCP sink on 127.0.0.1; then ICMP echoes to the sink's
//     vIP and to 127.0.0.1.
//   ntm-bench source FQDN KERNEL_IP:PORT [--mb ..] [--runs ..] [--pings ..] [--timeout S]
//     The same measurement between hosts (bench/wan.sh, bench/loss.sh): node settings from
//     NTM_* variables, tunnel sink at FQDN, kernel sink and ICMP target at KERNEL_IP.
//     --pings 0 skips the echoes; --timeout bounds each transfer (a transfer that times out
//     counts as failed and as 0 Mbit/s in the median); --kernel-cc NAME sets the kernel
//     baseline's congestion control (TCP_CONGESTION, e.g. cubic or bbr; default: the
//     system's). The tunnel's is NTM_TCP_CC (bbr by default).
//   Both modes end with one machine-readable line:
//     result tunnel_mbit=M kernel_mbit=M ratio=R tunnel_failed=N kernel_failed=N
//            rexmit_recovery=N rexmit_tlp=N rexmit_rto=N rto_events=N kernel_cc=NAME
//            acks_per_data=R
//   (the tunnel's TCP retransmissions during its transfers, by kind, and the tunnel packets
//   the source received per packet it sent - the sink's ACKs per data packet: ntm_stats).
//   ntm-bench sink-node | sink-kernel [IP]     the two sinks (used by both modes)
#include <arpa/inet.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/node_options.h"
#include "ntm/ntm.h"
#include "process.h"

using Clock = std::chrono::steady_clock;
using ntm::test::Process;

namespace {

constexpr uint16_t kSinkPort = 5001;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Socket calls of one kind (ntm_* or the kernel's), so both paths run the same code.
struct Api {
  std::function<int(int, int, int)> socket;
  std::function<int(int, const sockaddr*, socklen_t)> connect, bind;
  std::function<int(int, int)> listen;
  std::function<int(int)> accept, close;
  std::function<ssize_t(int, const void*, size_t)> send;
  std::function<ssize_t(int, void*, size_t)> recv;
  std::function<int(int, int)> shutdown;
  std::function<int(int, int, int, const void*, socklen_t)> setsockopt;
  bool kernel = false;
};

Api ntm_api() {
  return {ntm_socket,
          ntm_connect,
          ntm_bind,
          ntm_listen,
          [](int s) { return ntm_accept(s, nullptr, nullptr); },
          ntm_close,
          [](int s, const void* b, size_t n) { return ntm_send(s, b, n, 0); },
          [](int s, void* b, size_t n) { return ntm_recv(s, b, n, 0); },
          ntm_shutdown,
          ntm_setsockopt};
}

Api kernel_api() {
  return {::socket,
          ::connect,
          ::bind,
          ::listen,
          [](int s) { return ::accept(s, nullptr, nullptr); },
          ::close,
          [](int s, const void* b, size_t n) { return ::send(s, b, n, MSG_NOSIGNAL); },
          [](int s, void* b, size_t n) { return ::recv(s, b, n, 0); },
          ::shutdown,
          ::setsockopt,
          true};
}

/// Sink: for each connection, read to EOF, then answer with the byte count (8 bytes).
void run_sink(const Api& api, int listener) {
  std::vector<char> buf(256 * 1024);
  for (;;) {
    int c = api.accept(listener);
    if (c < 0) return;
    uint64_t total = 0;
    for (;;) {
      ssize_t n = api.recv(c, buf.data(), buf.size());
      if (n <= 0) break;
      total += uint64_t(n);
    }
    api.send(c, &total, sizeof total);
    api.close(c);
  }
}

int listen_on(const Api& api, int family, uint16_t port, const char* ip4) {
  int s = api.socket(family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // kernel only; harmless
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (ip4) inet_pton(AF_INET, ip4, &a.sin_addr);
  if (api.bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || api.listen(s, 8) != 0)
    return -1;
  return s;
}

std::string g_kernel_cc;  // --kernel-cc; empty: the system's default

/// The congestion control a kernel TCP socket gets (TCP_CONGESTION).
std::string kernel_cc_name() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (!g_kernel_cc.empty())
    ::setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, g_kernel_cc.data(), socklen_t(g_kernel_cc.size()));
  char name[32] = "";
  socklen_t len = sizeof name - 1;
  ::getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, name, &len);
  ::close(s);
  return name;
}

/// One bulk transfer of `bytes`, each send/recv bounded by `timeout_s` (0: none); returns
/// Mbit/s (0 on failure).
double bulk(const Api& api, const sockaddr_in& to, size_t bytes, int timeout_s) {
  int s = api.socket(AF_INET, SOCK_STREAM, 0);
  if (api.kernel && !g_kernel_cc.empty())
    ::setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, g_kernel_cc.data(), socklen_t(g_kernel_cc.size()));
  if (timeout_s > 0) {
    timeval tv{timeout_s, 0};
    api.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    api.setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (api.connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    api.close(s);
    return 0;
  }
  std::vector<char> buf(256 * 1024, 'x');
  auto t0 = Clock::now();
  for (size_t off = 0; off < bytes;) {
    ssize_t n = api.send(s, buf.data(), std::min(buf.size(), bytes - off));
    if (n <= 0) {
      api.close(s);
      return 0;
    }
    off += size_t(n);
  }
  api.shutdown(s, SHUT_WR);
  uint64_t total = 0;
  size_t got = 0;
  while (got < sizeof total) {
    ssize_t n = api.recv(s, reinterpret_cast<char*>(&total) + got, sizeof total - got);
    if (n <= 0) break;
    got += size_t(n);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  api.close(s);
  if (total != bytes) return 0;
  return double(bytes) * 8 / secs / 1e6;
}

uint16_t icmp_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(uint16_t(~sum));
}

/// ICMP echo RTTs in ms. `raw_has_ip` says whether replies carry the IP header.
std::vector<double> pings(int s, const sockaddr_in& to, int count, bool ntm_sock) {
  std::vector<double> rtts;
  uint8_t pkt[64], buf[2048];
  for (int seq = 1; seq <= count; ++seq) {
    std::memset(pkt, 0, sizeof pkt);
    pkt[0] = ICMP_ECHO;
    pkt[4] = 0x4e, pkt[5] = 0x54;
    pkt[6] = uint8_t(seq >> 8), pkt[7] = uint8_t(seq);
    uint16_t c = icmp_checksum(pkt, sizeof pkt);
    std::memcpy(&pkt[2], &c, 2);
    auto t0 = Clock::now();
    ssize_t w = ntm_sock ? ntm_sendto(s, pkt, sizeof pkt, 0, (const sockaddr*)&to, sizeof to)
                         : ::sendto(s, pkt, sizeof pkt, 0, (const sockaddr*)&to, sizeof to);
    if (w < 0) break;
    for (;;) {
      pollfd p{s, POLLIN, 0};
      int r = ntm_sock ? ntm_poll(&p, 1, 1000) : ::poll(&p, 1, 1000);
      if (r <= 0) break;
      ssize_t n = ntm_sock ? ntm_recvfrom(s, buf, sizeof buf, 0, nullptr, nullptr)
                           : ::recvfrom(s, buf, sizeof buf, 0, nullptr, nullptr);
      if (n < 8) continue;
      size_t off = (buf[0] >> 4) == 4 ? size_t(buf[0] & 0x0f) * 4 : 0;
      if (size_t(n) < off + 8 || buf[off] != ICMP_ECHOREPLY ||
          (buf[off + 6] << 8 | buf[off + 7]) != seq)
        continue;
      rtts.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return rtts;
}

int start_node_from_env() {
  ntm::apps::NodeOptions node;  // NTM_DC, NTM_DC_KEY, NTM_NAME, NTM_STATE_DIR, NTM_BIND
  ntm_config cfg;
  return node.complete("ntm-bench") && node.start_node("ntm-bench", cfg) ? 0 : -1;
}

/// The measurement: tunnel to `fqdn` (port kSinkPort) against the kernel to `kaddr`.
int measure(const std::string& fqdn, sockaddr_in kaddr, size_t mb, int runs, int npings,
            int timeout_s) {
  size_t bytes = mb << 20;
  sockaddr_in vip{};
  socklen_t vlen = sizeof vip;
  auto t0 = Clock::now();
  if (ntm_getaddrinfo(fqdn.c_str(), AF_INET, kSinkPort, (sockaddr*)&vip, &vlen) != 0 ||
      ntm_wait_tunnel((sockaddr*)&vip, vlen, 10000) != 0) {
    std::fprintf(stderr, "ntm-bench: no tunnel: %s\n", ntm_last_error());
    return 1;
  }
  double setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<double> tun, ker;
  ntm_stats before{}, after{};
  ntm_get_stats(&before);
  for (int r = 0; r < runs; ++r) {  // interleaved, so both see the same machine load
    tun.push_back(bulk(ntm_api(), vip, bytes, timeout_s));
    ker.push_back(bulk(kernel_api(), kaddr, bytes, timeout_s));
  }
  ntm_get_stats(&after);
  int ts = ntm_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  vip.sin_port = 0;
  std::vector<double> tun_rtt, ker_rtt;
  if (npings > 0) tun_rtt = pings(ts, vip, npings, true);
  int ks = ::socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);  // unprivileged ping socket
  if (ks < 0) ks = ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  kaddr.sin_port = 0;
  if (ks >= 0 && npings > 0) ker_rtt = pings(ks, kaddr, npings, false);
  if (ks >= 0) ::close(ks);

  double tm = median(tun), km = median(ker), trtt = median(tun_rtt), krtt = median(ker_rtt);
  std::printf("NTM tunnel vs kernel TCP/ICMP to %s (medians; runs interleaved)\n",
              inet_ntoa(kaddr.sin_addr));
  const char* tcc = std::getenv("NTM_TCP_CC");
  std::printf("  congestion control: tunnel %s, kernel %s\n", tcc ? tcc : "bbr",
              kernel_cc_name().c_str());
  std::printf("  tunnel setup (resolve + route direction + tunnel exchange): %.2f ms\n", setup_ms);
  std::printf("  bulk TCP %zu MiB x %d:  tunnel %8.1f Mbit/s   kernel %8.1f Mbit/s   ratio %.3f\n",
              mb, runs, tm, km, km > 0 ? tm / km : 0.0);
  std::printf(
      "  ICMP echo x %d:         tunnel %8.3f ms       kernel %8.3f ms       added %.3f ms\n",
      npings, trtt, krtt, trtt - krtt);
  std::printf("  tunnel runs (Mbit/s):");
  for (double v : tun) std::printf(" %.0f", v);
  std::printf("\n  kernel runs (Mbit/s):");
  for (double v : ker) std::printf(" %.0f", v);
  std::printf("\n  echoes answered: tunnel %zu/%d, kernel %zu/%d\n", tun_rtt.size(), npings,
              ker_rtt.size(), npings);
  auto failed = [](const std::vector<double>& v) {
    return int(std::count(v.begin(), v.end(), 0.0));
  };
  // The source's tunnel packets during its transfers: data out, the sink's ACKs back.
  uint64_t tx = after.tx_packets - before.tx_packets, rx = after.rx_packets - before.rx_packets;
  double acks_per_data = tx ? double(rx) / double(tx) : 0.0;
  std::printf("  tunnel packets during the transfers: sent %llu, received %llu (%.3f per sent)\n",
              (unsigned long long)tx, (unsigned long long)rx, acks_per_data);
  std::printf(
      "result tunnel_mbit=%.1f kernel_mbit=%.1f ratio=%.3f tunnel_failed=%d kernel_failed=%d "
      "rexmit_recovery=%llu rexmit_tlp=%llu rexmit_rto=%llu rto_events=%llu kernel_cc=%s "
      "acks_per_data=%.3f\n",
      tm, km, km > 0 ? tm / km : 0.0, failed(tun), failed(ker),
      (unsigned long long)(after.tcp_rexmit_recovery - before.tcp_rexmit_recovery),
      (unsigned long long)(after.tcp_rexmit_tlp - before.tcp_rexmit_tlp),
      (unsigned long long)(after.tcp_rexmit_rto - before.tcp_rexmit_rto),
      (unsigned long long)(after.tcp_rto_events - before.tcp_rto_events), kernel_cc_name().c_str(),
      acks_per_data);
  std::fflush(stdout);
  ntm_close(ts);
  bool ok = tm > 0 && km > 0 && (npings == 0 || !tun_rtt.empty());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mb = 64;
  int runs = 5, npings = 200, timeout_s = 0;
  bool source_mode = false;
  std::string peer_fqdn, kernel_peer;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "sink-node") {  // child: tunnel sink
      if (start_node_from_env() != 0) return 1;
      Api api = ntm_api();
      int l = listen_on(api, AF_INET, kSinkPort, nullptr);
      std::printf("ready\n");
      std::fflush(stdout);
      run_sink(api, l);
      return 0;
    }
    if (a == "sink-kernel") {  // child: kernel TCP sink on 127.0.0.1 (or the given IP)
      Api api = kernel_api();
      const char* ip = i + 1 < argc ? argv[i + 1] : "127.0.0.1";
      int l = listen_on(api, AF_INET, 0, ip);
      sockaddr_in sa{};
      socklen_t len = sizeof sa;
      getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len);
      std::printf("ready port=%u\n", ntohs(sa.sin_port));
      std::fflush(stdout);
      run_sink(api, l);
      return 0;
    }
    if (a == "source" && i + 2 < argc) {
      source_mode = true;
      peer_fqdn = argv[++i];
      kernel_peer = argv[++i];
    } else if (a == "--mb" && i + 1 < argc)
      mb = size_t(std::atol(argv[++i]));
    else if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--pings" && i + 1 < argc)
      npings = std::atoi(argv[++i]);
    else if (a == "--timeout" && i + 1 < argc)
      timeout_s = std::atoi(argv[++i]);
    else if (a == "--kernel-cc" && i + 1 < argc)
      g_kernel_cc = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: ntm-bench [--mb MiB] [--runs N] [--pings N] [--timeout S] "
                   "[--kernel-cc NAME]\n");
      return 2;
    }
  }
  if (source_mode) {
    if (start_node_from_env() != 0) return 1;
    sockaddr_in kaddr{};
    auto colon = kernel_peer.rfind(':');
    kaddr.sin_family = AF_INET;
    if (colon == std::string::npos ||
        inet_pton(AF_INET, kernel_peer.substr(0, colon).c_str(), &kaddr.sin_addr) != 1)
      return 2;
    kaddr.sin_port = htons(uint16_t(std::atoi(kernel_peer.substr(colon + 1).c_str())));
    int rc = measure(peer_fqdn, kaddr, mb, runs, npings, timeout_s);
    ntm_stop();
    return rc;
  }
  if (mb < 1 || runs < 1 || npings < 1) return 2;
  std::string self = "/proc/self/exe";
  char exe[4096];
  ssize_t n = readlink(self.c_str(), exe, sizeof exe - 1);
  if (n <= 0) return 1;
  exe[n] = 0;

  ntm::test::TempDir dir;
  std::string state = dir.path() + "/dc";
  Process key({ntm::test::bin("ntm-dc"), "--state-dir", state, "--print-public-key"});
  std::string dc_key = key.read_line(std::chrono::seconds(5)).value_or("");
  Process dc({ntm::test::bin("ntm-dc"), "--state-dir", state, "--listen", "127.0.0.1:0", "--domain",
              "bench.ntm.test", "--port-file", dir.path() + "/port", "--log-level", "warn"});
  int dc_port = 0;
  for (int i = 0; i < 200 && !dc_port; ++i) {
    std::ifstream f(dir.path() + "/port");
    f >> dc_port;
    if (!dc_port) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!dc_port) return 1;
  std::string dc_addr = "127.0.0.1:" + std::to_string(dc_port);
  std::map<std::string, std::string> env = {{"NTM_DC", dc_addr},
                                            {"NTM_DC_KEY", dc_key},
                                            {"NTM_NAME", "sink"},
                                            {"NTM_STATE_DIR", dir.path() + "/sink"},
                                            {"NTM_BIND", "127.0.0.1:0"}};
  Process sink({exe, "sink-node"}, env);
  if (!sink.wait_for_line("ready", std::chrono::seconds(10))) return 1;
  Process ksink({exe, "sink-kernel"});
  auto kready = ksink.wait_for_line("ready", std::chrono::seconds(10));
  if (!kready) return 1;
  uint16_t kport = uint16_t(std::atoi(kready->substr(kready->find('=') + 1).c_str()));

  setenv("NTM_DC", dc_addr.c_str(), 1);
  setenv("NTM_DC_KEY", dc_key.c_str(), 1);
  setenv("NTM_NAME", "source", 1);
  setenv("NTM_STATE_DIR", (dir.path() + "/source").c_str(), 1);
  setenv("NTM_BIND", "127.0.0.1:0", 1);
  if (start_node_from_env() != 0) return 1;
  sockaddr_in kaddr{};
  kaddr.sin_family = AF_INET;
  kaddr.sin_port = htons(kport);
  kaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = measure("sink.bench.ntm.test", kaddr, mb, runs, npings, timeout_s);
  ntm_stop();
  return rc;
}
