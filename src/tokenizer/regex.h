// A compiled Unicode regex (PCRE2, UTF + UCP, JIT when available) with the semantics of the
// JavaScript RegExp the reference tokenizers run: tokenizer.json patterns are rewritten the way
// transformers.js rewrites them, and \s/\S mean JavaScript's whitespace set.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace whale::tokenizer {

class Regex {
 public:
  // `context` names the file and field for error messages.
  Regex(std::string_view pattern, const std::string& context);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Calls on_match(begin, end) for each successive non-overlapping match in `text` (valid UTF-8),
  // like String.prototype.matchAll with the g+u flags (an empty match advances one character).
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

  // The PCRE2 source actually compiled, after the JavaScript-compatibility rewrites.
  const std::string& compiled_pattern() const { return compiled_; }

 private:
  struct Code;
  std::unique_ptr<Code> code_;
  std::string compiled_;
};

// The rewrites applied before compiling (exposed for tests).
std::string js_compatible_pattern(std::string_view pattern);

}  // namespace whale::tokenizer
