// ChatSession: a conversation with one model: the message history, the chat template rendering
// (earlier reasoning dropped as the template says, thinking on or off), and the Request for the
// next answer, with R1's advice or the checkpoint's generation_config as sampling defaults.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace whale::engine {

struct ChatTurnOptions {
  bool thinking = true;
  int64_t think_budget = -1;
  int64_t max_tokens = 2048;
};

// Renders `messages` with the tokenizer's chat template (generation prompt, thinking on or off),
// tokenizes the result into r.prompt and sets r.reasoning: when the template itself opened the
// reasoning (R1's "<think>\n"), the model writes only its end. Text in user, system and tool
// contents that spells a special token stays text unless `special_in_content`.
void prepare_chat_prompt(const tokenizer::Tokenizer& tok, std::span<const tokenizer::ChatMessage> messages,
                         bool thinking, Request& r, bool special_in_content = false,
                         std::string_view tools_json = {});

class ChatSession {
 public:
  ChatSession(const tokenizer::Tokenizer& tokenizer, sampler::SamplingParams defaults);

  // Adds the user's message and returns the request for the model's answer (on_event unset).
  Request user_turn(const std::string& text, const ChatTurnOptions& options);
  // Records the model's answer (its reasoning is kept separately; templates drop it from history).
  void assistant_turn(const std::string& answer, const std::string& reasoning);
  // Replaces the last user message's content (a search-grounded question is kept as asked).
  void set_last_user(const std::string& text);
  // Removes the last user message (e.g. when its answer was cancelled).
  void drop_last_user();
  void clear() { messages_.clear(); }
  // Exchanges are the turns that start at a user message (the answer and any tool messages follow
  // it); the oldest go first when the context fills, the system prompt never.
  size_t exchanges() const;
  // The messages without the oldest `n` exchanges; drop_oldest(n) keeps that.
  std::vector<tokenizer::ChatMessage> without_oldest(size_t n) const;
  void drop_oldest(size_t n) { messages_ = without_oldest(n); }
  void set_system(const std::string& text);

  const std::vector<tokenizer::ChatMessage>& messages() const { return messages_; }
  sampler::SamplingParams& sampling() { return sampling_; }

 private:
  const tokenizer::Tokenizer& tok_;
  sampler::SamplingParams sampling_;
  std::vector<tokenizer::ChatMessage> messages_;
};

}  // namespace whale::engine
