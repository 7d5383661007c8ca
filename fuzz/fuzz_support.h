// What several fuzz targets share: the tokenizers they load (whale's tiny trained vocabulary with
// DeepSeek's special tokens, and a Qwen2.5-template variant with a <tool_call> token), byte readers,
// and the check that a string is valid UTF-8 (what every streamed piece and JSON reply must be).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "formats/tiny_tokenizer.h"
#include "formats/tokenizer_files.h"
#include "tokenizer/tokenizer.h"

namespace whale::fuzz {

// A file of the source tree (WHALE_SOURCE_DIR), or an abort naming it: a target without its
// templates would silently fuzz less.
inline std::string source_file(const std::string& relative) {
  const std::string path = std::string(WHALE_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz: cannot read %s (the npm reference tokenizers: scripts/npm_setup.sh)\n", path.c_str());
    std::abort();
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tiny presets' files: 256 byte tokens, DeepSeek's specials (BOS 0, EOS 1) and the trained merges.
struct TinyFiles {
  std::string tokenizer_json, config_json;
};
inline const TinyFiles& tiny_files() {
  static const TinyFiles f = [] {
    const auto specials = formats::deepseek_special_tokens(0, 1);
    const int64_t vocab = 256 + 8 + static_cast<int64_t>(formats::tiny_tokenizer_merge_count());
    return TinyFiles{formats::tiny_tokenizer_json(specials, vocab, "deepseek-v3"),
                     formats::deepseek_tokenizer_config_json(specials, 0, 1, 4096)};
  }();
  return f;
}

inline const tokenizer::Tokenizer& tiny_deepseek() {
  static const tokenizer::Tokenizer t =
      tokenizer::Tokenizer::from_json(tiny_files().tokenizer_json, tiny_files().config_json, "tiny deepseek");
  return t;
}

// The tiny vocabulary with <｜User｜> renamed <tool_call> and Qwen2.5's real template, so requests
// with tools reach the JSON tool-call markup (as tests/server/tool_calls_test.cpp builds it).
inline const tokenizer::Tokenizer& tiny_qwen25() {
  static const tokenizer::Tokenizer t = [] {
    using nlohmann::json;
    json tj = json::parse(tiny_files().tokenizer_json);
    for (json& a : tj["added_tokens"]) {
      if (a["content"] == "<｜User｜>") {
        a["content"] = "<tool_call>";
        a["special"] = false;
      }
    }
    json& vocab = tj["model"]["vocab"];
    if (vocab.contains("<｜User｜>")) {
      vocab["<tool_call>"] = vocab["<｜User｜>"];
      vocab.erase("<｜User｜>");
    }
    json cj = json::parse(tiny_files().config_json);
    cj["chat_template"] = source_file("tests/tokenizer/data/qwen2_5_instruct.jinja");
    return tokenizer::Tokenizer::from_json(tj.dump(), cj.dump(), "tiny qwen2.5");
  }();
  return t;
}

// Strict UTF-8 (no surrogates, no overlongs): nlohmann's strict dump throws otherwise.
inline bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// Input split at the first `sep` (the second part empty when absent).
inline std::pair<std::string_view, std::string_view> split_at(std::string_view in, std::string_view sep) {
  const size_t p = in.find(sep);
  if (p == std::string_view::npos) return {in, {}};
  return {in.substr(0, p), in.substr(p + sep.size())};
}

}  // namespace whale::fuzz
