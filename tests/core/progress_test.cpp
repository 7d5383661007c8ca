// Progress output off a terminal: periodic plain lines with percentages, a final "(done)" line;
// on a terminal: carriage-return redraws. Formatting helpers by hand.
#include "core/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <chrono>
#include <string>
#include <thread>

namespace whale::core {
namespace {

std::string capture(bool tty, const std::function<void(ProgressOptions&)>& run) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  ProgressOptions o;
  o.out = f;
  o.tty = tty;
  o.redraw_seconds = 0;
  run(o);
  std::fclose(f);
  std::string s(buf, size);
  std::free(buf);
  return s;
}

TEST(Progress, PlainLinesEveryTenPercent) {
  const std::string out = capture(false, [](ProgressOptions& o) {
    o.unit = "steps";
    o.line_seconds = 1e9;
    Progress p("train", 100, o);
    for (int i = 0; i < 100; ++i) p.advance(1);
    p.finish();
  });
  EXPECT_NE(out.find("train: 10% 10/100 steps"), std::string::npos) << out;
  EXPECT_NE(out.find("train: 50%"), std::string::npos);
  EXPECT_NE(out.find("100/100 steps"), std::string::npos);
  EXPECT_NE(out.find("(done)"), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  int lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_GE(lines, 10);
  EXPECT_LE(lines, 12);
}

TEST(Progress, TerminalRedrawsInPlace) {
  const std::string out = capture(true, [](ProgressOptions& o) {
    o.bytes = true;
    Progress p("writing", 2'000'000, o);
    p.set(1'000'000);
    p.set(2'000'000);
    p.finish();
  });
  EXPECT_NE(out.find('\r'), std::string::npos);
  EXPECT_NE(out.find(" 50%"), std::string::npos) << out;
  EXPECT_NE(out.find("2.00 MB/2.00 MB"), std::string::npos) << out;
}

// A resumed job counts its rate from the items done in this process: 200 steps finished before, then
// one step in >= 50 ms is at most 20 steps/s (counting from 0 it would read thousands).
TEST(Progress, ResumedRateCountsOnlyThisProcess) {
  const std::string out = capture(false, [](ProgressOptions& o) {
    o.unit = "steps";
    o.line_seconds = 0;
    Progress p("pretrain", 1000, o);
    p.start_at(200);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    p.set(201);
  });
  const size_t at = out.find("201/1000 steps, ");
  ASSERT_NE(at, std::string::npos) << out;
  const double rate = std::stod(out.substr(at + 16));
  EXPECT_GT(rate, 0.0) << out;
  EXPECT_LE(rate, 20.0) << out;
}

// Under one item a second the rate reads as seconds per item.
TEST(Progress, SlowWorkShowsSecondsPerItem) {
  const std::string out = capture(false, [](ProgressOptions& o) {
    o.unit = "steps";
    o.line_seconds = 0;
    Progress p("sft", 10, o);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    p.set(1);
  });
  EXPECT_NE(out.find(" s/step"), std::string::npos) << out;
}

TEST(Progress, Formatting) {
  EXPECT_EQ(Progress::format_bytes(512), "512 B");
  EXPECT_EQ(Progress::format_bytes(1.5e9), "1.50 GB");
  EXPECT_EQ(Progress::format_bytes(12.3e6), "12.3 MB");
  EXPECT_EQ(Progress::format_duration(7), "7s");
  EXPECT_EQ(Progress::format_duration(245), "4:05");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
}

}  // namespace
}  // namespace whale::core
