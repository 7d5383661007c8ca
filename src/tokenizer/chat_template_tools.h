// The tool parts of the chat templates: DeepSeek's tool-call tokens and Qwen3's <tools> system
// block and <tool_call> JSON, transcribed from the real templates (tests compare with Jinja).
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/chat_template.h"

namespace whale::tokenizer {

// Jinja's `tojson` as @huggingface/jinja writes it: ", " and ": " separators, keys in their given
// order, non-ASCII kept. `json_text` must be valid JSON.
std::string jinja_tojson(std::string_view json_text);

// DeepSeek-V3/R1's assistant turn whose content is none: each call as
// <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>. The real
// template keeps `is_first` across the whole conversation: only the first call ever opens with
// <｜Assistant｜><｜tool▁calls▁begin｜>, and only later ones close with <｜tool▁calls▁end｜> and EOS.
void render_deepseek_tool_calls(const ChatMessage& m, bool& is_first, std::string& out);

// Qwen2.5-Instruct's system prompt when the messages bring none (its template's default).
inline constexpr const char* kQwen25DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// Jinja's `tojson(indent=N)` as @huggingface/jinja writes it (Llama-3.1 renders tools so):
// "," between items, each on its own line indented N spaces per depth; empty {} and [] stay inline.
std::string jinja_tojson_indent(std::string_view json_text, int indent);

// A tool call's arguments as the Qwen2.5 and Llama-3.1 templates write `arguments | tojson`: the
// templates expect an object (HF and llama.cpp pass the parsed arguments), so JSON text is
// re-serialised by tojson; text that is not JSON is a string value, written quoted.
std::string tool_arguments_tojson(const std::string& arguments);

// Qwen2.5's and Qwen3's system turn with tools: "<|im_start|>system\n" + `preamble` + "\n\n" when
// it is given, then the # Tools block. Qwen2.5 always has a preamble (the system message or its
// default), Qwen3 only a system message.
std::string qwen_tools_system(std::string_view tools_json, const std::string* preamble);

// Qwen3's system turn when tools are given (the first system message's content goes inside it).
std::string qwen3_tools_system(std::string_view tools_json, const ChatMessage* system);
// Qwen3's <tool_call> blocks after an assistant turn's content (`content` as the template's variable).
void render_qwen3_tool_calls(const ChatMessage& m, std::string_view content, std::string& out);

}  // namespace whale::tokenizer
