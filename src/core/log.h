// Leveled logging to stderr. The level comes from WHALE_LOG (debug|info|warn|error|quiet) or
// set_log_level; messages below it cost one comparison. Only the levels in use have helpers.
#pragma once

#include <string_view>

#include "core/error.h"

namespace whale::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, std::string_view message);

template <class... Args>
void log_info(const Args&... args) {
  if (log_level() <= LogLevel::kInfo) log_message(LogLevel::kInfo, cat(args...));
}

template <class... Args>
void log_warn(const Args&... args) {
  if (log_level() <= LogLevel::kWarn) log_message(LogLevel::kWarn, cat(args...));
}

}  // namespace whale::core
