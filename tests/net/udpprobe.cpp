// ntm-udpprobe: the UDP traffic the test network's scripts send, bounded in count and time.
//
//   echo  --bind ADDR [--punch ADDR] [--count N] [--timeout MS]
//         Answers every "PROBE <token>" with "REPLY <token> <sender as seen here>"; prints
//         "from <sender> <first word>" for every datagram. --punch first sends one "PUNCH"
//         datagram from the bound port (opens a NAT binding towards ADDR); --keepalive MS
//         repeats it every MS milliseconds (keeps the binding from expiring).
//   probe --to ADDR [--bind ADDR] [--tries N] [--timeout MS]
//         Sends up to N probes, MS/N apart, until one is answered. Prints
//         "ok observed=<our address as the echo server saw it> rtt_us=<n>" (exit 0),
//         "timeout" (exit 1), or "unreachable <reason>" when the kernel has no route (exit 1).
//   send  --to ADDR [--bind ADDR] [--count N] [--interval-us U] [--size B]
//         Sends N datagrams of B bytes, one every U microseconds. Prints "sent N".
//   sink  --bind ADDR [--idle MS] [--timeout MS]
//         Counts datagrams until MS pass without one (after the first) or the timeout.
//         Prints "received N".
// Exit status 2 is a usage error or a local failure (bad address, bind), never a "no".
// ADDR is 198.18.0.1:4000 or [2001:db8::1]:4000. echo and sink print "listening ADDR" once
// bound, so a script can wait for that line before sending. Every mode stops by itself:
// timeouts default to 10 s and may not exceed 120 s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr long kMaxTimeoutMs = 120000;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "ntm-udpprobe: %s\n", message.c_str());
  std::exit(2);
}

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
};

std::optional<Address> parse_address(std::string_view text) {
  Address a;
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) return std::nullopt;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof *v6;
  } else {
    return std::nullopt;
  }
  return a;
}

std::string format_address(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  port = ntohs(v6->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {  // an IPv4 peer of a dual-stack socket
    inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], host, sizeof host);
    return std::string(host) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

struct Options {
  std::map<std::string, std::string> values;

  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  long number(const std::string& key, long fallback) const {
    auto it = values.find(key);
    if (it == values.end()) return fallback;
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || v < 0) die("bad --" + key + ": " + it->second);
    return v;
  }
  long timeout_ms() const {
    long t = number("timeout", 10000);
    if (t > kMaxTimeoutMs) die("--timeout above " + std::to_string(kMaxTimeoutMs) + " ms");
    return t;
  }
};

Address require_address(const Options& o, const std::string& key) {
  std::string text = o.get(key);
  if (text.empty()) die("--" + key + " is required");
  auto a = parse_address(text);
  if (!a) die("bad --" + key + " address: " + text);
  return *a;
}

// Opens a UDP socket bound to --bind, or to the wildcard of `family` if none is given.
int open_socket(const Options& o, int family) {
  Address local;
  if (!o.get("bind").empty()) {
    local = require_address(o, "bind");
  } else {
    local.ss.ss_family = static_cast<sa_family_t>(family);
    local.len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }
  int fd = ::socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  int buf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local.ss), local.len) < 0) {
    die("bind " + format_address(local.ss) + ": " + std::strerror(errno));
  }
  return fd;
}

void print_listening(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::printf("listening %s\n", format_address(ss).c_str());
  std::fflush(stdout);
}

long ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : left.count();
}

// Waits for a datagram until `deadline`. Returns its length, or -1 on timeout.
ssize_t receive_until(int fd, Clock::time_point deadline, char* buf, std::size_t size,
                      sockaddr_storage& from) {
  for (;;) {
    long wait = ms_left(deadline);
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(wait));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return -1;
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, size, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n >= 0) return n;
    // ICMP errors from earlier sends (ECONNREFUSED...) surface here; keep listening.
    if (wait == 0) return -1;
  }
}

