// Chat templates of the supported families, rendered directly in C++ (no Jinja engine): the output
// equals @huggingface/jinja's rendering of each family's real chat_template (tests compare).
// Families are recognized from tokenizer_config.json's chat_template text.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace whale::tokenizer {

enum class ChatFamily {
  kDeepSeekV3,  // DeepSeek-V3: keeps assistant content as given, generation prompt <｜Assistant｜>
  kDeepSeekR1,  // DeepSeek-R1 and its distills: drops reasoning of earlier turns, forces "<think>\n"
  kQwen3,       // Qwen3: <|im_start|> turns, reasoning kept after the last user turn, enable_thinking
  kLlama3,      // Llama-3: header turns, generation prompt always added
  kQwen25,      // Qwen2.5: <|im_start|> turns, a default system prompt, <tool_call> JSON, no reasoning
  kLlama31,     // Llama-3.1/3.2/3.3: dated system turn, tools in the first user turn, JSON calls, ipython results
};

// One function call of an assistant turn (OpenAI's tool_calls[i]); arguments is JSON text.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;  // with tool_calls, empty content is the templates' `content is none`
  std::optional<std::string> reasoning_content;  // Qwen3 only; the others ignore it
  std::vector<ToolCall> tool_calls;  // assistant turns that call functions
  std::string tool_call_id;          // tool turns (no template shown renders it)
};

struct ChatOptions {
  bool add_generation_prompt = true;
  // false renders "thinking off": Qwen3's enable_thinking=false; for R1, an empty think block
  // "<think>\n\n</think>\n\n" after the generation prompt (a whale convention, not in R1's template).
  bool enable_thinking = true;
  // The request's `tools` as a JSON array text ("" for none), rendered where the family's template
  // renders tool definitions (Qwen3, Qwen2.5, Llama-3.1); DeepSeek's V3/R1 templates do not.
  std::string tools_json;
};

class ChatTemplate {
 public:
  ChatTemplate(ChatFamily family, std::string bos_token, std::string eos_token)
      : family_(family), bos_(std::move(bos_token)), eos_(std::move(eos_token)) {}

  // The family whose template `source` is; throws kUnsupported naming the known families.
  static ChatTemplate from_jinja(std::string_view source, std::string bos_token, std::string eos_token,
                                 const std::string& context);

  ChatFamily family() const { return family_; }
  const std::string& source() const { return source_; }  // the Jinja text ("" when built from a family)
  std::string render(std::span<const ChatMessage> messages, const ChatOptions& options = {}) const;

 private:
  std::string render_deepseek(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_qwen3(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_llama3(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_qwen25(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_llama31(std::span<const ChatMessage> messages, const ChatOptions& options) const;

  ChatFamily family_;
  std::string bos_, eos_;
  std::string source_;  // the Jinja text it was recognized from (selects DeepSeek variants)
};

const char* chat_family_name(ChatFamily family);

// Messages from JSON: an array of {"role","content"[,"reasoning_content"]} or an object with a
// "messages" array; `context` names the source in errors.
std::vector<ChatMessage> parse_chat_messages(std::string_view json, const std::string& context);

}  // namespace whale::tokenizer
