// Function calling: the request's tools / tool_choice / parallel_tool_calls and assistant
// tool_calls in the history, the grammar that forces a call, and tool calls parsed out of the
// model's text (whole, or as streamed delta.tool_calls).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "constrain/matcher.h"
#include "server/structured_output.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace whale::server {

// What a chat request asked for in tools, once validated.
struct ToolSetup {
  std::string tools_json;  // the `tools` array as sent (key order kept), "" when none: for the template
  bool parse_output = false;  // tools given and tool_choice is not "none": calls are parsed from the answer
  tokenizer::ChatFamily family = tokenizer::ChatFamily::kDeepSeekR1;  // whose call markup
  std::shared_ptr<constrain::Matcher> forced;  // tool_choice required or named: the call grammar
  // tool_choice auto with a strict tool: the call grammar from the trigger on (Request's
  // constraint_trigger / trigger_at_start)
  std::shared_ptr<constrain::Matcher> strict;
  std::string strict_trigger;
  bool strict_at_start = false;
};

// Reads tools, tool_choice and parallel_tool_calls from `j` (`body` is its text, re-read for key
// order). Throws ApiError 400 naming the field: tool_choice without tools, an unknown tool name,
// malformed tools, a family with no tool format, an unsupported parameters schema keyword.
ToolSetup parse_tools(const nlohmann::json& j, std::string_view body, const tokenizer::Tokenizer& tok,
                      ConstraintVocabulary& vocab);

// The system text whale adds in front of the messages when the family's template does not render
// tool definitions (DeepSeek-V3/R1): the tools, one `tojson` line each, and the call syntax the
// model was trained on; "" when the template renders them itself (Qwen3) or no tools are parsed.
std::string tools_system_prompt(const ToolSetup& tools);

// messages[i].tool_calls of an assistant message (`at` is "messages[i]"); empty when absent.
std::vector<tokenizer::ToolCall> parse_message_tool_calls(const nlohmann::json& m, const std::string& at);

// The GBNF of one or more calls (exactly one unless `parallel`) to the tools named in `names`
// (`tools` is the validated tools array), in the family's markup. Exposed for tests.
std::string tool_call_gbnf(tokenizer::ChatFamily family, const nlohmann::ordered_json& tools,
                           const std::vector<std::string>& names, bool parallel);

// tool_choice "auto" with `strict: true` tools: the answer is free until the model writes the
// family's call trigger (DeepSeek's <｜tool▁calls▁begin｜> or Qwen's <tool_call> anywhere;
// Llama-3.1's {"name": " as the answer's start), then `gbnf` constrains the rest: the call markup
// of any listed tool, strict tools' arguments to their schema, other tools' to any JSON object.
struct TriggeredGrammar {
  std::string trigger;
  bool at_start = false;
  std::string gbnf;
};
TriggeredGrammar strict_tools_gbnf(tokenizer::ChatFamily family, const nlohmann::ordered_json& tools, bool parallel);

struct ParsedCall {
  tokenizer::ToolCall call;
  bool complete = false;  // its closing markup was seen
};
struct ParsedOutput {
  std::string content;  // the text before the first call's markup
  std::vector<ParsedCall> calls;
  bool markup = false;  // a call's opening markup was seen
};
// Tool calls in a model's answer text. Calls get fresh ids "call_...".
ParsedOutput parse_tool_calls(tokenizer::ChatFamily family, std::string_view text);

// The streamed form (Llama-3.1: an answer that starts with "{" or <|python_tag|> is held until it
// ends or its object closes, since only then is it known to be a call): answer text in, chat deltas out ({"content": ...} or {"tool_calls": [...]}:
// a call's first delta has index, id, type and function.name, the next its arguments). Call
// markup never reaches `content`; text that may begin markup is held back until it is decided.
class ToolCallStream {
 public:
  explicit ToolCallStream(tokenizer::ChatFamily family) : family_(family) {}
  std::vector<nlohmann::json> feed(std::string_view text);
  std::vector<nlohmann::json> finish();  // the end of the answer: held text and unfinished calls
  bool saw_calls() const { return sent_ > 0; }

 private:
  std::vector<nlohmann::json> emit(bool final);
  tokenizer::ChatFamily family_;
  std::string held_;        // content text not yet sent (a possible markup prefix)
  std::string calls_;       // the text from the first markup on
  bool in_calls_ = false;
  bool plain_ = false;      // Llama-3.1: the answer did not start as a call, so it is all content
  size_t sent_ = 0;         // calls already streamed
};

// The message fields for a whole reply: tool_calls in OpenAI's shape.
nlohmann::json tool_calls_json(const std::vector<ParsedCall>& calls);

}  // namespace whale::server
