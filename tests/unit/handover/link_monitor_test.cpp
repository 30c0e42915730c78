// handover::classify: which rtnetlink messages are about the node's path (addresses of global
// or site scope, default routes of the main table), and that a malformed buffer is refused
// without reading past it. The LinkMonitor itself (socket, debounce, docs/api.md §7) in a
// network namespace of the test's own (root only), with `ip` making the changes; the node's
// reaction to a move runs on the test network: tests/net/test_handover.sh.
#include "handover/link_monitor.h"

#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ntm::handover {
namespace {

/// Messages built with libmnl, as the kernel lays them out, in one aligned buffer.
class Batch {
 public:
  Batch() : buf_(8192 / 4, 0) {}
  void address(uint16_t type, uint8_t family, uint8_t scope) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(next());
    nlh->nlmsg_type = type;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = family;
    ifa->ifa_prefixlen = 24;
    ifa->ifa_scope = scope;
    ifa->ifa_index = 3;
    uint8_t a[4] = {192, 168, 3, 100};
    mnl_attr_put(nlh, IFA_LOCAL, sizeof a, a);
    used_ += nlh->nlmsg_len;
  }
  void route(uint16_t type, uint8_t dst_len, uint8_t table = RT_TABLE_MAIN,
             uint8_t rtype = RTN_UNICAST) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(next());
    nlh->nlmsg_type = type;
    auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = dst_len;
    rt->rtm_table = table;
    rt->rtm_type = rtype;
    uint8_t gw[4] = {192, 168, 3, 1};
    mnl_attr_put(nlh, RTA_GATEWAY, sizeof gw, gw);
    used_ += nlh->nlmsg_len;
  }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(buf_.data()); }
  size_t size() const { return used_; }
  nlmsghdr* last_header() const { return last_; }

 private:
  void* next() {
    last_ = reinterpret_cast<nlmsghdr*>(reinterpret_cast<uint8_t*>(buf_.data()) + used_);
    return last_;
  }
  std::vector<uint32_t> buf_;
  size_t used_ = 0;
  nlmsghdr* last_ = nullptr;
};

TEST(LinkEvents, AMoveIsAddressesAndDefaultRoutesGoneAndAdded) {
  Batch b;
  b.address(RTM_DELADDR, AF_INET, RT_SCOPE_UNIVERSE);
  b.route(RTM_DELROUTE, 0);
  b.address(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE);
  b.route(RTM_NEWROUTE, 0);
  b.address(RTM_NEWADDR, AF_INET6, RT_SCOPE_SITE);
  std::vector<LinkEvent> out;
  ASSERT_TRUE(classify(b.data(), b.size(), out));
  EXPECT_EQ(out, (std::vector<LinkEvent>{LinkEvent::kAddressGone, LinkEvent::kRouteGone,
                                         LinkEvent::kAddressAdded, LinkEvent::kRouteAdded,
                                         LinkEvent::kAddressAdded}));
}

TEST(LinkEvents, LinkLocalHostAddressesAndOtherRoutesAreNotAboutThePath) {
  Batch b;
  b.address(RTM_NEWADDR, AF_INET6, RT_SCOPE_LINK);           // fe80::/64 on a new link
  b.address(RTM_NEWADDR, AF_INET, RT_SCOPE_HOST);            // 127.0.0.1
  b.route(RTM_NEWROUTE, 24);                                 // the LAN's prefix route
  b.route(RTM_NEWROUTE, 0, RT_TABLE_LOCAL);                  // not the main table
  b.route(RTM_NEWROUTE, 0, RT_TABLE_MAIN, RTN_UNREACHABLE);  // no path at all
  std::vector<LinkEvent> out;
  ASSERT_TRUE(classify(b.data(), b.size(), out));
  EXPECT_TRUE(out.empty());
}

