// Helpers for the tests that run the `whale` binary: run a command and capture its output and exit
// status, read a file, make a fresh temporary directory.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

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

// The file's bytes, or "" when it cannot be opened.
inline std::string read_text(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

// A path under the temp directory, unique to this process, removed if it existed.
inline std::string temp_dir(const std::string& name) {
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("whale_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

}  // namespace whale::cli_testing
