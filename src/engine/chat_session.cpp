// Rendering and tokenizing a turn. The template's own text contains the special tokens, so the
// rendered prompt is tokenized with special-token parsing on and no extra BOS (contents a client
// wrote stay text: tokenizer/chat_prompt.h).
#include "engine/chat_session.h"

#include "tokenizer/chat_prompt.h"

namespace whale::engine {

ChatSession::ChatSession(const tokenizer::Tokenizer& tokenizer, sampler::SamplingParams defaults)
    : tok_(tokenizer), sampling_(std::move(defaults)) {}

void ChatSession::set_system(const std::string& text) {
  if (!messages_.empty() && messages_.front().role == "system") {
    messages_.front().content = text;
  } else {
    messages_.insert(messages_.begin(), {"system", text, std::nullopt});
  }
}

void prepare_chat_prompt(const tokenizer::Tokenizer& tok, std::span<const tokenizer::ChatMessage> messages,
                         bool thinking, Request& r, bool special_in_content, std::string_view tools_json) {
  const tokenizer::ChatOptions chat{.add_generation_prompt = true, .enable_thinking = thinking,
                                    .tools_json = std::string(tools_json)};
  tokenizer::ChatPrompt rendered = tokenizer::encode_chat(tok, messages, chat, special_in_content);
  const std::string& prompt = rendered.text;
  r.prompt = std::move(rendered.ids);
  const std::string open = "<think>";
  const size_t last = prompt.rfind(open);
  const bool opened = last != std::string::npos && prompt.find("</think>", last) == std::string::npos &&
                      prompt.find_first_not_of(" \r\n", last + open.size()) == std::string::npos;
  r.reasoning.enabled = thinking || opened;
  r.reasoning.starts_in_reasoning = opened;
}

Request ChatSession::user_turn(const std::string& text, const ChatTurnOptions& options) {
  messages_.push_back({"user", text, std::nullopt});
  Request r;
  prepare_chat_prompt(tok_, messages_, options.thinking, r);
  r.sampling = sampling_;
  r.max_tokens = options.max_tokens;
  r.think_budget = options.think_budget;
  return r;
}

void ChatSession::assistant_turn(const std::string& answer, const std::string& reasoning) {
  messages_.push_back({"assistant", answer, reasoning.empty() ? std::nullopt : std::optional<std::string>(reasoning)});
}

void ChatSession::set_last_user(const std::string& text) {
  for (auto m = messages_.rbegin(); m != messages_.rend(); ++m) {
    if (m->role == "user") {
      m->content = text;
      return;
    }
  }
}

void ChatSession::drop_last_user() {
  if (!messages_.empty() && messages_.back().role == "user") messages_.pop_back();
}

size_t ChatSession::exchanges() const {
  size_t n = 0;
  for (const auto& m : messages_) n += m.role == "user";
  return n;
}

std::vector<tokenizer::ChatMessage> ChatSession::without_oldest(size_t n) const {
  std::vector<tokenizer::ChatMessage> kept;
  size_t users = 0;
  for (const auto& m : messages_) {
    users += m.role == "user";
    if (m.role == "system" || n == 0 || users > n) kept.push_back(m);
  }
  return kept;
}

}  // namespace whale::engine
