// dc-flood: how long a legitimate node waits for its DC while the DC is flooded (issue 6).
//
// Starts ntm-dc on 127.0.0.1, then measures a legitimate node's handshake and handshake +
// registration latency (as DcLink does it: mac1, and mac2 after a cookie reply) — first idle,
// then while the DC receives, from other loopback addresses:
//   - junk:        random 148-byte "initiations" (wrong mac1)       --junk-pps
//   - identities:  valid initiations of ever new identities, from    --init-pps
//                  200 source addresses, never following up
//   - registrars:  clients that complete handshakes (answering       --registrars
//                  cookies) and register new identities in a loop,
//                  so every one is a new vIP binding written to SQLite
// Prints median / p95 / max of both phases, their ratio, the offered flood rates and the DC's
// counters. The baseline is the idle phase of the same run.
//   build/bin/dc-flood [--samples 200] [--junk-pps 20000] [--init-pps 20000] [--registrars 3]
//                      [--no-pin 1]
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "process.h"
#include "proto/control_message.h"

using namespace ntm;
using Clock = std::chrono::steady_clock;
using proto::Bytes;

namespace {

int udp_socket(const char* ip) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  return fd;
}

std::optional<Bytes> recv_for(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return std::nullopt;
  uint8_t buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  return Bytes(buf, buf + n);
}

/// A node's DC exchange, as DcLink does it. Returns the handshake and registration times in
/// ms, or negative values on a timeout.
struct Client {
  Client(const char* ip, const proto::Endpoint& dc, const crypto::Key& dc_pub)
      : fd(udp_socket(ip)), dc(dc), dc_pub(dc_pub), cookies(dc_pub) {}
  ~Client() { ::close(fd); }

  std::pair<double, double> register_as(const crypto::Key& priv, const std::string& name) {
    auto t0 = Clock::now();
    crypto::HandshakeInitiator hs(priv, dc_pub);
    uint32_t index = crypto::random_u32() | 1;
    auto send_init = [&] {
      Bytes m = hs.create_init(index);
      cookies.add_macs(m);
      ::sendto(fd, m.data(), m.size(), 0, dc.sa(), dc.sa_len());
    };
    send_init();
    std::unique_ptr<crypto::Session> s;
    for (int tries = 0; !s && tries < 20;) {
      auto d = recv_for(fd, 250);
      if (!d) {
        ++tries;
        send_init();
        continue;
      }
      if ((*d)[0] == uint8_t(proto::PacketType::kCookieReply)) {
        if (cookies.consume_reply(*d)) send_init();
        continue;
      }
      if (auto r = hs.consume_response(*d))
        s = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
    }
    if (!s) return {-1, -1};
    double hs_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    proto::ControlMessage reg(proto::MessageType::kRegistrationRequest, 1);
    reg.add_string(proto::AttrType::kNodeName, name);
    Bytes plain = reg.encode(), out(plain.size() + proto::kSealedOverhead);
    for (int tries = 0; tries < 20; ++tries) {
      s->seal(proto::PacketType::kControl, plain, out.data());
      ::sendto(fd, out.data(), out.size(), 0, dc.sa(), dc.sa_len());
      auto d = recv_for(fd, 250);
      if (!d || (*d)[0] != uint8_t(proto::PacketType::kControl)) continue;
      crypto::SealedHeader h;
      Bytes p(d->size() >= proto::kSealedOverhead ? d->size() - proto::kSealedOverhead : 0);
      if (crypto::parse_sealed_header(*d, h) &&
          s->open(h, *d, p.data()) == crypto::Session::OpenStatus::kOk)
        return {hs_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count()};
    }
    return {hs_ms, -1};
  }

  int fd;
  proto::Endpoint dc;
  crypto::Key dc_pub;
  crypto::CookieGenerator cookies;
};

struct Figures {
  double median, p95, max;
  int lost;
};

Figures summarize(std::vector<double> v) {
  int lost = int(std::count_if(v.begin(), v.end(), [](double x) { return x < 0; }));
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return x < 0; }), v.end());
  if (v.empty()) return {0, 0, 0, lost};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 95 / 100)], v.back(), lost};
}

/// CPU seconds (user + system) the process has used.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

