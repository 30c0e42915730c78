// handover::classify: which rtnetlink messages are about the node's path (addresses of global
// or site scope, default routes of the main table), and that a malformed buffer is refused
// without reading past it. The LinkMonitor itself (socket, debounce) runs on the test network:
// tests/net/test_handover.sh.
#include "handover/link_monitor.h"

#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include <cstring>
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

}  // namespace
}  // namespace ntm::handover
