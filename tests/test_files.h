// Files for tests: whole-file read and write, a temporary path unique to the process, and a fixture
// with a directory of its own per test, so every test binary spells them the same way.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace whale::testing {

// The file's bytes, or "" when it cannot be opened.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Replaces the file's contents with `bytes`.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// <temp>/whale_<name>_<pid>: unique to this process (test binaries run in parallel), removed if it
// existed and not created, so the code under test may create it.
inline std::filesystem::path fresh_temp_path(const std::string& name) {
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("whale_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p;
}

// dir_: a path of the test's own (named after its suite and test), absent when the test starts and
// removed after it.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterized names hold '/'
    dir_ = fresh_temp_path(name);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

}  // namespace whale::testing
