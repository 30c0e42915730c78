// libntm's logger: stderr only (stdout belongs to the application), level from the NTM_LOG
// environment variable (trace, debug, info, warn, error, off; default warn).
#pragma once

#include <spdlog/spdlog.h>

namespace ntm {

/// The library's logger, created on first use.
spdlog::logger& log();

}  // namespace ntm
