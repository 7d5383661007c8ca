// Each family's chat_template transcribed to C++. The Jinja sources are in the reference
// tokenizer_config.json files; tests render those with @huggingface/jinja and compare bytes.
#include "tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template_tools.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

constexpr const char* kKnownFamilies =
    "DeepSeek-V3, DeepSeek-R1 (and R1-Distill), Qwen3, Qwen2.5, Llama-3 (the original Llama-3 template), "
    "Llama-3.1/3.2/3.3";

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// Python's str.split(sep)[0] and [-1].
std::string_view before_first(std::string_view s, std::string_view sep) { return s.substr(0, s.find(sep)); }
std::string_view after_last(std::string_view s, std::string_view sep) {
  const size_t at = s.rfind(sep);
  return at == std::string_view::npos ? s : s.substr(at + sep.size());
}
// The templates call .lstrip('\n') etc.; @huggingface/jinja (the reference renderer) ignores the
// argument and trims all JavaScript whitespace, where Python's Jinja would strip only newlines.
std::string_view lstrip_nl(std::string_view s) { return js_trim(s, true, false); }
std::string_view rstrip_nl(std::string_view s) { return js_trim(s, false, true); }

void check_role(const ChatMessage& m) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool") {
    fail(ErrorKind::kInvalidArgument, "chat message role \"", m.role, "\" is not one of system, user, assistant, tool");
  }
}

// Variants of the DeepSeek template, read off its source.
struct DeepSeekStyle {
  bool drop_reasoning;  // earlier assistant turns lose the text up to </think> (R1)
  bool force_think;     // the generation prompt ends with "<think>\n" (R1)
  bool collect_system;  // system messages gathered up front (the real templates) vs in place
  bool join_system;     // several system messages joined with "\n\n" vs the last one kept
  bool tool_turns;      // tool messages rendered (the real templates) vs dropped (whale's placeholder)
};

DeepSeekStyle deepseek_style(ChatFamily family, std::string_view source) {
  if (source.empty()) {  // built from a family name: the real templates
    const bool r1 = family == ChatFamily::kDeepSeekR1;
    return {r1, r1, true, true, true};
  }
  return {contains(source, "split('</think>')"), contains(source, "<｜Assistant｜><think>"),
          contains(source, "ns.system_prompt"), contains(source, "is_first_sp"), contains(source, "tool▁outputs")};
}

}  // namespace

const char* chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::kDeepSeekV3: return "deepseek-v3";
    case ChatFamily::kDeepSeekR1: return "deepseek-r1";
    case ChatFamily::kQwen3: return "qwen3";
    case ChatFamily::kLlama3: return "llama3";
    case ChatFamily::kQwen25: return "qwen2.5";
    case ChatFamily::kLlama31: return "llama3.1";
  }
  return "?";
}

ChatTemplate ChatTemplate::from_jinja(std::string_view source, std::string bos_token, std::string eos_token,
                                      const std::string& context) {
  auto unknown = [&](const char* why) {
    fail(ErrorKind::kUnsupported, context, ": chat_template ", why, "; whale renders these families: ", kKnownFamilies);
  };
  ChatFamily family;
  if (contains(source, "<｜User｜>") && contains(source, "<｜Assistant｜>")) {
    if (contains(source, "is_last_user")) unknown("is the newer DeepSeek template with is_last_user (not supported)");
    family = contains(source, "</think>") || contains(source, "<think>") ? ChatFamily::kDeepSeekR1 : ChatFamily::kDeepSeekV3;
  } else if (contains(source, "<|im_start|>")) {
    if (contains(source, "enable_thinking") || contains(source, "reasoning_content")) {
      family = ChatFamily::kQwen3;
    } else if (contains(source, kQwen25DefaultSystem) && contains(source, "<tool_call>")) {
      family = ChatFamily::kQwen25;
    } else {
      unknown("is a ChatML template that is neither Qwen3's nor Qwen2.5-Instruct's");
    }
  } else if (contains(source, "<|start_header_id|>")) {
    if (contains(source, "Environment: ipython") && contains(source, "tools_in_user_message")) {
      family = ChatFamily::kLlama31;  // 3.1 and 3.3 are one template; 3.2 differs only in its date and builtin tools
    } else if (contains(source, "Cutting Knowledge") || contains(source, "tools")) {
      unknown("is a Llama-3.x template other than 3.1/3.2/3.3's");
    } else {
      family = ChatFamily::kLlama3;
    }
  } else {
    unknown("is not recognized");
  }
  ChatTemplate t(family, std::move(bos_token), std::move(eos_token));
  t.source_ = std::string(source);
  return t;
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  for (const ChatMessage& m : messages) check_role(m);
  switch (family_) {
    case ChatFamily::kDeepSeekV3:
    case ChatFamily::kDeepSeekR1: return render_deepseek(messages, options);
    case ChatFamily::kQwen3: return render_qwen3(messages, options);
    case ChatFamily::kLlama3: return render_llama3(messages, options);
    case ChatFamily::kQwen25: return render_qwen25(messages, options);
    case ChatFamily::kLlama31: return render_llama31(messages, options);
  }
  return {};
}