int cmd_echo(const Options& o) {
  int fd = open_socket(o, AF_INET);
  print_listening(fd);
  std::optional<Address> punch_to;
  if (!o.get("punch").empty()) punch_to = require_address(o, "punch");
  auto keepalive = std::chrono::milliseconds(o.number("keepalive", 0));
  auto punch = [&] {
    const char msg[] = "PUNCH";
    ::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&punch_to->ss), punch_to->len);
  };
  if (punch_to) punch();
  auto next_punch = Clock::now() + keepalive;
  long count = o.number("count", 1000000);
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms());
  char buf[2048];
  for (long seen = 0; seen < count;) {
    bool keeping_alive = punch_to && keepalive.count() > 0;
    auto until = keeping_alive ? std::min(deadline, next_punch) : deadline;
    sockaddr_storage from{};
    ssize_t n = receive_until(fd, until, buf, sizeof buf - 1, from);
    if (n < 0) {
      if (!keeping_alive || Clock::now() >= deadline) break;
      punch();
      next_punch += keepalive;
      continue;
    }
    ++seen;
    std::string_view msg(buf, static_cast<std::size_t>(n));
    std::string peer = format_address(from);
    std::printf("from %s %.*s\n", peer.c_str(),
                static_cast<int>(msg.substr(0, msg.find(' ')).size()), msg.data());
    std::fflush(stdout);
    if (msg.rfind("PROBE ", 0) == 0) {
      std::string reply = "REPLY " + std::string(msg.substr(6)) + " " + peer;
      ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
               from.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    }
  }
  ::close(fd);
  return 0;
}

int cmd_probe(const Options& o) {
  Address to = require_address(o, "to");
  int fd = open_socket(o, to.family());
  long tries = o.number("tries", 3);
  if (tries < 1) tries = 1;
  long timeout = o.timeout_ms();
  char buf[2048];
  for (long i = 0; i < tries; ++i) {
    std::string token = std::to_string(::getpid()) + "." + std::to_string(i);
    std::string probe = "PROBE " + token;
    auto sent_at = Clock::now();
    if (::sendto(fd, probe.data(), probe.size(), 0, reinterpret_cast<sockaddr*>(&to.ss), to.len) <
        0) {
      // No route (e.g. IPv4 from an IPv6-only host) is an answer too: unreachable.
      std::printf("unreachable %s\n", std::strerror(errno));
      return 1;
    }
    auto deadline = sent_at + std::chrono::milliseconds(timeout / tries);
    sockaddr_storage from{};
    ssize_t n;
    while ((n = receive_until(fd, deadline, buf, sizeof buf - 1, from)) >= 0) {
      std::string_view msg(buf, static_cast<std::size_t>(n));
      std::string expect = "REPLY " + token + " ";
      if (msg.rfind(expect, 0) != 0) continue;  // a late answer to an earlier try
      auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent_at);
      std::printf("ok observed=%.*s rtt_us=%lld\n", static_cast<int>(msg.size() - expect.size()),
                  msg.data() + expect.size(), static_cast<long long>(rtt.count()));
      return 0;
    }
  }
  std::printf("timeout\n");
  return 1;
}

int cmd_send(const Options& o) {
  Address to = require_address(o, "to");
  int fd = open_socket(o, to.family());
  long count = o.number("count", 1000);
  long interval_us = o.number("interval-us", 1000);
  long size = o.number("size", 64);
  if (count > 10000000) die("--count above 10000000");
  if (size < 16 || size > 65000) die("--size must be 16..65000");
  std::vector<char> payload(static_cast<std::size_t>(size), 'x');
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  long sent = 0;
  for (long i = 0; i < count; ++i) {
    int head = std::snprintf(payload.data(), payload.size(), "DATA %ld ", i);
    payload[static_cast<std::size_t>(head)] = 'x';
    if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to.ss),
                 to.len) >= 0) {
      ++sent;
    }
    // Absolute deadlines keep the average rate exact even if one sleep runs long.
    next.tv_nsec += interval_us * 1000;
    while (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      ++next.tv_sec;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
    }
  }
  std::printf("sent %ld\n", sent);
  return 0;
}

int cmd_sink(const Options& o) {
  int fd = open_socket(o, AF_INET);
  print_listening(fd);
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms());
  auto idle = std::chrono::milliseconds(o.number("idle", 500));
  long received = 0;
  char buf[65536];
  for (;;) {
    auto until = received == 0 ? deadline : std::min(deadline, Clock::now() + idle);
    sockaddr_storage from{};
    if (receive_until(fd, until, buf, sizeof buf, from) < 0) break;
    ++received;
  }
  std::printf("received %ld\n", received);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view cmd = argc > 1 ? argv[1] : "";
  Options o;
  for (int i = 2; i < argc; i += 2) {
    std::string_view opt = argv[i];
    if (opt.rfind("--", 0) != 0 || i + 1 >= argc)
      die("expected --option value, got " + std::string(opt));
    o.values[std::string(opt.substr(2))] = argv[i + 1];
  }
  if (cmd == "echo") return cmd_echo(o);
  if (cmd == "probe") return cmd_probe(o);
  if (cmd == "send") return cmd_send(o);
  if (cmd == "sink") return cmd_sink(o);
  std::fprintf(stderr, "usage: ntm-udpprobe echo|probe|send|sink --option value ...\n");
  return 2;
}
