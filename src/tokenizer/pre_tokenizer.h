// Pre-tokenizers: split normalized text into the pieces BPE sees. The kinds the DeepSeek, Qwen
// and Llama-3 tokenizer.json files use (Sequence, Split, ByteLevel, Digits), with Hugging Face's
// split behaviours.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace whale::tokenizer {

// Pieces are byte ranges of `buf`; a pre-tokenizer that must change text (ByteLevel's prefix
// space) appends the new text to `buf` and points the piece there.
struct Pieces {
  std::string buf;
  std::vector<std::pair<uint32_t, uint32_t>> spans;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void apply(Pieces& pieces) const = 0;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Split(pattern, behavior, invert): a regex (or a literal string, escaped by the caller).
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void apply(Pieces& pieces) const override;

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// ByteLevel: the byte-to-unicode mapping itself happens inside the BPE model (which works on raw
// bytes); here only the optional prefix space and GPT-2's word regex.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);
  void apply(Pieces& pieces) const override;

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPreTokenizer> gpt2_split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void apply(Pieces& pieces) const override {
    for (const auto& s : steps_) s->apply(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Digits(individual_digits): as transformers.js, ASCII digits only ([^\d]+|\d+ in a JS regex).
std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits);

// The regex GPT-2's ByteLevel uses when use_regex is true.
extern const char* const kGpt2Pattern;

}  // namespace whale::tokenizer
