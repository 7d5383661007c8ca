// UTF-8 decoding, encoding and repair for the tokenizer: code point iteration, the whitespace
// set JavaScript's String.trim and \s use (the reference tokenizers run under node), and lossy
// repair of byte strings that token sequences can produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace whale::tokenizer {

// Decodes the code point at s[i]; returns its length in bytes, or 0 if the bytes there are not a
// complete, valid UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated).
size_t utf8_decode(std::string_view s, size_t i, char32_t* cp);
void utf8_append(std::string& out, char32_t cp);
// Offset of the first byte that does not start a valid sequence, or s.size() when all is valid.
size_t utf8_invalid_offset(std::string_view s);

// Appends `bytes` to `out` as valid UTF-8: each maximal invalid subpart becomes U+FFFD (the
// WHATWG/Unicode "substitution of maximal subparts" rule TextDecoder and Rust use). When
// `final` is false, a trailing incomplete-but-valid prefix is not consumed; returns the number of
// bytes consumed.
size_t utf8_repair(std::string_view bytes, bool final, std::string& out);

// ECMAScript WhiteSpace + LineTerminator: what JS \s and String.prototype.trim treat as space.
bool is_js_space(char32_t cp);
std::string_view js_trim(std::string_view s, bool left, bool right);

}  // namespace whale::tokenizer
