// Log level state and the single place that writes log lines.
#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace whale::core {
namespace {

LogLevel level_from_env() {
  const char* v = std::getenv("WHALE_LOG");
  if (!v) return LogLevel::kInfo;
  const std::string s(v);
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  if (s == "quiet") return LogLevel::kQuiet;
  return LogLevel::kInfo;
}

std::atomic<LogLevel>& level_ref() {
  static std::atomic<LogLevel> level{level_from_env()};
  return level;
}

}  // namespace

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(std::memory_order_relaxed); }

void log_message(LogLevel level, std::string_view message) {
  static std::mutex mu;
  static const char* kTags[] = {"debug", "info", "warning", "error", ""};
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "whale %s: %.*s\n", kTags[static_cast<int>(level)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace whale::core