TEST(LinkEvents, MalformedBuffersAreRefusedWithoutReadingPastThem) {
  Batch b;
  b.address(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE);
  b.route(RTM_NEWROUTE, 0);
  std::vector<LinkEvent> out;
  // Cut inside the second message: the first is read, the rest refused.
  ASSERT_FALSE(classify(b.data(), b.size() - 5, out));
  EXPECT_EQ(out, (std::vector<LinkEvent>{LinkEvent::kAddressAdded}));
  // A length field that claims more than was received.
  out.clear();
  b.last_header()->nlmsg_len = 4000;
  ASSERT_FALSE(classify(b.data(), b.size(), out));
  EXPECT_EQ(out.size(), 1u);
  // A length of 2^31 or more (libmnl's own check takes it for a negative int and passes it).
  out.clear();
  b.last_header()->nlmsg_len = 0xa8430028;
  ASSERT_FALSE(classify(b.data(), b.size(), out));
  EXPECT_EQ(out.size(), 1u);
  // Shorter than a header; a payload shorter than its ifaddrmsg is not an event.
  out.clear();
  EXPECT_FALSE(classify(b.data(), 10, out));
  EXPECT_TRUE(out.empty());
  Batch tiny;
  nlmsghdr* nlh = mnl_nlmsg_put_header(const_cast<uint8_t*>(tiny.data()));
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_len = sizeof(nlmsghdr) + 4;  // half an ifaddrmsg
  EXPECT_TRUE(classify(tiny.data(), nlh->nlmsg_len, out));
  EXPECT_TRUE(out.empty());
  // An error message from the kernel is not a batch of events.
  nlh->nlmsg_type = NLMSG_ERROR;
  EXPECT_FALSE(classify(tiny.data(), nlh->nlmsg_len, out));
}

// --- The LinkMonitor on a real rtnetlink socket ------------------------------------------------

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Runs `body` on a thread of its own that moved to a new network namespace (unshare), with
/// its loopback up: the addresses and routes it changes are nobody else's, and they vanish
/// with the thread. Threads and processes it starts inherit the namespace. False, with the
/// reason, when this process may not create one (not root).
bool in_private_netns(const std::function<void()>& body, std::string& why) {
  bool ok = false;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    if (std::system("ip link set lo up") != 0) {
      why = "ip link set lo up failed (is iproute2 installed?)";
      return;
    }
    ok = true;
    body();
  });
  t.join();
  return ok;
}

/// Runs `ip` with `args`; true when it succeeded.
bool ip(const std::string& args) {
  return std::system(("ip " + args).c_str()) == 0;
}

