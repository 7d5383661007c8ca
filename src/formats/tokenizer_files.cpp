// Placeholder tokenizer files: a byte-level BPE with no merges is a complete, valid tokenizer
// (every string encodes, one token per byte), so random checkpoints are loadable end to end.
#include "formats/tokenizer_files.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace whale::formats {
namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// DeepSeek-R1's own chat_template (tool calls and tool outputs included), so a placeholder
// checkpoint renders conversations exactly as R1 does.
constexpr const char* kChatTemplate = R"JINJA({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + '

' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'
' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'
<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %})JINJA";

}  // namespace

std::u32string byte_level_alphabet() {
  std::u32string map(256, 0);
  std::set<int> direct;
  for (int b = '!'; b <= '~'; ++b) direct.insert(b);
  for (int b = 0xA1; b <= 0xAC; ++b) direct.insert(b);
  for (int b = 0xAE; b <= 0xFF; ++b) direct.insert(b);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    map[static_cast<size_t>(b)] = direct.count(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
  }
  return map;
}

std::vector<SpecialToken> deepseek_special_tokens(int64_t bos_id, int64_t eos_id) {
  // Some configs give BOS and EOS one id (R1-Distill-Qwen's config.json says 151643 for both while
  // its tokenizer's BOS is another token): then EOS keeps the id and BOS takes the next free one.
  std::vector<SpecialToken> out = {{"<｜end▁of▁sentence｜>", eos_id}};
  std::set<int64_t> taken = {eos_id};
  if (bos_id != eos_id) {
    out.insert(out.begin(), {"<｜begin▁of▁sentence｜>", bos_id});
    taken.insert(bos_id);
  }
  std::vector<const char*> rest = {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "<｜▁pad▁｜>"};
  if (bos_id == eos_id) rest.insert(rest.begin(), "<｜begin▁of▁sentence｜>");
  int64_t id = 256;
  for (const char* t : rest) {
    while (taken.count(id)) ++id;
    taken.insert(id);
    out.push_back({t, id++});
  }
  return out;
}

std::string byte_level_tokenizer_json(const std::vector<SpecialToken>& specials) {
  using nlohmann::ordered_json;
  std::set<int64_t> taken;
  for (const auto& s : specials) {
    if (!taken.insert(s.id).second) fail(ErrorKind::kInvalidArgument, "special token id ", s.id, " used twice");
  }
  const std::u32string alphabet = byte_level_alphabet();
  ordered_json vocab = ordered_json::object();
  int64_t id = 0;
  for (int b = 0; b < 256; ++b) {
    while (taken.count(id)) ++id;
    vocab[utf8(alphabet[static_cast<size_t>(b)])] = id++;
  }
  ordered_json added = ordered_json::array();
  for (const auto& s : specials) {
    // As in DeepSeek-V3's tokenizer.json only BOS, EOS and padding are special; the chat and
    // reasoning tags are plain added tokens, so decoding with special tokens skipped keeps them.
    const bool special = s.content == "<｜begin▁of▁sentence｜>" || s.content == "<｜end▁of▁sentence｜>" ||
                         s.content == "<｜▁pad▁｜>";
    added.push_back({{"id", s.id}, {"content", s.content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", special}});
  }
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"},           {"dropout", nullptr},
                {"unk_token", nullptr},    {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false},  {"vocab", vocab},
                {"merges", ordered_json::array()}};
  return j.dump(1) + "\n";
}

std::string deepseek_tokenizer_config_json(const std::vector<SpecialToken>& specials, int64_t bos_id,
                                           int64_t eos_id, int64_t model_max_length) {
  std::string bos, eos;
  for (const auto& s : specials) {
    if (s.id == bos_id) bos = s.content;
    if (s.id == eos_id) eos = s.content;
  }
  nlohmann::ordered_json j;
  j["add_bos_token"] = true;
  j["add_eos_token"] = false;
  j["bos_token"] = bos;
  j["eos_token"] = eos;
  j["pad_token"] = eos;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = model_max_length;
  j["tokenizer_class"] = "LlamaTokenizerFast";
  j["chat_template"] = kChatTemplate;
  return j.dump(2) + "\n";
}

std::string generation_config_json(int64_t bos_id, const std::vector<int64_t>& eos_ids) {
  nlohmann::ordered_json j;
  j["_from_model_config"] = true;
  j["bos_token_id"] = bos_id;
  if (eos_ids.size() == 1) {
    j["eos_token_id"] = eos_ids[0];
  } else {
    j["eos_token_id"] = eos_ids;
  }
  j["do_sample"] = true;
  j["temperature"] = 0.6;
  j["top_p"] = 0.95;
  return j.dump(2) + "\n";
}

}  // namespace whale::formats
