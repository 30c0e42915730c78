// ntm-linkemu: one-way delay, jitter, loss and rate for packets crossing a router namespace,
// for kernels without the netem qdisc.
//
// How a packet flows:
//   1. An iptables rule in the router namespace sends it to NFQUEUE number N, e.g.
//      `iptables -t raw -A PREROUTING -i lan0 -j NFQUEUE --queue-num 1`: every packet
//      entering through lan0 (the "uplink" direction of that access link) is queued before
//      conntrack and NAT see it, so NAT state is created in the order packets leave the link.
//   2. The kernel holds the packet and tells us its id and length (metadata only).
//   3. The Link for queue N decides: drop now (loss, overflow), or hold until a release time.
//   4. epoll_pwait2's timeout, set to the earliest release time (nanoseconds), wakes us; due
//      packets get ACCEPT verdicts, batched into one sendmsg. The kernel then continues the
//      packet from where it was queued.
// Nothing polls: the process sleeps in epoll_pwait2 between arrivals and release times.
//
// Cost. Each packet costs the emulator a wakeup or two and the kernel's forwarding work,
// which the verdict's sendmsg runs in our context. On the paravirtualised CI VMs a kernel
// entry, exit or context switch is expensive (perf: most samples in pvm_irq_enable), so the
// loop keeps syscalls per wakeup to a minimum: one recvmmsg drains up to 64 queued packets
// (no second read to learn the queue is empty), the timeout rides on the epoll wait (no
// timerfd to re-arm and read), and all verdicts of a wakeup go in one sendmsg.
// bench/linkemu.sh measures the CPU time per packet.
//
// Shutdown (SIGINT/SIGTERM) releases held packets instead of dropping them.

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control.h"
#include "link_model.h"
#include "nfqueue.h"

namespace ntm::linkemu {
namespace {

constexpr const char* kDefaultName = "ntm-linkemu";

const char* const kUsage =
    "usage:\n"
    "  ntm-linkemu run [--name NAME] [--pidfile FILE] [--seed N] [--slack DUR] [--maxlen N]\n"
    "                  --queue N [LINK OPTIONS] [--queue M [LINK OPTIONS]]...\n"
    "  ntm-linkemu set [--name NAME] --queue N [LINK OPTIONS]\n"
    "  ntm-linkemu stats [--name NAME]\n"
    "\n"
    "LINK OPTIONS (one direction of a link, fed by `-j NFQUEUE --queue-num N`):\n"
    "  --delay DUR      one-way delay (5ms, 250us, 1s; bare number = ms)   [0]\n"
    "  --jitter DUR     delay varies uniformly within +-DUR                [0]\n"
    "  --loss P         drop probability (10% or 0.1)                      [0]\n"
    "  --rate R         serialisation rate (100mbit, 1gbit, bit/s; 0=off)  [0]\n"
    "  --limit N        packets held before tail drop                      [10000]\n"
    "  --reorder 0|1    let jittered packets overtake earlier ones         [0]\n"
    "  --gemodel P,R[,H] Gilbert-Elliott bursty loss: Good->Bad P, Bad->Good R per\n"
    "                   packet, loss H in Bad (e.g. 0.2%,20%: 1% in bursts of 5); 0=off\n"
    "\n"
    "run: --name is the control socket (abstract, per network namespace) [ntm-linkemu];\n"
    "     --pidfile is written once every queue is bound; --seed seeds the loss and jitter\n"
    "     draws (queue N uses seed+N) [1]; --slack releases packets due within DUR of each\n"
    "     wakeup together [50us]; --maxlen bounds each kernel queue [16384].\n";

Nanos now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "ntm-linkemu: %s\n", message.c_str());
  std::exit(1);
}

bool is_link_option(std::string_view opt) {
  return opt == "--delay" || opt == "--jitter" || opt == "--loss" || opt == "--rate" ||
         opt == "--limit" || opt == "--reorder" || opt == "--gemodel";
}

