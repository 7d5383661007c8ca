// Qwen2.5-Instruct's and Llama-3.1-Instruct's chat templates (tools included) transcribed to C++.
// Sources: tests/tokenizer/data/qwen2_5_instruct.jinja and llama3_1_instruct.jinja; tests compare.
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/chat_template_tools.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {

std::string ChatTemplate::render_qwen25(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  const size_t n = messages.size();
  const bool system_first = n > 0 && messages[0].role == "system";
  const std::string preamble = system_first ? messages[0].content : kQwen25DefaultSystem;
  std::string out;
  if (!options.tools_json.empty()) {
    out += qwen_tools_system(options.tools_json, &preamble);
  } else {
    out += "<|im_start|>system\n" + preamble + "<|im_end|>\n";
  }
  for (size_t i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) || (m.role == "assistant" && m.tool_calls.empty())) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      out += "<|im_start|>assistant";
      if (!m.content.empty()) out += "\n" + m.content;
      for (const ToolCall& c : m.tool_calls) {
        out += "\n<tool_call>\n{\"name\": \"" + c.name + "\", \"arguments\": " + tool_arguments_tojson(c.arguments) + "}\n</tool_call>";
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (i + 1 == n || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

namespace {

// "Today Date": 3.1's and 3.3's templates default to "26 Jul 2024"; 3.2's call strftime_now, which
// the reference renderers (transformers, @huggingface/jinja) provide: today, local time.
std::string llama31_date(std::string_view source) {
  if (source.find("strftime_now") == std::string_view::npos) return "26 Jul 2024";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%d %b %Y", &tm);
  return buf;
}

}  // namespace

// Rendered as the template does with its defaults: no builtin_tools (so no <|python_tag|> calls
// and no <|eom_id|>), tools_in_user_message true, and date_string unset (see llama31_date).
std::string ChatTemplate::render_llama31(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  const bool tools = !options.tools_json.empty();
  std::string system;
  if (!messages.empty() && messages[0].role == "system") {
    system = js_trim(messages[0].content, true, true);
    messages = messages.subspan(1);
  }
  std::string out = bos_ + "<|start_header_id|>system<|end_header_id|>\n\n";
  if (tools) out += "Environment: ipython\n";
  out += "Cutting Knowledge Date: December 2023\nToday Date: " + llama31_date(source_) + "\n\n";
  out += system + "<|eot_id|>";
  if (tools) {  // the tools go into the first user message
    if (messages.empty()) {
      fail(ErrorKind::kInvalidArgument, "the Llama-3.1 template puts tools in the first user message, and there is none");
    }
    out +=
        "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a "
        "function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": "
        "function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n";
    for (const nlohmann::ordered_json& t : nlohmann::ordered_json::parse(options.tools_json)) {
      out += jinja_tojson_indent(t.dump(), 4) + "\n\n";
    }
    out += std::string(js_trim(messages[0].content, true, true)) + "<|eot_id|>";
    messages = messages.subspan(1);
  }
  for (const ChatMessage& m : messages) {
    if (m.role == "tool") {
      // `content is iterable` holds for strings too, so the template writes a result JSON-quoted.
      out += "<|start_header_id|>ipython<|end_header_id|>\n\n" + nlohmann::json(m.content).dump(-1, ' ', false) + "<|eot_id|>";
    } else if (!m.tool_calls.empty()) {
      if (m.tool_calls.size() != 1) {
        fail(ErrorKind::kInvalidArgument, "the Llama-3.1 template allows one tool call per assistant message, not ",
             m.tool_calls.size());
      }
      const ToolCall& c = m.tool_calls[0];
      out += "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"" + c.name + "\", \"parameters\": " +
             tool_arguments_tojson(c.arguments) + "}<|eot_id|>";
    } else {
      out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + std::string(js_trim(m.content, true, true)) + "<|eot_id|>";
    }
  }
  if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace whale::tokenizer
