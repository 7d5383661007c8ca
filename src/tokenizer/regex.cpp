// PCRE2 behind Regex. The rewrites mirror transformers.js's createPattern so whale splits text
// exactly where the reference does, even where JavaScript and PCRE2 disagree (\s, (?i:...)).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

// JavaScript's \s, as class members (ECMAScript WhiteSpace + LineTerminator).
constexpr const char* kJsSpaceMembers =
    "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

}  // namespace

std::string js_compatible_pattern(std::string_view pattern) {
  std::string p(pattern);
  // transformers.js: JS has no inline case-insensitive group, so it spells out this one; PCRE2
  // would also match case variants such as U+017F for 's', which the reference does not.
  replace_all(p, "(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))");
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[++i];
      if (n == 's') {
        out += in_class ? std::string(kJsSpaceMembers) : "[" + std::string(kJsSpaceMembers) + "]";
      } else if (n == 'S') {
        if (in_class) fail(ErrorKind::kUnsupported, "regex ", std::string(pattern), ": \\S inside a class");
        out += "[^" + std::string(kJsSpaceMembers) + "]";
      } else if (n == '#' || n == '&' || n == '~') {
        out += n;  // transformers.js drops these needless escapes too
      } else {
        out += '\\';
        out += n;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // a literal ] first in a class
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, const std::string& context) : code_(std::make_unique<Code>()) {
  compiled_ = js_compatible_pattern(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled_.data()), compiled_.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (code_->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(ErrorKind::kFormat, context, ": regex ", std::string(pattern), " does not compile at offset ", offset,
         ": ", reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
  // One match block per thread: encode is hot and the block is small.
  thread_local struct Data {
    pcre2_match_data* md = pcre2_match_data_create(8, nullptr);
    ~Data() { pcre2_match_data_free(md); }
  } data;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail(ErrorKind::kInternal, "regex ", compiled_, " failed: ", reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    const size_t b = ov[0], e = ov[1];
    on_match(b, e);
    if (e > b) {
      pos = e;
    } else {  // empty match: step over one character, as JS does with the u flag
      if (e >= text.size()) return;
      char32_t cp;
      const size_t n = utf8_decode(text, e, &cp);
      pos = e + (n == 0 ? 1 : n);
    }
  }
}

}  // namespace whale::tokenizer
