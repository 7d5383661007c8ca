// OpenAI/DeepSeek request bodies -> engine requests: model names and aliases, messages through the
// chat template, sampling fields, the thinking switch and budget. Every problem is an ApiError
// naming the field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "sampler/sampler.h"
#include "server/grounded_chat.h"
#include "server/structured_output.h"
#include "server/tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace whale::server {

// The one model a server runs, and what requests need to know about it.
struct ServedModel {
  std::string id;  // the name /v1/models lists (besides the aliases)
  const tokenizer::Tokenizer* tokenizer = nullptr;
  sampler::SamplingParams defaults;  // generation_config.json's, else R1's advice
  int64_t max_context = 0;
  int64_t vocab_size = 0;
  int64_t created = 0;  // unix seconds (when the server started)
  // The vocabulary structured output masks over, built on the first constrained request.
  std::shared_ptr<ConstraintVocabulary> constraint_vocab = std::make_shared<ConstraintVocabulary>();
  // Parse special-token text inside user/system/tool contents (`whale serve --special-in-content`);
  // off: a client cannot forge turns by writing "<｜Assistant｜>" in a message.
  bool special_in_content = false;
};

// The most choices (`n`) one request may ask for.
inline constexpr int kMaxChoices = 8;

// The aliases DeepSeek's API uses; both name the loaded model. deepseek-chat turns thinking off
// by default, deepseek-reasoner on.
inline constexpr const char* kChatAlias = "deepseek-chat";
inline constexpr const char* kReasonerAlias = "deepseek-reasoner";

struct GenerationRequest {
  std::string model;  // as the client named it (echoed in replies)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool thinking = false;       // the reply has reasoning_content
  int n = 1;                   // choices: n sequences of one prompt, choice i sampled with seed + i
  engine::Request request;     // prompt tokens, sampling, limits, stop strings
  ToolSetup tools;             // function calling: whose markup the answer's calls use, if parsed
  Grounding grounding;         // web_search and file parts: the sources and notices the reply carries
};

// POST /v1/chat/completions (also /beta/: `prefix: true` on the last assistant message).
// `search`: the server's searcher for `web_search: true` (none: that is a 400).
GenerationRequest parse_chat_request(std::string_view body, const ServedModel& model, const SearchAccess& search = {});
// POST /v1/completions (a prompt string or token ids; no chat template, no reasoning split;
// `suffix`: fill-in-the-middle with the tokenizer's FIM tokens).
GenerationRequest parse_completion_request(std::string_view body, const ServedModel& model);
// llama-server's POST /apply-template: the chat body's messages (and thinking switch) rendered
// with the chat template, the generation prompt included, not tokenized; web_search and file
// parts applied as for a chat request (the grounding says what was searched and cut).
struct RenderedChat {
  std::string prompt;
  Grounding grounding;
};
RenderedChat render_chat_template(std::string_view body, const ServedModel& model, const SearchAccess& search = {});

}  // namespace whale::server