std::string ChatTemplate::render_deepseek(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  const DeepSeekStyle style = deepseek_style(family_, source_);
  std::string out = bos_;
  if (style.collect_system) {
    bool first = true;
    std::string system;
    for (const ChatMessage& m : messages) {
      if (m.role != "system") continue;
      system = style.join_system ? (first ? m.content : system + "\n\n" + m.content) : m.content;
      first = false;
    }
    out += system;
  }
  bool is_tool = false, output_first = true, calls_first = false;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      if (!style.collect_system) out += m.content;
    } else if (m.role == "user") {
      is_tool = false;
      out += "<｜User｜>" + m.content;
    } else if (m.role == "assistant" && !m.tool_calls.empty() && m.content.empty()) {  // content is none
      is_tool = false;
      if (style.tool_turns) render_deepseek_tool_calls(m, calls_first, out);
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      if (is_tool) {
        out += "<｜tool▁outputs▁end｜>";
        out += content;
        out += "<｜end▁of▁sentence｜>";
        is_tool = false;
      } else {
        if (style.drop_reasoning && contains(content, "</think>")) content = after_last(content, "</think>");
        out += "<｜Assistant｜>";
        out += content;
        out += "<｜end▁of▁sentence｜>";
      }
    } else if (style.tool_turns) {  // tool
      is_tool = true;
      out += output_first ? "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" : "\n<｜tool▁output▁begin｜>";
      out += m.content + "<｜tool▁output▁end｜>";
      output_first = false;
    }
  }
  if (is_tool) out += "<｜tool▁outputs▁end｜>";
  if (options.add_generation_prompt && !is_tool) {
    out += "<｜Assistant｜>";
    if (style.force_think) out += "<think>\n";
    if (family_ == ChatFamily::kDeepSeekR1 && !options.enable_thinking) {
      out += style.force_think ? "\n</think>\n\n" : "<think>\n\n</think>\n\n";
    }
  }
  return out;
}

std::string ChatTemplate::render_qwen3(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  std::string out;
  const size_t n = messages.size();
  if (!options.tools_json.empty()) {
    out += qwen3_tools_system(options.tools_json, n > 0 && messages[0].role == "system" ? &messages[0] : nullptr);
  } else if (n > 0 && messages[0].role == "system") {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }
  // The last user turn that is not a wrapped tool response: reasoning is shown only after it.
  size_t last_query = n == 0 ? 0 : n - 1;
  for (size_t k = n; k-- > 0;) {
    const std::string& c = messages[k].content;
    const bool tool_response = c.starts_with("<tool_response>") && c.ends_with("</tool_response>");
    if (messages[k].role == "user" && !tool_response) {
      last_query = k;
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      std::string_view content = m.content, reasoning;
      if (m.reasoning_content) {
        reasoning = *m.reasoning_content;
      } else if (contains(m.content, "</think>")) {
        content = lstrip_nl(after_last(m.content, "</think>"));
        reasoning = lstrip_nl(after_last(rstrip_nl(before_first(m.content, "</think>")), "<think>"));
      }
      out += "<|im_start|>assistant\n";
      if (i > last_query && (i + 1 == n || !reasoning.empty())) {
        out += "<think>\n";
        out += lstrip_nl(rstrip_nl(reasoning));
        out += "\n</think>\n\n";
        out += lstrip_nl(content);
      } else {
        out += content;
      }
      render_qwen3_tool_calls(m, content, out);
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (i + 1 == n || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

std::string ChatTemplate::render_llama3(std::span<const ChatMessage> messages, const ChatOptions&) const {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += bos_;
    out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n";
    out += js_trim(messages[i].content, true, true);  // Jinja's trim, as @huggingface/jinja runs it
    out += "<|eot_id|>";
  }
  // The template adds the assistant header whatever add_generation_prompt says.
  out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::vector<ChatMessage> parse_chat_messages(std::string_view text, const std::string& context) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, context, ": not valid JSON: ", e.what());
  }
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  if (!j.is_array()) fail(ErrorKind::kFormat, context, ": expected an array of messages or {\"messages\": [...]}");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& m = j[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      fail(ErrorKind::kFormat, context, ": messages[", i, "] needs string \"role\" and \"content\"");
    }
    ChatMessage msg{m["role"].get<std::string>(), m["content"].get<std::string>(), std::nullopt};
    if (m.contains("reasoning_content") && m["reasoning_content"].is_string()) {
      msg.reasoning_content = m["reasoning_content"].get<std::string>();
    }
    check_role(msg);
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace whale::tokenizer
