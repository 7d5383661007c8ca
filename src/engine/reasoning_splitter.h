// ReasoningSplitter: routes a model's streamed text into reasoning (inside <think>…</think>) and
// answer, whether the opening tag came from the chat template (R1) or from the model, and when a
// tag arrives split across tokens. It never emits a partial tag and never mixes the two streams in
// one piece.
#pragma once

#include <string>
#include <string_view>

namespace whale::engine {

class ReasoningSplitter {
 public:
  struct Options {
    bool enabled = true;              // false: a model that does not think; everything is answer
    bool starts_in_reasoning = false;  // the prompt already ended with the opening tag
    std::string open_tag = "<think>";
    std::string close_tag = "</think>";
  };
  struct Piece {
    std::string reasoning;
    std::string answer;
    bool empty() const { return reasoning.empty() && answer.empty(); }
  };

  explicit ReasoningSplitter(Options options);

  // Text safe to show now; a possible partial tag at the end is held back.
  Piece feed(std::string_view text);
  // Flushes whatever was held back (the stream ended).
  Piece finish();

  bool in_reasoning() const { return state_ == State::kReasoning; }
  // True once the closing tag has been seen (or reasoning never started).
  bool reasoning_done() const { return state_ == State::kAnswer; }

 private:
  enum class State { kStart, kReasoning, kAnswer };
  void emit(std::string_view text, Piece& out);

  Options opt_;
  State state_;
  std::string pending_;     // held back: may be the start of a tag
  bool at_section_start_ = true;  // leading newlines of a section are dropped
};

}  // namespace whale::engine
