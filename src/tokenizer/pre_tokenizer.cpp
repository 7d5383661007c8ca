// Split behaviours follow the Hugging Face tokenizers crate (the reference for what each means);
// transformers.js, the test oracle, implements Isolated and Removed the same way.
#include "tokenizer/pre_tokenizer.h"

namespace whale::tokenizer {

const char* const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void SplitPreTokenizer::apply(Pieces& pieces) const {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  out.reserve(pieces.spans.size() * 2);
  struct Part {
    uint32_t b, e;
    bool delim;
  };
  std::vector<Part> parts;
  for (const auto& span : pieces.spans) {
    const uint32_t pb = span.first, pe = span.second;  // not a structured binding: clang 14's lambdas cannot capture one
    const std::string_view text(pieces.buf.data() + pb, pe - pb);
    parts.clear();
    uint32_t prev = 0;
    regex_.for_each_match(text, [&](size_t b, size_t e) {
      if (e == b) return;  // an empty match splits nothing
      if (b > prev) parts.push_back({pb + prev, pb + static_cast<uint32_t>(b), invert_});
      parts.push_back({pb + static_cast<uint32_t>(b), pb + static_cast<uint32_t>(e), !invert_});
      prev = static_cast<uint32_t>(e);
    });
    if (prev < text.size()) parts.push_back({pb + prev, pe, invert_});
    switch (behavior_) {
      case SplitBehavior::kIsolated:
        for (const Part& p : parts) out.emplace_back(p.b, p.e);
        break;
      case SplitBehavior::kRemoved:
        for (const Part& p : parts) {
          if (!p.delim) out.emplace_back(p.b, p.e);
        }
        break;
      case SplitBehavior::kMergedWithPrevious: {
        const size_t first = out.size();
        bool prev_delim = false;
        for (const Part& p : parts) {
          if (p.delim && !prev_delim && out.size() > first) {
            out.back().second = p.e;
          } else {
            out.emplace_back(p.b, p.e);
          }
          prev_delim = p.delim;
        }
        break;
      }
      case SplitBehavior::kMergedWithNext: {
        bool pending = false;  // the last emitted piece is a delimiter waiting for its next
        for (const Part& p : parts) {
          if (pending && !p.delim) {
            out.back().second = p.e;
            pending = false;
          } else {
            out.emplace_back(p.b, p.e);
            pending = p.delim;
          }
        }
        break;
      }
      case SplitBehavior::kContiguous: {
        bool prev_delim = false;
        const size_t first = out.size();
        for (const Part& p : parts) {
          if (p.delim && prev_delim && out.size() > first) {
            out.back().second = p.e;
          } else {
            out.emplace_back(p.b, p.e);
          }
          prev_delim = p.delim;
        }
        break;
      }
    }
  }
  pieces.spans.swap(out);
}

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
    : add_prefix_space_(add_prefix_space) {
  if (use_regex) {
    gpt2_split_ = std::make_unique<SplitPreTokenizer>(Regex(kGpt2Pattern, "ByteLevel pre-tokenizer"),
                                                      SplitBehavior::kIsolated, false);
  }
}

void ByteLevelPreTokenizer::apply(Pieces& pieces) const {
  if (add_prefix_space_) {
    // As transformers.js does, every piece that does not start with a space gets one.
    for (auto& span : pieces.spans) {
      if (span.second > span.first && pieces.buf[span.first] == ' ') continue;
      const auto at = static_cast<uint32_t>(pieces.buf.size());
      pieces.buf += ' ';
      pieces.buf.append(pieces.buf, span.first, span.second - span.first);
      span = {at, static_cast<uint32_t>(pieces.buf.size())};
    }
  }
  if (gpt2_split_) gpt2_split_->apply(pieces);
}

std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits) {
  return std::make_unique<SplitPreTokenizer>(
      Regex(individual_digits ? "[0-9]" : "[0-9]+", "Digits pre-tokenizer"), SplitBehavior::kIsolated, false);
}

}  // namespace whale::tokenizer