std::optional<std::uint16_t> parse_queue(std::string_view text) {
  char* end = nullptr;
  std::string s(text);
  unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

struct RunOptions {
  std::string name = kDefaultName;
  std::string pidfile;
  std::uint64_t seed = 1;
  Nanos slack = 50000;
  std::uint32_t maxlen = 16384;
  std::map<std::uint16_t, LinkParams> queues;
};

class Emulator {
 public:
  explicit Emulator(const RunOptions& options) : slack_(options.slack) {
    for (const auto& [num, params] : options.queues) {
      links_.emplace(num, Link(params, options.seed + num));
    }
  }

  void setup(const RunOptions& options) {
    if (int rc = nfq_.open(8 << 20); rc < 0) die(std::string("netlink: ") + std::strerror(-rc));
    for (const auto& [num, link] : links_) {
      if (int rc = nfq_.bind(num, options.maxlen); rc < 0) {
        die("cannot bind NFQUEUE " + std::to_string(num) + ": " + std::strerror(-rc));
      }
    }
    if (int rc = nfq_.set_nonblocking(); rc < 0) die(std::strerror(-rc));

    control_fd_ = control_listen(options.name);
    if (control_fd_ < 0) {
      die("control socket @" + options.name + ": " + std::strerror(-control_fd_));
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (signal_fd_ < 0 || epoll_fd_ < 0) die(std::strerror(errno));
    for (int fd : {nfq_.fd(), signal_fd_, control_fd_}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) die(std::strerror(errno));
    }
    for (const auto& [num, link] : links_) {
      std::fprintf(stderr, "ntm-linkemu: queue %u %s\n", num, link.params().describe().c_str());
    }
  }

  // Returns when a signal asks us to stop.
  void run() {
    bool stopping = false;
    while (!stopping) {
      epoll_event events[4];
      int n = wait(events, 4, next_release());
      if (n < 0) {
        if (errno == EINTR) continue;
        die(std::string("epoll_pwait2: ") + std::strerror(errno));
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == nfq_.fd()) {
          on_packets();
        } else if (fd == signal_fd_) {
          stopping = true;
        } else if (fd == control_fd_) {
          on_control();
        }
      }
      release(stopping ? INT64_MAX : now_ns() + slack_);
      if (int rc = nfq_.flush(); rc < 0) {
        std::fprintf(stderr, "ntm-linkemu: verdict: %s\n", std::strerror(-rc));
      }
    }
  }

 private:
  // Sleeps until an event or `deadline` (absolute, CLOCK_MONOTONIC; none: no timeout).
  int wait(epoll_event* events, int max, std::optional<Nanos> deadline) {
    timespec ts{};
    timespec* tp = nullptr;
    if (deadline) {
      Nanos left = std::max<Nanos>(*deadline - now_ns(), 0);
      ts.tv_sec = left / 1000000000;
      ts.tv_nsec = left % 1000000000;
      tp = &ts;
    }
    if (have_pwait2_) {
      int n = epoll_pwait2(epoll_fd_, events, max, tp, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      have_pwait2_ = false;  // kernel older than 5.11: millisecond timeouts
    }
    int ms = tp ? int((ts.tv_sec * 1000000000 + ts.tv_nsec + 999999) / 1000000) : -1;
    return epoll_wait(epoll_fd_, events, max, ms);
  }

  std::optional<Nanos> next_release() const {
    std::optional<Nanos> next;
    for (const auto& [num, link] : links_) {
      if (auto t = link.next_release(); t && (!next || *t < *next)) next = t;
    }
    return next;
  }

  // 2–3: metadata arrives; each packet is dropped at once or held.
  void on_packets() {
    for (int attempt = 0; attempt < 4; ++attempt) {
      batch_.clear();
      int rc = nfq_.receive(batch_);
      if (rc == -EAGAIN || rc == -EWOULDBLOCK) break;
      if (rc == -EINTR || rc == -ENOBUFS) continue;
      if (rc < 0) die(std::string("netlink receive: ") + std::strerror(-rc));
      Nanos now = now_ns();
      for (const QueuedPacket& pkt : batch_) {
        auto it = links_.find(pkt.queue);
        if (it == links_.end()) {
          nfq_.verdict(pkt.queue, pkt.id, true);
        } else if (it->second.admit(pkt.id, pkt.bytes, now) == Fate::kDrop) {
          nfq_.verdict(pkt.queue, pkt.id, false);
        }
      }
      break;  // drained (receive() read until the socket was empty, or its budget)
    }
  }

  // 4: everything due (within the slack) is accepted.
  void release(Nanos until) {
    for (auto& [num, link] : links_) {
      ids_.clear();
      link.release_due(until, ids_);
      for (std::uint32_t id : ids_) nfq_.verdict(num, id, true);
    }
  }

  void on_control() {
    std::string request;
    int conn = control_accept(control_fd_, request);
    if (conn < 0) return;
    control_reply(conn, handle(request));
  }

  std::string handle(const std::string& request) {
    std::vector<std::string> words;
    for (std::size_t pos = 0; pos < request.size();) {
      std::size_t end = request.find_first_of(" \n", pos);
      if (end == std::string::npos) end = request.size();
      if (end > pos) words.push_back(request.substr(pos, end - pos));
      pos = end + 1;
    }
    if (words.size() == 1 && words[0] == "stats") {
      std::string out;
      for (const auto& [num, link] : links_) {
        const LinkStats& s = link.stats();
        char line[256];
        std::snprintf(
            line, sizeof line,
            "queue=%u received=%llu passed=%llu lost=%llu overflowed=%llu held=%zu %s\n", num,
            static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.passed),
            static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.overflowed),
            link.held(), link.params().describe().c_str());
        out += line;
      }
      return out;
    }
    if (words.size() >= 2 && words[0] == "set") {
      auto num = parse_queue(words[1]);
      auto it = num ? links_.find(*num) : links_.end();
      if (it == links_.end()) return "error no such queue: " + words[1] + "\n";
      LinkParams params = it->second.params();
      for (std::size_t i = 2; i < words.size(); ++i) {
        if (std::string err = params.apply(words[i]); !err.empty()) return "error " + err + "\n";
      }
      it->second.set_params(params);
      std::fprintf(stderr, "ntm-linkemu: queue %u %s\n", *num, params.describe().c_str());
      return "ok " + words[1] + " " + params.describe() + "\n";
    }
    return "error unknown request\n";
  }

  NfQueue nfq_;
  std::map<std::uint16_t, Link> links_;
  Nanos slack_;
  bool have_pwait2_ = true;
  int signal_fd_ = -1;
  int control_fd_ = -1;
  int epoll_fd_ = -1;
  std::vector<QueuedPacket> batch_;
  std::vector<std::uint32_t> ids_;
};

