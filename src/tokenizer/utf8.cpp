// UTF-8 helpers; the validity rules are RFC 3629's (no overlongs, no surrogates, <= U+10FFFF).
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

// Length of the longest prefix of s[i..] that could still begin a valid sequence, and whether
// it is a complete one. Follows Unicode Table 3-7 so the maximal-subpart rule falls out.
struct Prefix {
  size_t len;
  bool complete;
  char32_t cp;
};

Prefix scan(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, true, b0};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, false, 0};
  }
  size_t len = 1;
  for (size_t k = 0; k < need; ++k) {
    if (i + len >= s.size()) return {len, false, 0};
    const auto b = static_cast<unsigned char>(s[i + len]);
    if (b < lo || b > hi) return {len, false, 0};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    ++len;
  }
  return {len, true, cp};
}

}  // namespace

size_t utf8_decode(std::string_view s, size_t i, char32_t* cp) {
  if (i >= s.size()) return 0;
  const Prefix p = scan(s, i);
  if (!p.complete) return 0;
  *cp = p.cp;
  return p.len;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

size_t utf8_invalid_offset(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Prefix p = scan(s, i);
    if (!p.complete) return i;
    i += p.len;
  }
  return s.size();
}

size_t utf8_repair(std::string_view s, bool final, std::string& out) {
  size_t i = 0;
  while (i < s.size()) {
    const Prefix p = scan(s, i);
    if (p.complete) {
      out.append(s.data() + i, p.len);
      i += p.len;
    } else if (!final && p.len > 0 && i + p.len == s.size()) {
      return i;  // a character still arriving: hold its bytes back
    } else {
      out += "\xEF\xBF\xBD";
      i += p.len == 0 ? 1 : p.len;
    }
  }
  return i;
}

bool is_js_space(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: case 0xFEFF:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string_view js_trim(std::string_view s, bool left, bool right) {
  size_t b = 0, e = s.size();
  char32_t cp;
  if (left) {
    while (b < e) {
      const size_t n = utf8_decode(s, b, &cp);
      if (n == 0 || !is_js_space(cp)) break;
      b += n;
    }
  }
  if (right) {
    while (e > b) {
      size_t k = e - 1;  // back up to the lead byte of the last character
      while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
      const size_t n = utf8_decode(s, k, &cp);
      if (n == 0 || k + n != e || !is_js_space(cp)) break;
      e = k;
    }
  }
  return s.substr(b, e - b);
}

}  // namespace whale::tokenizer