/// Puts every thread of `pid` (0: this process's calling thread, and what it starts later)
/// on CPU `cpu`. False when the machine has no such CPU.
bool pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pid == 0) return sched_setaffinity(0, sizeof set, &set) == 0;
  bool ok = false;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(tasks.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.')
        ok = sched_setaffinity(pid_t(std::atoi(e->d_name)), sizeof set, &set) == 0 || ok;
    closedir(d);
  }
  return ok;
}

long arg(int argc, char** argv, const char* name, long def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  crypto::init();
  int samples = int(arg(argc, argv, "--samples", 200));
  long junk_pps = arg(argc, argv, "--junk-pps", 20000);
  long init_pps = arg(argc, argv, "--init-pps", 20000);
  int registrars = int(arg(argc, argv, "--registrars", 3));

  test::TempDir dir;
  std::string state = dir.path() + "/dc";
  std::string dc_key;
  {
    test::Process p({test::bin("ntm-dc"), "--state-dir", state, "--print-public-key"});
    dc_key = p.read_line(std::chrono::seconds(5)).value_or("");
  }
  auto dc_pub = crypto::key_from_base64(dc_key);
  if (!dc_pub) {
    std::fprintf(stderr, "dc-flood: cannot start ntm-dc\n");
    return 1;
  }
  test::Process dc(
      {test::bin("ntm-dc"), "--state-dir", state, "--listen", "127.0.0.1:0", "--port-file",
       dir.path() + "/port", "--domain", "flood.test", "--vip4-pool", "100.64.0.0/10"},
      {}, dir.path() + "/dc.log");
  uint16_t port = 0;
  for (int i = 0; i < 200 && !port; ++i) {
    std::ifstream f(dir.path() + "/port");
    f >> port;
    if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  proto::Endpoint dc_ep = *proto::Endpoint::parse("127.0.0.1:" + std::to_string(port));
  // The DC on CPU 0, everything of this benchmark (legitimate node, flooders, registrars) on
  // CPU 1: an attacker's CPU is not the DC's, and the two phases see the same arrangement.
  // --no-pin leaves both to the scheduler.
  bool pinned = arg(argc, argv, "--no-pin", 0) == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2 &&
                pin(dc.pid(), 0) && pin(0, 1);

  // Each sample is a legitimate node's first contact: its own identity and address (one of
  // 100 on 127.0.4.x, so no node exceeds the per-source handshake rate, which a real node
  // starting once never does) and no cookie yet — under load it needs the cookie round trip.
  int phase = 0;
  auto measure = [&](std::vector<double>& hs, std::vector<double>& reg) {
    for (int i = 0; i < samples; ++i) {
      Client legit(("127.0.4." + std::to_string(i % 100 + 1)).c_str(), dc_ep, *dc_pub);
      auto [h, r] = legit.register_as(crypto::random_private_key(),
                                      "legit-" + std::to_string(phase) + "-" + std::to_string(i));
      hs.push_back(h);
      reg.push_back(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ++phase;
  };
  std::vector<double> idle_hs, idle_reg, flood_hs, flood_reg;
  measure(idle_hs, idle_reg);

  // Flood material, made before the flood so the flooders spend their time sending.
  std::vector<Bytes> inits;
  {
    crypto::CookieGenerator macs(*dc_pub);
    for (int i = 0; i < 20000; ++i) {
      crypto::HandshakeInitiator h(crypto::random_private_key(), *dc_pub);
      Bytes m = h.create_init(crypto::random_u32());
      macs.add_macs(m);
      inits.push_back(std::move(m));
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<long> junk_sent{0}, init_sent{0}, registered{0};
  // Each flooder wakes once a millisecond and sends what is due (about pps/1000 datagrams):
  // an attacker's pacing costs the attacker, and a wake-up per datagram would take the CPU
  // this machine shares with the DC and the legitimate node away from them.
  auto paced = [&](long pps, auto&& send_one) {
    auto start = Clock::now();
    for (long n = 0; !stop;) {
      long due = long(std::chrono::duration<double>(Clock::now() - start).count() * double(pps));
      for (; n < due && !stop; ++n) send_one(n);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  std::vector<std::thread> flood;
  flood.reserve(size_t(2 + registrars));
  flood.emplace_back([&] {
    std::vector<int> fds;
    for (int i = 0; i < 32; ++i)
      fds.push_back(udp_socket(("127.0.2." + std::to_string(i + 1)).c_str()));
    std::mt19937 rng(1);
    Bytes junk(proto::kHandshakeInitSize);
    paced(junk_pps, [&](long n) {
      for (auto& b : junk) b = uint8_t(rng());
      junk[0] = 1, junk[1] = junk[2] = junk[3] = 0;
      ::sendto(fds[size_t(n) % fds.size()], junk.data(), junk.size(), 0, dc_ep.sa(),
               dc_ep.sa_len());
      ++junk_sent;
    });
    for (int fd : fds) ::close(fd);
  });
  flood.emplace_back([&] {
    std::vector<int> fds;
    for (int i = 0; i < 200; ++i)
      fds.push_back(udp_socket(("127.0.1." + std::to_string(i + 1)).c_str()));
    paced(init_pps, [&](long n) {
      const Bytes& m = inits[size_t(n) % inits.size()];
      ::sendto(fds[size_t(n) % fds.size()], m.data(), m.size(), 0, dc_ep.sa(), dc_ep.sa_len());
      ++init_sent;
    });
    for (int fd : fds) ::close(fd);
  });
  for (int r = 0; r < registrars; ++r) {
    flood.emplace_back([&, r] {
      Client c(("127.0.3." + std::to_string(r + 1)).c_str(), dc_ep, *dc_pub);
      for (int i = 0; !stop; ++i) {
        auto [h, reg] = c.register_as(crypto::random_private_key(),
                                      "r" + std::to_string(r) + "-" + std::to_string(i));
        if (reg >= 0) ++registered;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the DC is under load now
  auto flood_start = Clock::now();
  long junk0 = junk_sent, init0 = init_sent, reg0 = registered;
  double cpu0 = cpu_seconds(dc.pid());
  measure(flood_hs, flood_reg);
  double secs = std::chrono::duration<double>(Clock::now() - flood_start).count();
  double dc_cpu = (cpu_seconds(dc.pid()) - cpu0) / secs;
  long junk_rate = long((junk_sent - junk0) / secs), init_rate = long((init_sent - init0) / secs),
       reg_rate = long((registered - reg0) / secs);
  stop = true;
  for (auto& t : flood) t.join();
  dc.signal(SIGTERM);
  dc.wait(std::chrono::seconds(10));
  std::ifstream log(dir.path() + "/dc.log");
  std::string line, stats;
  int shown = 0;
  bool verbose = std::getenv("NTM_FLOOD_VERBOSE") != nullptr;
  while (std::getline(log, line)) {
    if (line.find("stopping on signal") != std::string::npos)
      stats = line.substr(line.find(": ") + 2);
    if (verbose && shown < 60 && line.find("handshake with") == std::string::npos) {
      std::printf("log: %s\n", line.c_str());
      ++shown;
    }
  }

  Figures ih = summarize(idle_hs), ir = summarize(idle_reg), fh = summarize(flood_hs),
          fr = summarize(flood_reg);
  std::printf("dc-flood: %d samples per phase, each a new legitimate node (127.0.4.x)\n", samples);
  std::printf(
      "flood offered: junk %ld pkt/s, fresh-identity initiations %ld pkt/s (200 sources), "
      "%d registrars completing %ld registrations/s\n",
      junk_rate, init_rate, registrars, reg_rate);
  std::printf("DC CPU during the flood: %.0f %% of one core%s\n", dc_cpu * 100,
              pinned ? " (the DC pinned to CPU 0, the benchmark's threads to CPU 1)" : "");
  std::printf("%-34s %9s %9s %9s %6s\n", "", "median", "p95", "max", "lost");
  auto row = [](const char* what, const Figures& f) {
    std::printf("%-34s %7.3f ms %7.3f ms %7.3f ms %6d\n", what, f.median, f.p95, f.max, f.lost);
  };
  row("handshake, idle (baseline)", ih);
  row("handshake, during the flood", fh);
  row("handshake + registration, idle", ir);
  row("handshake + registration, flood", fr);
  if (ir.median > 0)
    std::printf("ratio flood/idle (median, handshake + registration): %.2f\n",
                fr.median / ir.median);
  std::printf("dc counters: %s\n", stats.c_str());
  return 0;
}
