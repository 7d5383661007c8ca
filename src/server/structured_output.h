// Structured output: response_format (json_object, json_schema) and llama-server's `grammar` and
// `json_schema` fields turned into a grammar matcher for the engine request.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

#include "constrain/matcher.h"
#include "constrain/vocabulary.h"
#include "tokenizer/tokenizer.h"

namespace whale::server {

// The tokenizer's vocabulary as the matcher sees it: each token's bytes, special tokens (never
// allowed) and EOS (allowed once the grammar is complete).
std::shared_ptr<const constrain::Vocabulary> constraint_vocabulary(const tokenizer::Tokenizer& tok);

// constraint_vocabulary(), built on first use (a 152k vocabulary takes
// tens of milliseconds) and shared by every request.
class ConstraintVocabulary {
 public:
  std::shared_ptr<const constrain::Vocabulary> get(const tokenizer::Tokenizer& tok);

 private:
  std::once_flag once_;
  std::shared_ptr<const constrain::Vocabulary> vocab_;
};

// The matcher the body asks for, or null when it asks for none. `body` is the raw text of `j`:
// schemas are re-read from it in their declared key order (properties come out in that order).
// Throws ApiError 400 naming the field (and, in the message, the unsupported schema keyword or the
// grammar's line and column).
std::shared_ptr<constrain::Matcher> parse_constraint(const nlohmann::json& j, std::string_view body,
                                                     const tokenizer::Tokenizer& tok, ConstraintVocabulary& vocab);

}  // namespace whale::server
