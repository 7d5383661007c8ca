// Streaming detokenizer: turns ids into text one at a time as a model generates them, holding
// back the bytes of a character split across tokens, so every piece it returns is valid UTF-8.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}

  // Text completed by this token (possibly empty). Bytes that can never become a character are
  // replaced by U+FFFD exactly as Tokenizer::decode does, so the pieces concatenate to it.
  std::string push(int32_t id);
  // The held-back bytes at the end of generation (an unfinished character becomes U+FFFD).
  std::string flush();
  // Bytes held back waiting for the rest of a character (at most 3).
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace whale::tokenizer
