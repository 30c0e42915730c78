// Logging set-up shared by the daemons (spdlog to stderr, one line per event).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ntm::server {

/// Sets the global spdlog logger: "<time> <daemon> <level> message" to stderr. `level` is one
/// of trace, debug, info, warn, error; returns false for anything else.
bool setup_logging(const std::string& daemon, const std::string& level);

/// Attacker-controlled text (node names, FQDNs, error texts from the network) made safe for a
/// log line: bytes outside printable ASCII and the backslash become \xNN, and the result is
/// cut to at most `max` input bytes, with "..." appended when it was longer. A log reader
/// never sees a control character, a fake newline or a 64 KB string from the network.
std::string printable(std::string_view text, size_t max = 64);

/// Allows at most `per_second` log lines per second for one kind of event (drops under a
/// flood must not turn into a disk-filling log). Not thread-safe: one per event loop.
class LogLimiter {
 public:
  explicit LogLimiter(unsigned per_second) : per_second_(per_second) {}
  /// True when this event may be logged; counts the ones that may not.
  bool allow();
  /// Events suppressed since the last call.
  uint64_t take_suppressed();

 private:
  unsigned per_second_;
  long long window_ = 0;
  unsigned count_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace ntm::server
