// Progress bar rendering: rate and ETA from wall time since start.
#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace whale::core {

Progress::Progress(std::string label, int64_t total, ProgressOptions options)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 0)), opt_(std::move(options)) {
  tty_ = opt_.tty.has_value() ? *opt_.tty : (::isatty(::fileno(opt_.out)) == 1);
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::set(int64_t done) {
  done_ = std::clamp<int64_t>(done, 0, total_ > 0 ? total_ : done);
  if (finished_) return;
  draw(false);
}

void Progress::start_at(int64_t done) {
  done_ = done_at_start_ = std::clamp<int64_t>(done, 0, total_ > 0 ? total_ : done);
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::finish() {
  if (finished_) return;
  draw(true);
  finished_ = true;
}

std::string Progress::format_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%.0f %s", bytes, units[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f %s", bytes < 10 ? 2 : (bytes < 100 ? 1 : 0), bytes, units[u]);
  }
  return buf;
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  }
  return buf;
}

std::string Progress::amount(int64_t v) const {
  if (opt_.bytes) return format_bytes(static_cast<double>(v));
  return std::to_string(v);
}

void Progress::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int percent = total_ > 0 ? static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(total_)) : 100;
  if (!final) {
    if (tty_ && since_draw < opt_.redraw_seconds) return;
    if (!tty_ && percent >= 100) return;  // the final line reports completion once
    if (!tty_) {
      const int step = std::max(1, opt_.line_percent_step);
      const bool percent_due = percent / step > last_percent_line_ / step || last_percent_line_ < 0;
      if (!percent_due && since_draw < opt_.line_seconds) return;
    }
  }
  last_draw_ = now;
  last_percent_line_ = percent;

  const double rate = elapsed > 0 ? static_cast<double>(done_ - done_at_start_) / elapsed : 0.0;
  std::string rate_str;
  if (opt_.bytes) {
    rate_str = format_bytes(rate) + "/s";
  } else if (rate > 0 && rate < 1) {  // slow work (a training step of seconds): seconds per item
    std::string one = opt_.unit;
    if (!one.empty() && one.back() == 's') one.pop_back();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s/%s", 1.0 / rate, one.c_str());
    rate_str = buf;
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, rate < 10 ? "%.1f" : "%.0f", rate);
    rate_str = cat(buf, " ", opt_.unit, "/s");
  }
  std::string tail = amount(done_) + "/" + amount(total_);
  if (!opt_.bytes && !opt_.unit.empty()) tail += " " + opt_.unit;
  tail += ", " + rate_str;
  if (final) {
    tail += ", " + format_duration(elapsed);
  } else if (rate > 0 && total_ > done_) {
    tail += ", ETA " + format_duration(static_cast<double>(total_ - done_) / rate);
  }
  if (!note_.empty()) tail += ", " + note_;

  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = total_ > 0 ? static_cast<int>(kWidth * static_cast<double>(done_) / static_cast<double>(total_)) : kWidth;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(opt_.out, "\r\033[K%s [%s] %3d%% %s%s", label_.c_str(), bar.c_str(), percent, tail.c_str(),
                 final ? "\n" : "");
  } else {
    std::fprintf(opt_.out, "%s: %d%% %s%s\n", label_.c_str(), percent, tail.c_str(), final ? " (done)" : "");
  }
  std::fflush(opt_.out);
}

}  // namespace whale::core