/// A LinkMonitor on its own io thread, recording each report with its time.
class Watch {
 public:
  struct Report {
    LinkEvent last;
    uint32_t events;
    Clock::time_point at;
  };
  explicit Watch(std::chrono::milliseconds quiet)
      : monitor_(
            io_,
            [this](LinkEvent last, uint32_t events) {
              std::lock_guard lock(m_);
              reports_.push_back({last, events, Clock::now()});
              cv_.notify_all();
            },
            quiet) {}
  /// Opens the socket (in the calling thread's namespace) and starts the io thread.
  bool start(std::string& error) {
    if (!monitor_.start(error)) return false;
    runner_ = std::thread([this] { io_.run(); });
    return true;
  }
  ~Watch() {
    asio::post(io_, [this] {
      monitor_.stop();
      guard_.reset();
    });
    if (runner_.joinable()) runner_.join();
  }
  /// Waits until at least `n` reports came, or `limit` passed; the reports so far.
  std::vector<Report> wait_for(size_t n, Clock::duration limit) {
    std::unique_lock lock(m_);
    cv_.wait_for(lock, limit, [&] { return reports_.size() >= n; });
    return reports_;
  }
  /// Waits until the reports add up to `total` changes, or `limit` passed; the reports so far.
  std::vector<Report> wait_for_events(uint64_t total, Clock::duration limit) {
    std::unique_lock lock(m_);
    cv_.wait_for(lock, limit, [&] { return sum(reports_) >= total; });
    return reports_;
  }
  static uint64_t sum(const std::vector<Report>& r) {
    uint64_t n = 0;
    for (const auto& x : r) n += x.events;
    return n;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Report> reports_;
  LinkMonitor monitor_;
  std::thread runner_;
};

/// Runs `body` with a started Watch (quiet period `quiet`) in a network namespace of its own
/// (in_private_netns); false, with the reason, when no namespace could be created.
bool with_watch(std::chrono::milliseconds quiet, const std::function<void(Watch&)>& body,
                std::string& why) {
  return in_private_netns(
      [&] {
        Watch w(quiet);
        std::string error;
        ASSERT_TRUE(w.start(error)) << error;
        body(w);
      },
      why);
}

TEST(LinkMonitorNetns, ABurstOfChangesIsReportedOnceWhenTheQuietPeriodPasses) {
  constexpr auto kQuiet = 1000ms;
  std::string why;
  bool ran = with_watch(
      kQuiet,
      [&](Watch& w) {
        auto t0 = Clock::now();
        // Five addresses of global scope in one `ip` process: one burst.
        ASSERT_TRUE(
            ip("-batch - <<'EOF'\n"
               "addr add 10.9.0.1/32 dev lo\naddr add 10.9.0.2/32 dev lo\n"
               "addr add 10.9.0.3/32 dev lo\naddr add 10.9.0.4/32 dev lo\n"
               "addr add 10.9.0.5/32 dev lo\nEOF"));
        auto r = w.wait_for(1, 30s);
        ASSERT_EQ(r.size(), 1u) << "no report";
        EXPECT_EQ(r[0].events, 5u) << "one report for the whole burst";
        EXPECT_EQ(r[0].last, LinkEvent::kAddressAdded);
        EXPECT_GE(r[0].at - t0, kQuiet) << "reported before the quiet period passed";
        // Nothing more changed: nothing more is reported.
        EXPECT_EQ(w.wait_for(2, 3 * kQuiet).size(), 1u);
        // Host-scope addresses and a route that is not a default are not about the path.
        ASSERT_TRUE(ip("addr add 10.9.1.1/32 dev lo scope host"));
        ASSERT_TRUE(ip("route add 10.9.2.0/24 dev lo"));
        EXPECT_EQ(w.wait_for(2, 3 * kQuiet).size(), 1u);
      },
      why);
  if (!ran) GTEST_SKIP() << why;
}

TEST(LinkMonitorNetns, ANewDefaultRouteIsReportedAtOnceAndAGoneOneAfterTheQuietPeriod) {
  // A quiet period far longer than the test waits: a report within it came at once.
  constexpr auto kQuiet = 120s;
  std::string why;
  bool ran = with_watch(
      kQuiet,
      [&](Watch& w) {
        ASSERT_TRUE(ip("route add default dev lo"));
        auto r = w.wait_for(1, 60s);
        ASSERT_EQ(r.size(), 1u) << "the new default route waited for the quiet period";
        EXPECT_EQ(r[0].last, LinkEvent::kRouteAdded);
        EXPECT_EQ(r[0].events, 1u);
        // The route going away is debounced like any other change.
        ASSERT_TRUE(ip("route del default dev lo"));
        EXPECT_EQ(w.wait_for(2, 2s).size(), 1u) << "a gone route was reported at once";
      },
      why);
  if (!ran) GTEST_SKIP() << why;
}

TEST(LinkMonitorNetns, AFlappingLinkIsReportedWhileItFlapsAndNoChangeIsLost) {
  // An address comes and goes without a pause as long as the quiet period for 6 s: without the
  // cap of kMaxQuietPeriods quiet periods nothing would be reported until the flapping ends.
  constexpr auto kQuiet = 300ms;
  std::string why;
  bool ran = with_watch(
      kQuiet,
      [&](Watch& w) {
        uint64_t changes = 0;
        auto until = Clock::now() + 6s;
        while (Clock::now() < until) {
          ASSERT_TRUE(
              ip(changes % 2 ? "addr del 10.9.0.1/32 dev lo" : "addr add 10.9.0.1/32 dev lo"));
          ++changes;
          std::this_thread::sleep_for(20ms);
        }
        auto flap_end = Clock::now();
        auto r = w.wait_for_events(changes, 30s);
        ASSERT_EQ(Watch::sum(r), changes) << "every change is in a report, once";
        size_t during = 0;
        for (const auto& x : r) during += x.at < flap_end;
        EXPECT_GE(during, 1u) << "nothing reported while the link flapped";
        EXPECT_LE(r.size() * 2, changes)
            << r.size() << " reports for " << changes << " changes: flapping is not coalesced";
      },
      why);
  if (!ran) GTEST_SKIP() << why;
}

}  // namespace
}  // namespace ntm::handover
