// A three-state machine over text: start (is there an opening tag?), reasoning (until the closing
// tag), answer. Held-back text is the longest tail that could still grow into the tag we wait for.
#include "engine/reasoning_splitter.h"

#include <algorithm>

namespace whale::engine {
namespace {

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag_tail(std::string_view text, std::string_view tag) {
  const size_t max = std::min(text.size(), tag.size() - 1);
  for (size_t n = max; n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(Options options) : opt_(std::move(options)) {
  if (!opt_.enabled) {
    state_ = State::kAnswer;
  } else {
    state_ = opt_.starts_in_reasoning ? State::kReasoning : State::kStart;
  }
}

void ReasoningSplitter::emit(std::string_view text, Piece& out) {
  if (at_section_start_) {  // "<think>\n" and "</think>\n\n" leave newlines that no reader wants
    const size_t first = text.find_first_not_of("\r\n");
    if (first == std::string_view::npos) return;
    text.remove_prefix(first);
    at_section_start_ = false;
  }
  (state_ == State::kReasoning ? out.reasoning : out.answer).append(text);
}

ReasoningSplitter::Piece ReasoningSplitter::feed(std::string_view text) {
  Piece out;
  pending_.append(text);
  for (;;) {
    if (state_ == State::kStart) {
      // The model may open with whitespace, then the tag; anything else means no reasoning.
      const size_t first = pending_.find_first_not_of(" \t\r\n");
      if (first == std::string::npos) return out;
      const std::string_view rest = std::string_view(pending_).substr(first);
      if (rest.size() < opt_.open_tag.size() && opt_.open_tag.compare(0, rest.size(), rest) == 0) return out;
      if (rest.substr(0, opt_.open_tag.size()) == opt_.open_tag) {
        pending_.erase(0, first + opt_.open_tag.size());
        state_ = State::kReasoning;
        at_section_start_ = true;
        continue;
      }
      state_ = State::kAnswer;
      at_section_start_ = true;
      continue;
    }
    if (state_ == State::kReasoning) {
      const size_t close = pending_.find(opt_.close_tag);
      if (close != std::string::npos) {
        emit(std::string_view(pending_).substr(0, close), out);
        pending_.erase(0, close + opt_.close_tag.size());
        state_ = State::kAnswer;
        at_section_start_ = true;
        continue;
      }
      const size_t hold = partial_tag_tail(pending_, opt_.close_tag);
      emit(std::string_view(pending_).substr(0, pending_.size() - hold), out);
      pending_.erase(0, pending_.size() - hold);
      return out;
    }
    emit(pending_, out);  // answer: nothing more to find
    pending_.clear();
    return out;
  }
}

ReasoningSplitter::Piece ReasoningSplitter::finish() {
  Piece out;
  if (state_ == State::kStart) state_ = State::kAnswer;  // only whitespace or a tag fragment came
  emit(pending_, out);
  pending_.clear();
  return out;
}

}  // namespace whale::engine
