// Tool rendering per family. The strings are the real templates' (DeepSeek-V3's tokenizer_config,
// Qwen3's), byte for byte; chat_template_test renders both with @huggingface/jinja and compares.
#include "tokenizer/chat_template_tools.h"

#include <nlohmann/json.hpp>

namespace whale::tokenizer {
namespace {

using ordered = nlohmann::ordered_json;

void tojson(const ordered& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ", ";
      first = false;
      out += ordered(k).dump(-1, ' ', false);
      out += ": ";
      tojson(v, out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      tojson(j[i], out);
    }
    out += ']';
  } else {
    out += j.dump(-1, ' ', false, ordered::error_handler_t::replace);
  }
}

void tojson_indent(const ordered& j, int indent, int depth, std::string& out) {
  const std::string base = "\n" + std::string(static_cast<size_t>(indent * depth), ' ');
  const std::string child = base + std::string(static_cast<size_t>(indent), ' ');
  if (j.is_object() && !j.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ',';
      first = false;
      out += child;
      out += ordered(k).dump(-1, ' ', false);
      out += ": ";
      tojson_indent(v, indent, depth + 1, out);
    }
    out += base + '}';
  } else if (j.is_array() && !j.empty()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ',';
      out += child;
      tojson_indent(j[i], indent, depth + 1, out);
    }
    out += base + ']';
  } else {
    tojson(j, out);
  }
}

}  // namespace

std::string jinja_tojson_indent(std::string_view json_text, int indent) {
  std::string out;
  tojson_indent(ordered::parse(json_text), indent, 0, out);
  return out;
}

std::string tool_arguments_tojson(const std::string& arguments) {
  ordered j = ordered::parse(arguments, nullptr, false);
  if (j.is_discarded()) j = arguments;
  std::string out;
  tojson(j, out);
  return out;
}

std::string jinja_tojson(std::string_view json_text) {
  std::string out;
  tojson(ordered::parse(json_text), out);
  return out;
}

void render_deepseek_tool_calls(const ChatMessage& m, bool& is_first, std::string& out) {
  for (const ToolCall& c : m.tool_calls) {
    const std::string call = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>" + c.name + "\n```json\n" + c.arguments + "\n```<｜tool▁call▁end｜>";
    if (!is_first) {
      out += "<｜Assistant｜><｜tool▁calls▁begin｜>" + call;
      is_first = true;
    } else {
      out += "\n" + call + "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
    }
  }
}

std::string qwen3_tools_system(std::string_view tools_json, const ChatMessage* system) {
  return qwen_tools_system(tools_json, system ? &system->content : nullptr);
}

std::string qwen_tools_system(std::string_view tools_json, const std::string* preamble) {
  std::string out = "<|im_start|>system\n";
  if (preamble) out += *preamble + "\n\n";
  out +=
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function "
      "signatures within <tools></tools> XML tags:\n<tools>";
  for (const ordered& tool : ordered::parse(tools_json)) {
    out += "\n";
    tojson(tool, out);
  }
  out +=
      "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
      "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
      "<args-json-object>}\n</tool_call><|im_end|>\n";
  return out;
}

void render_qwen3_tool_calls(const ChatMessage& m, std::string_view content, std::string& out) {
  for (size_t k = 0; k < m.tool_calls.size(); ++k) {
    if (k > 0 || !content.empty()) out += "\n";
    out += "<tool_call>\n{\"name\": \"" + m.tool_calls[k].name + "\", \"arguments\": " + m.tool_calls[k].arguments + "}\n</tool_call>";
  }
}

}  // namespace whale::tokenizer
