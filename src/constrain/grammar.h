// A context-free grammar over bytes, flattened for the matcher, and the GBNF parser (llama.cpp's
// grammar format) that builds one. Unicode character classes are compiled to UTF-8 byte sequences.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whale::constrain {

// A set of bytes (256 bits).
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1u; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
  }
  bool operator==(const ByteSet&) const = default;
};

// Every alternative of every rule is a run of elements in `elements` ending with kEnd, so a
// position (an index into `elements`) names "what comes next" inside one alternative.
struct Grammar {
  enum class Op : uint8_t { kBytes, kRule, kEnd };
  struct Element {
    Op op;
    int32_t arg;  // kBytes: index into sets; kRule: rule id
  };
  std::vector<Element> elements;
  std::vector<ByteSet> sets;
  std::vector<std::vector<int32_t>> rules;  // rule id -> start positions of its alternatives
  std::vector<std::string> rule_names;      // synthesized rules are named "name-N"
  int32_t root = 0;
};

// Parses GBNF text: `name ::= alternatives` per rule (newline-separated), `|`, sequences, groups,
// `*` `+` `?` `{m}` `{m,}` `{m,n}`, string literals and character classes ([a-z], [^"\\], escapes
// \n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH), `.` (any character) and `#` comments. Throws
// whale::Error (kInvalidArgument) naming the line and column of a syntax error, an undefined rule,
// a missing root or left recursion.
Grammar parse_gbnf(std::string_view text, std::string_view root = "root");

// `s` as a GBNF string literal (quotes included, with escapes), for generated grammars.
std::string gbnf_literal(std::string_view s);

}  // namespace whale::constrain
