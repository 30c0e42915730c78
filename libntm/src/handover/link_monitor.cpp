#include "handover/link_monitor.h"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <algorithm>

#include <libmnl/libmnl.h>

#include <cerrno>
#include <cstring>

namespace ntm::handover {

const char* to_string(LinkEvent e) {
  switch (e) {
    case LinkEvent::kNone:
      return "none";
    case LinkEvent::kAddressAdded:
      return "address added";
    case LinkEvent::kAddressGone:
      return "address removed";
    case LinkEvent::kRouteAdded:
      return "default route added";
    case LinkEvent::kRouteGone:
      return "default route removed";
  }
  return "?";
}

namespace {

LinkEvent classify_one(const nlmsghdr* nlh) {
  switch (nlh->nlmsg_type) {
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifaddrmsg)) return LinkEvent::kNone;
      auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
      // Link-local and host (loopback) addresses never carry the node's traffic.
      if (ifa->ifa_scope == RT_SCOPE_LINK || ifa->ifa_scope == RT_SCOPE_HOST ||
          ifa->ifa_scope == RT_SCOPE_NOWHERE)
        return LinkEvent::kNone;
      return nlh->nlmsg_type == RTM_NEWADDR ? LinkEvent::kAddressAdded : LinkEvent::kAddressGone;
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      if (mnl_nlmsg_get_payload_len(nlh) < sizeof(rtmsg)) return LinkEvent::kNone;
      auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
      // A default route of the main table: what the path to the DC follows. (rtm_table is
      // 8 bits; a table number above 255 sits in RTA_TABLE, and is not the main table.)
      if (rt->rtm_dst_len != 0 || rt->rtm_table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST)
        return LinkEvent::kNone;
      return nlh->nlmsg_type == RTM_NEWROUTE ? LinkEvent::kRouteAdded : LinkEvent::kRouteGone;
    }
    default:
      return LinkEvent::kNone;
  }
}

}  // namespace

bool classify(const uint8_t* buf, size_t len, std::vector<LinkEvent>& out) {
  // The walk is ours, not mnl_nlmsg_ok()/mnl_nlmsg_next(): libmnl 1.0.4 compares
  // (int)nlmsg_len with the length left, so a length of 2^31 or more passes as negative and
  // the next step jumps outside the buffer (found by fuzz/netlink_fuzz.cpp).
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(buf + off);
    size_t msg_len = nlh->nlmsg_len;
    if (msg_len < sizeof(nlmsghdr) || msg_len > len - off) return false;
    if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_OVERRUN) return false;
    if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
      LinkEvent e = classify_one(nlh);
      if (e != LinkEvent::kNone) out.push_back(e);
    }
    size_t step = NLMSG_ALIGN(msg_len);  // msg_len <= len: no overflow
    if (step > len - off) return false;  // the last message's padding is missing
    off += step;
  }
  return off == len;  // trailing bytes that are not a whole message: malformed
}

LinkMonitor::LinkMonitor(asio::io_context& io, Handler on_change, std::chrono::milliseconds quiet)
    : io_(io), on_change_(std::move(on_change)), quiet_(quiet), fd_(io), quiet_timer_(io) {}

LinkMonitor::~LinkMonitor() {
  stop();
}

bool LinkMonitor::start(std::string& error) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!nl_) {
    error = std::string("rtnetlink socket: ") + std::strerror(errno);
    return false;
  }
  unsigned groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (mnl_socket_bind(nl_, groups, MNL_SOCKET_AUTOPID) < 0) {
    error = std::string("rtnetlink bind: ") + std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  std::error_code ec;
  fd_.assign(mnl_socket_get_fd(nl_), ec);
  if (ec) {
    error = "rtnetlink socket: " + ec.message();
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  wait();
  return true;
}

void LinkMonitor::stop() {
  quiet_timer_.cancel();
  if (!nl_) return;
  std::error_code ec;
  fd_.cancel(ec);
  fd_.release();  // mnl_socket_close closes the descriptor
  mnl_socket_close(nl_);
  nl_ = nullptr;
}

void LinkMonitor::wait() {
  fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
    if (ec || !nl_) return;
    read();
    wait();
  });
}

void LinkMonitor::read() {
  alignas(nlmsghdr) uint8_t buf[16384];
  for (int i = 0; i < 64; ++i) {  // bounded: the rest waits for the next readiness
    ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
    if (n < 0) {
      if (errno == ENOBUFS) {  // the kernel dropped events: something changed, maybe much
        ++overruns_;
        note(LinkEvent::kAddressGone);
        continue;
      }
      break;  // EAGAIN, or an error the next readiness will show again
    }
    ++messages_;
    std::vector<LinkEvent> events;
    if (!classify(buf, size_t(n), events)) ++malformed_;
    for (LinkEvent e : events) note(e);
  }
  // A new default route is reported with the messages read with it, without waiting for the
  // quiet period (at most once per quiet period, so a flapping route falls back to it).
  if (urgent_ && pending_ > 0) {
    urgent_ = false;
    last_urgent_ = std::chrono::steady_clock::now();
    uint32_t n = pending_;
    pending_ = 0;  // the quiet timer finds nothing to report unless more changes come
    if (on_change_) on_change_(last_, n);
  }
  urgent_ = false;
}

void LinkMonitor::note(LinkEvent e) {
  ++events_;
  last_ = e;
  auto now = std::chrono::steady_clock::now();
  if (pending_++ == 0) first_ = now;
  if (e == LinkEvent::kRouteAdded && now - last_urgent_ >= quiet_) urgent_ = true;
  // Each change restarts the quiet period (cancelling the running wait), but a link that
  // never stops flapping is reported at least every kMaxQuietPeriods quiet periods.
  quiet_timer_.expires_at(std::min(now + quiet_, first_ + quiet_ * kMaxQuietPeriods));
  quiet_timer_.async_wait([this](std::error_code ec) {
    if (ec || pending_ == 0) return;
    uint32_t n = pending_;
    pending_ = 0;
    if (on_change_) on_change_(last_, n);
  });
}

}  // namespace ntm::handover
