// Exact arithmetic for the verifiers: 128-bit integers, rationals, and the small recursive-descent
// parser for Countdown answers (digits, + - * /, parentheses, spaces; nothing else).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whale::train::tasks {

using Int128 = __int128;

std::string int128_to_string(Int128 value);
// Parses optional '-' then 1..38 decimal digits (leading zeros allowed), the whole string; false
// on anything else or on overflow.
bool parse_int128(std::string_view text, Int128& value);

// num/den in lowest terms, den > 0.
struct Rational {
  Int128 num = 0;
  Int128 den = 1;
};

struct ExpressionValue {
  bool ok = false;
  Rational value;
  std::vector<std::int64_t> literals;  // the numbers written, in order
  std::string error;                   // why !ok: a syntax error, division by zero, overflow
};

// grammar:  expr := term (('+' | '-') term)*
//           term := factor (('*' | '/') factor)*
//           factor := number | '(' expr ')'          number := [0-9]{1,18}
// Spaces are allowed between tokens; no unary minus, no decimals, no other characters. Input
// longer than 1000 bytes or nested deeper than 64 is rejected. Never throws.
ExpressionValue evaluate_expression(std::string_view text);

}  // namespace whale::train::tasks
