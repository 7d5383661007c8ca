// Tokenizer: text <-> token ids for the byte-level BPE tokenizers of the DeepSeek-V3/R1, Qwen and
// Llama-3 families, loaded from a model directory's tokenizer.json + tokenizer_config.json (or
// from GGUF metadata). Ids equal the reference tokenizers' (tests/tokenizer compares them).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/chat_template.h"

namespace whale::formats {
class GgufFile;
}

namespace whale::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

struct EncodeOptions {
  // Add what the post-processor adds (BOS for DeepSeek and the R1 distills).
  bool add_special = true;
  // Match special tokens written in the text (`<｜User｜>` becomes one token), as the reference
  // tokenizers do. A server handling untrusted text turns this off.
  bool parse_special = true;
  // Sorted, disjoint byte ranges [first, second) of the text where no added token (special or
  // not) may match: untrusted content inside a rendered chat template (see chat_prompt.h).
  std::span<const std::pair<size_t, size_t>> plain = {};
};

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json and, if present, DIR/tokenizer_config.json.
  static Tokenizer from_dir(const std::string& dir);
  // From the two files' text; `context` names where they came from in error messages.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json,
                             const std::string& context);
  // From a GGUF file's tokenizer.ggml.* metadata (model "gpt2"; the pre-tokenizer comes from
  // tokenizer.ggml.pre, which must name a family whale knows). Ids equal from_dir's on the files
  // the GGUF was converted from.
  static Tokenizer from_gguf(const formats::GgufFile& file);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Byte ranges [first, second) of `text` that encode() would turn into added tokens (special or
  // not), in order: what a chat prompt must keep as plain text when it comes from a client.
  std::vector<std::pair<size_t, size_t>> added_token_spans(std::string_view text) const;
  // The bytes the ids stand for, concatenated (may be invalid UTF-8 mid-character).
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special = false) const;
  // decode_bytes with invalid UTF-8 replaced by U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // Raw bytes of one token; throws on an id outside the vocabulary.
  const std::string& token_bytes(int32_t id) const;
  // The token as written in tokenizer.json (byte-level alphabet, or the added token's content).
  const std::string& token_text(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view token_text) const;
  bool is_special(int32_t id) const;
  // Whether the id names a token (vocabularies may have gaps, e.g. below the added tokens' ids).
  bool contains(int32_t id) const;
  // One more than the largest id.
  size_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  const std::vector<AddedToken>& added_tokens() const;

  // The chat template chosen from tokenizer_config.json's chat_template; throws if it has none
  // or it is not one whale implements.
  const ChatTemplate& chat_template() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The tokenizer of a model path: a directory's tokenizer.json, or a .gguf file's metadata.
Tokenizer load_tokenizer(const std::string& model_path);

}  // namespace whale::tokenizer
