#include "node/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>

namespace ntm {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("libntm",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e libntm %l %v");
    const char* env = std::getenv("NTM_LOG");
    l->set_level(env ? spdlog::level::from_str(env) : spdlog::level::warn);
    return l;
  }();
  return *logger;
}

}  // namespace ntm
