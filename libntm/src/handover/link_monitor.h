// The handover module's eyes (paper 002 Fig. 5 step 1, "the MN detects the change of its
// access network"): an rtnetlink socket (libmnl) watching this host's addresses and default
// routes, on the negotiation thread's event loop. A change that can move the node's path to
// its DC and peers — an address of global or site scope added or removed, a default route
// (main table, prefix length 0) added or removed, or the kernel's notice that events were lost
// (ENOBUFS) — starts a quiet period (debounce, 50 ms by default); when it passes with no
// further change, on_change() is called once with what changed last. Flapping therefore costs
// one call per quiet period, not one per netlink message; a link that flaps without pause is
// still reported once every kMaxQuietPeriods quiet periods, so the node does not wait for the
// flapping to end before it follows its path. One change does not wait: a new default route
// (the node has a path again, or a better one) is reported at once, with the messages read in
// the same pass — at most once per quiet period, beyond which it is debounced like the rest.
//
// Without rtnetlink (not Linux, or a sandbox that forbids NETLINK_ROUTE) start() returns false
// with the reason; the node then compares the host's addresses with its registered ones every
// 2 s instead (Negotiator::poll_addresses, docs/api.md §7) — slower, and said so in its log.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct mnl_socket;

namespace ntm::handover {

/// What one rtnetlink message says, as far as the path is concerned.
enum class LinkEvent {
  kNone,          ///< not about the path (a link-local or host address, a non-default route)
  kAddressAdded,  ///< RTM_NEWADDR of global or site scope
  kAddressGone,   ///< RTM_DELADDR of global or site scope
  kRouteAdded,    ///< RTM_NEWROUTE: a default route of the main table
  kRouteGone,     ///< RTM_DELROUTE: a default route of the main table
};
const char* to_string(LinkEvent e);

/// Classifies the rtnetlink messages in `buf` (`len` bytes, as received: one or more
/// nlmsghdr, host byte order, every length checked against `len`). Appends one LinkEvent per
/// message that is about the path; returns false when the buffer is malformed (then `out` holds the
/// events before the bad message). Never reads outside `buf`.
bool classify(const uint8_t* buf, size_t len, std::vector<LinkEvent>& out);

class LinkMonitor {
 public:
  using Handler = std::function<void(LinkEvent last, uint32_t events)>;

  /// `on_change(last, events)`: after `quiet` without a further change; `events` = changes
  /// seen in the period (>= 1), `last` the latest of them.
  LinkMonitor(asio::io_context& io, Handler on_change,
              std::chrono::milliseconds quiet = std::chrono::milliseconds(50));
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  /// Opens and binds the rtnetlink socket (groups: IPv4/IPv6 addresses, IPv4/IPv6 routes).
  /// False with `error` set when rtnetlink is not available.
  bool start(std::string& error);
  /// Closes the socket and cancels a pending call; idempotent. On the io thread.
  void stop();

  /// A change is reported at most this many quiet periods after the first change of a period.
  static constexpr int kMaxQuietPeriods = 10;
  /// When the first change of the period being reported (or pending) was seen: on_change()
  /// may read it to time the handover from the change itself rather than from the report.
  std::chrono::steady_clock::time_point period_start() const { return first_; }

  /// Messages read, path events among them, malformed buffers, ENOBUFS overruns.
  uint64_t messages() const { return messages_; }
  uint64_t events() const { return events_; }
  uint64_t malformed() const { return malformed_; }
  uint64_t overruns() const { return overruns_; }

 private:
  void wait();
  void read();
  void note(LinkEvent e);

  asio::io_context& io_;
  Handler on_change_;
  std::chrono::milliseconds quiet_;
  mnl_socket* nl_ = nullptr;
  asio::posix::stream_descriptor fd_;
  asio::steady_timer quiet_timer_;
  LinkEvent last_ = LinkEvent::kNone;
  uint32_t pending_ = 0;
  std::chrono::steady_clock::time_point first_{}, last_urgent_{};
  bool urgent_ = false;  ///< a new default route was seen in this read() pass
  uint64_t messages_ = 0, events_ = 0, malformed_ = 0, overruns_ = 0;
};

}  // namespace ntm::handover
