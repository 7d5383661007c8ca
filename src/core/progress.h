// Progress: a progress bar for long work (loading, writing checkpoints, training). On a terminal it
// redraws one line in place; otherwise (logs, CI, pipes) it prints a plain line now and then.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace whale::core {

struct ProgressOptions {
  bool bytes = false;                 // show amounts as KB/MB/GB instead of counts
  std::string unit;                   // for counts: "tensors", "steps", ...
  std::FILE* out = stderr;
  std::optional<bool> tty;            // default: isatty(out)
  double redraw_seconds = 0.1;        // terminal redraw interval
  double line_seconds = 5.0;          // non-terminal: at most one line per interval...
  int line_percent_step = 10;         // ...or when another 10% is done, whichever comes first
};

class Progress {
 public:
  Progress(std::string label, int64_t total, ProgressOptions options = {});
  ~Progress();  // finishes if not finished
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n) { set(done_ + n); }
  void set(int64_t done);
  // A resumed job: `done` was finished before this process started, so rate and ETA count from here.
  void start_at(int64_t done);
  void set_note(std::string note) { note_ = std::move(note); }  // e.g. "loss 2.31"
  void finish();

  // "1.50 GB", "12.0 MB", "512 B"
  static std::string format_bytes(double bytes);
  // "1:02:03", "4:05", "7s"
  static std::string format_duration(double seconds);

 private:
  void draw(bool final);
  std::string amount(int64_t v) const;

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t done_at_start_ = 0;
  ProgressOptions opt_;
  bool tty_;
  bool finished_ = false;
  std::string note_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  int last_percent_line_ = -1;
};

}  // namespace whale::core