// Collects "--delay 5ms" style options as "delay=5ms" settings.
std::string take_link_option(std::string_view opt, const char* value, LinkParams& params) {
  std::string setting = std::string(opt.substr(2)) + "=" + value;
  std::string err = params.apply(setting);
  return err;
}

int cmd_run(int argc, char** argv) {
  RunOptions options;
  LinkParams* current = nullptr;
  for (int i = 2; i < argc; ++i) {
    std::string_view opt = argv[i];
    if (i + 1 >= argc) die("missing value for " + std::string(opt) + "\n" + kUsage);
    const char* value = argv[++i];
    if (opt == "--queue") {
      auto num = parse_queue(value);
      if (!num) die(std::string("bad queue number: ") + value);
      current = &options.queues[*num];
    } else if (is_link_option(opt)) {
      if (!current) die(std::string(opt) + " before --queue");
      if (std::string err = take_link_option(opt, value, *current); !err.empty()) die(err);
    } else if (opt == "--name") {
      options.name = value;
    } else if (opt == "--pidfile") {
      options.pidfile = value;
    } else if (opt == "--seed") {
      options.seed = std::strtoull(value, nullptr, 10);
    } else if (opt == "--slack") {
      auto d = parse_duration(value);
      if (!d) die(std::string("bad --slack: ") + value);
      options.slack = *d;
    } else if (opt == "--maxlen") {
      options.maxlen = static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10));
    } else {
      die("unknown option " + std::string(opt) + "\n" + kUsage);
    }
  }
  if (options.queues.empty()) die(std::string("no --queue given\n") + kUsage);

  Emulator emulator(options);
  emulator.setup(options);
  if (!options.pidfile.empty()) {
    std::string tmp = options.pidfile + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) die("cannot write " + tmp + ": " + std::strerror(errno));
    std::fprintf(f, "%d\n", static_cast<int>(getpid()));
    std::fclose(f);
    if (std::rename(tmp.c_str(), options.pidfile.c_str()) != 0) die(std::strerror(errno));
  }
  emulator.run();
  return 0;
}

int cmd_client(int argc, char** argv, bool is_set) {
  std::string name = kDefaultName;
  std::string request = is_set ? "set" : "stats";
  std::string queue;
  LinkParams scratch;  // validates settings before they are sent
  for (int i = 2; i < argc; ++i) {
    std::string_view opt = argv[i];
    if (i + 1 >= argc) die("missing value for " + std::string(opt));
    const char* value = argv[++i];
    if (opt == "--name") {
      name = value;
    } else if (is_set && opt == "--queue") {
      queue = value;
    } else if (is_set && is_link_option(opt)) {
      if (std::string err = take_link_option(opt, value, scratch); !err.empty()) die(err);
      request += " " + std::string(opt.substr(2)) + "=" + value;
    } else {
      die("unknown option " + std::string(opt) + "\n" + kUsage);
    }
  }
  if (is_set) {
    if (queue.empty()) die("set needs --queue");
    request.insert(3, " " + queue);
  }
  std::string reply;
  if (int rc = control_call(name, request, reply, 2000); rc < 0) {
    die("no emulator @" + name + " in this network namespace: " + std::strerror(-rc));
  }
  std::fputs(reply.c_str(), stdout);
  return reply.rfind("error", 0) == 0 ? 1 : 0;
}

}  // namespace
}  // namespace ntm::linkemu

int main(int argc, char** argv) {
  using namespace ntm::linkemu;
  std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "run") return cmd_run(argc, argv);
  if (cmd == "set") return cmd_client(argc, argv, true);
  if (cmd == "stats") return cmd_client(argc, argv, false);
  std::fputs(kUsage, cmd == "--help" || cmd == "-h" ? stdout : stderr);
  return cmd == "--help" || cmd == "-h" ? 0 : 2;
}
