#include "common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace ntm::server {

bool setup_logging(const std::string& daemon, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  auto logger = spdlog::stderr_logger_mt(daemon);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n %l %v");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return true;
}

bool LogLimiter::allow() {
  long long now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  if (now != window_) {
    window_ = now;
    count_ = 0;
  }
  if (count_ < per_second_) {
    ++count_;
    return true;
  }
  ++suppressed_;
  return false;
}

uint64_t LogLimiter::take_suppressed() {
  uint64_t s = suppressed_;
  suppressed_ = 0;
  return s;
}

}  // namespace ntm::server
