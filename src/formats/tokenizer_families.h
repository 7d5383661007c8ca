// The tokenizer.json pieces GGUF does not carry (normalizer, pre-tokenizer, model.ignore_merges),
// per llama.cpp pre-tokenizer name (tokenizer.ggml.pre), copied from each family's real tokenizer.json.
#pragma once

#include <string>
#include <string_view>

namespace whale::formats {

struct TokenizerFamily {
  const char* normalizer_json;     // tokenizer.json "normalizer" ("null" when there is none)
  const char* pre_tokenizer_json;  // tokenizer.json "pre_tokenizer"
  bool ignore_merges;              // model.ignore_merges (llama.cpp: true for llama-bpe)
};

// The family a tokenizer.ggml.pre value names, or null for a name whale does not know.
const TokenizerFamily* find_tokenizer_family(std::string_view pre);
// The known names, comma-separated (for error messages).
std::string known_tokenizer_pres();

}  // namespace whale::formats
