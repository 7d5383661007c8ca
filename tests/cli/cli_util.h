// Helpers for the tests that run the `whale` binary: run a command and capture its output and exit
// status, make a fresh temporary directory (reading files: ../test_files.h).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "../test_files.h"

namespace whale::cli_testing {

struct CmdResult {
  int status;  // exit code, or 128 + signal
  std::string out;  // stdout and stderr together
};

inline CmdResult run(const std::string& cmd) {
  std::FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

inline CmdResult whale(const std::string& args) { return run(std::string(WHALE_BINARY) + " " + args); }

// A fresh path under the temp directory, unique to this process (see fresh_temp_path).
inline std::string temp_dir(const std::string& name) { return testing::fresh_temp_path("cli_" + name).string(); }

}  // namespace whale::cli_testing
