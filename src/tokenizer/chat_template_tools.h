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

// Qwen3's system turn when tools are given (the first system message's content goes inside it).
std::string qwen3_tools_system(std::string_view tools_json, const ChatMessage* system);
// Qwen3's <tool_call> blocks after an assistant turn's content (`content` as the template's variable).
void render_qwen3_tool_calls(const ChatMessage& m, std::string_view content, std::string& out);

}  // namespace whale::tokenizer
