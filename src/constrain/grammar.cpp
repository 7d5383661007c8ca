// GBNF parser: recursive descent into rules of alternatives of items (byte sets or rule
// references); groups, repetitions and non-ASCII classes become synthesized rules, as in llama.cpp.
#include "constrain/grammar.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "core/error.h"

namespace whale::constrain {
namespace {

struct Item {
  bool is_rule;
  int32_t arg;  // set index or rule id
};
using Alt = std::vector<Item>;

// Codepoint range [lo, hi] (same UTF-8 length, aligned) -> sequences of byte ranges, the
// algorithm of Rust's regex-syntax utf8 module.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  if (lo > hi) return;
  static const uint32_t kBounds[] = {0x7F, 0x7FF, 0xFFFF};
  for (uint32_t b : kBounds) {
    if (lo <= b && b < hi) {
      utf8_sequences(lo, b, out);
      utf8_sequences(b + 1, hi, out);
      return;
    }
  }
  auto len = [](uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; };
  const int n = len(lo);
  if (n == 1) {
    out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  auto enc = [n](uint32_t c) {
    std::array<uint8_t, 4> b{};
    if (n == 2) {
      b = {static_cast<uint8_t>(0xC0 | (c >> 6)), static_cast<uint8_t>(0x80 | (c & 0x3F)), 0, 0};
    } else if (n == 3) {
      b = {static_cast<uint8_t>(0xE0 | (c >> 12)), static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)),
           static_cast<uint8_t>(0x80 | (c & 0x3F)), 0};
    } else {
      b = {static_cast<uint8_t>(0xF0 | (c >> 18)), static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F)),
           static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)), static_cast<uint8_t>(0x80 | (c & 0x3F))};
    }
    return b;
  };
  const auto a = enc(lo), b = enc(hi);
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (int i = 0; i < n; ++i) seq.emplace_back(a[static_cast<size_t>(i)], b[static_cast<size_t>(i)]);
  out.push_back(std::move(seq));
}

void append_utf8(uint32_t c, std::string& s) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Bounds on the recursion a grammar can cause (parsing, the left-recursion walk, the matcher's
// expansion), so that a hostile grammar gets an error rather than overflowing a thread's stack.
constexpr int kMaxGroupDepth = 256;
constexpr int kMaxRuleChain = 1024;

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  Grammar parse(std::string_view root) {
    skip(true);
    while (i_ < t_.size()) {
      parse_rule();
      skip(true);
    }
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (!defined_[r]) fail_at(first_use_[r], "undefined rule '" + names_[r] + "'");
    }
    auto it = ids_.find(std::string(root));
    if (it == ids_.end()) fail(ErrorKind::kInvalidArgument, "grammar: no rule named '", root, "'");
    check_left_recursion();
    return lower(it->second);
  }

 private:
  [[noreturn]] void fail_at(size_t pos, const std::string& msg) const {
    int line = 1, col = 1;
    for (size_t k = 0; k < pos && k < t_.size(); ++k) {
      if (t_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail(ErrorKind::kInvalidArgument, "grammar line ", line, " column ", col, ": ", msg);
  }
  bool eof() const { return i_ >= t_.size(); }
  char peek() const { return eof() ? '\0' : t_[i_]; }

  // Spaces, tabs and comments; newlines too where `newlines` (inside groups, after ::= and |).
  void skip(bool newlines) {
    while (!eof()) {
      const char c = t_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++i_;
      } else if (c == '#') {
        while (!eof() && t_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }
  std::string parse_name() {
    const size_t s = i_;
    while (!eof() && name_char(t_[i_])) ++i_;
    if (s == i_) fail_at(s, std::string("expected a rule name, got '") + peek() + "'");
    return std::string(t_.substr(s, i_ - s));
  }

  int32_t rule_id(const std::string& name, size_t pos) {
    auto [it, fresh] = ids_.emplace(name, static_cast<int32_t>(rules_.size()));
    if (fresh) {
      rules_.emplace_back();
      names_.push_back(name);
      defined_.push_back(false);
      first_use_.push_back(pos);
    }
    return it->second;
  }
  int32_t new_rule(const std::string& base) {
    const int32_t id = rule_id(base + "-" + std::to_string(rules_.size()), i_);
    defined_[static_cast<size_t>(id)] = true;
    return id;
  }
  int32_t set_id(const ByteSet& s) {
    for (size_t k = 0; k < sets_.size(); ++k) {
      if (sets_[k] == s) return static_cast<int32_t>(k);
    }
    sets_.push_back(s);
    return static_cast<int32_t>(sets_.size() - 1);
  }

  void parse_rule() {
    const size_t at = i_;
    const std::string name = parse_name();
    skip(false);
    if (t_.substr(i_, 3) != "::=") fail_at(i_, "expected '::=' after rule name '" + name + "'");
    i_ += 3;
    skip(true);
    const int32_t id = rule_id(name, at);
    if (defined_[static_cast<size_t>(id)]) fail_at(at, "rule '" + name + "' is defined twice");
    defined_[static_cast<size_t>(id)] = true;
    rules_[static_cast<size_t>(id)] = parse_alternatives(name, false);
    if (!eof() && peek() != '\n') fail_at(i_, std::string("unexpected '") + peek() + "'");
  }

  std::vector<Alt> parse_alternatives(const std::string& name, bool nested) {
    std::vector<Alt> alts;
    alts.push_back(parse_sequence(name, nested));
    while (peek() == '|') {
      ++i_;
      skip(true);
      alts.push_back(parse_sequence(name, nested));
    }
    return alts;
  }

  uint32_t parse_escape() {  // after the backslash
    if (eof()) fail_at(i_, "unfinished escape");
    const char c = t_[i_++];
    auto hex = [&](int n) {
      uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        if (eof()) fail_at(i_, "unfinished hex escape");
        const char h = t_[i_++];
        int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) fail_at(i_ - 1, std::string("bad hex digit '") + h + "'");
        v = v * 16 + static_cast<uint32_t>(d);
      }
      return v;
    };
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'x': return hex(2);
      case 'u': return hex(4);
      case 'U': return hex(8);
      case '\\': case '"': case '[': case ']': case '-': case '^': case '\'': case '/': return static_cast<uint8_t>(c);
      default: fail_at(i_ - 1, std::string("unknown escape '\\") + c + "'");
    }
  }
  // One character of a literal or class: a UTF-8 sequence decoded to a codepoint, or an escape.
  uint32_t parse_char() {
    if (eof()) fail_at(i_, "unexpected end of grammar");
    const uint8_t c = static_cast<uint8_t>(t_[i_]);
    if (c == '\\') {
      ++i_;
      return parse_escape();
    }
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i_ + static_cast<size_t>(n) > t_.size()) fail_at(i_, "invalid UTF-8 in grammar");
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n; ++k) v = (v << 6) | (static_cast<uint8_t>(t_[i_ + static_cast<size_t>(k)]) & 0x3F);
    i_ += static_cast<size_t>(n);
    return v;
  }

  // Codepoint ranges -> items: one byte set when all ASCII, else a rule of UTF-8 sequences.
  void add_class(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated, Alt& out) {
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (auto r : ranges) {
      if (!merged.empty() && r.first <= merged.back().second + 1) {
        merged.back().second = std::max(merged.back().second, r.second);
      } else {
        merged.push_back(r);
      }
    }
    if (negated) {
      std::vector<std::pair<uint32_t, uint32_t>> comp;
      uint32_t next = 0;
      for (auto r : merged) {
        if (r.first > next) comp.emplace_back(next, r.first - 1);
        next = r.second + 1;
      }
      if (next <= 0x10FFFF) comp.emplace_back(next, 0x10FFFF);
      merged = std::move(comp);
    }
    std::vector<std::pair<uint32_t, uint32_t>> valid;  // surrogates are not characters
    for (auto r : merged) {
      if (r.second < 0xD800 || r.first > 0xDFFF) {
        valid.push_back(r);
      } else {
        if (r.first < 0xD800) valid.emplace_back(r.first, 0xD7FF);
        if (r.second > 0xDFFF) valid.emplace_back(0xE000, r.second);
      }
    }
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
    for (auto r : valid) utf8_sequences(r.first, std::min<uint32_t>(r.second, 0x10FFFF), seqs);
    ByteSet single;
    bool any_single = false;
    std::vector<Alt> alts;
    for (const auto& s : seqs) {
      if (s.size() == 1) {
        single.add_range(s[0].first, s[0].second);
        any_single = true;
        continue;
      }
      Alt a;
      for (auto [lo, hi] : s) {
        ByteSet b;
        b.add_range(lo, hi);
        a.push_back({false, set_id(b)});
      }
      alts.push_back(std::move(a));
    }
    if (alts.empty()) {
      out.push_back({false, set_id(single)});  // may be empty: matches nothing
      return;
    }
    if (any_single) alts.insert(alts.begin(), Alt{{false, set_id(single)}});
    const int32_t id = new_rule("class");
    rules_[static_cast<size_t>(id)] = std::move(alts);
    out.push_back({true, id});
  }

  // Wraps items [from, end) of `seq` into a fresh rule, returning a one-item reference.
  Item as_rule(const std::string& name, const Alt& items) {
    if (items.size() == 1) return items[0];
    const int32_t id = new_rule(name);
    rules_[static_cast<size_t>(id)] = {items};
    return {true, id};
  }

  // Applies a repetition {min, max} (max < 0: unbounded) to the last symbol of `seq`.
  void repeat(const std::string& name, Alt& seq, size_t last_start, int min, int max) {
    const Alt sym(seq.begin() + static_cast<std::ptrdiff_t>(last_start), seq.end());
    seq.resize(last_start);
    const Item x = as_rule(name, sym);
    for (int k = 0; k < min; ++k) seq.push_back(x);
    if (max < 0) {  // star ::= x star | ε  (right recursion: the matcher's tail calls keep it flat)
      const int32_t star = new_rule(name);
      rules_[static_cast<size_t>(star)] = {{x, {true, star}}, {}};
      seq.push_back({true, star});
      return;
    }
    // opt_k ::= x opt_{k-1} | ε, nested (max - min) deep
    int32_t inner = -1;
    for (int k = 0; k < max - min; ++k) {
      const int32_t opt = new_rule(name);
      Alt a = {x};
      if (inner >= 0) a.push_back({true, inner});
      rules_[static_cast<size_t>(opt)] = {a, {}};
      inner = opt;
    }
    if (inner >= 0) seq.push_back({true, inner});
  }

  int parse_int() {
    const size_t s = i_;
    long v = 0;
    while (!eof() && t_[i_] >= '0' && t_[i_] <= '9') {
      v = v * 10 + (t_[i_++] - '0');
      if (v > 100000) fail_at(s, "repetition count too large");
    }
    if (s == i_) fail_at(i_, "expected a number");
    return static_cast<int>(v);
  }

  Alt parse_sequence(const std::string& name, bool nested) {
    Alt seq;
    size_t last_start = 0;
    bool have_last = false;
    while (!eof()) {
      const char c = peek();
      const size_t at = i_;
      if (c == '"') {
        ++i_;
        last_start = seq.size();
        while (peek() != '"') {
          if (eof() || peek() == '\n') fail_at(at, "unterminated string literal");
          std::string bytes;
          append_utf8(parse_char(), bytes);
          for (char b : bytes) {
            ByteSet s;
            s.add(static_cast<uint8_t>(b));
            seq.push_back({false, set_id(s)});
          }
        }
        ++i_;
        have_last = seq.size() > last_start;  // "" matches nothing to repeat
      } else if (c == '[') {
        ++i_;
        const bool neg = peek() == '^';
        if (neg) ++i_;
        std::vector<std::pair<uint32_t, uint32_t>> ranges;
        while (peek() != ']') {
          if (eof()) fail_at(at, "unterminated character class");
          const uint32_t lo = parse_char();
          uint32_t hi = lo;
          if (peek() == '-' && i_ + 1 < t_.size() && t_[i_ + 1] != ']') {
            ++i_;
            hi = parse_char();
            if (hi < lo) fail_at(at, "character range is backwards");
          }
          ranges.emplace_back(lo, hi);
        }
        ++i_;
        last_start = seq.size();
        add_class(std::move(ranges), neg, seq);
        have_last = true;
      } else if (c == '.') {
        ++i_;
        last_start = seq.size();
        add_class({}, true, seq);
        have_last = true;
      } else if (name_char(c)) {
        last_start = seq.size();
        seq.push_back({true, rule_id(parse_name(), at)});
        have_last = true;
      } else if (c == '(') {
        // Each group is a level of recursion here (and a rule the matcher descends into): a body of
        // thousands of '(' would overflow the stack of whichever thread parses it.
        if (++group_depth_ > kMaxGroupDepth) {
          fail_at(i_, "groups nest deeper than " + std::to_string(kMaxGroupDepth) + " levels");
        }
        ++i_;
        skip(true);
        const int32_t id = new_rule(name);
        rules_[static_cast<size_t>(id)] = parse_alternatives(name, true);
        --group_depth_;
        if (peek() != ')') fail_at(i_, "expected ')'");
        ++i_;
        last_start = seq.size();
        seq.push_back({true, id});
        have_last = true;
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_last) fail_at(at, std::string("'") + c + "' has nothing to repeat");
        ++i_;
        int min = 0, max = -1;
        if (c == '+') min = 1;
        if (c == '?') max = 1;
        if (c == '{') {
          skip(false);
          min = parse_int();
          skip(false);
          if (peek() == ',') {
            ++i_;
            skip(false);
            max = peek() == '}' ? -1 : parse_int();
            skip(false);
          } else {
            max = min;
          }
          if (peek() != '}') fail_at(i_, "expected '}'");
          ++i_;
          if (max >= 0 && max < min) fail_at(at, "repetition {m,n} has n < m");
        }
        repeat(name, seq, last_start, min, max);
        have_last = false;
      } else {
        break;
      }
      skip(nested);
    }
    if (!eof() && peek() != '|' && peek() != '\n' && !(nested && peek() == ')')) {
      fail_at(i_, std::string("unexpected '") + peek() + "'");
    }
    return seq;
  }

  // Expansion in the matcher would loop forever on a rule that can reach itself without consuming.
  void check_left_recursion() {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Alt& a : rules_[r]) {
          if (std::all_of(a.begin(), a.end(), [&](const Item& it) { return it.is_rule && nullable[static_cast<size_t>(it.arg)]; })) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<int> color(n, 0);
    // The walk also measures chains of leading rule references (r0 ::= r1 ..., r1 ::= r2 ...),
    // which the matcher's expansion descends one stack frame per link: chain[r] is the longest such
    // chain from r (a DAG once left recursion is ruled out), and one longer than kMaxRuleChain is
    // refused. The walk's own depth stays within that bound too.
    std::vector<int> chain(n, 0);
    auto too_long = [&](size_t r) {
      fail(ErrorKind::kInvalidArgument, "grammar: rule '", names_[r], "' starts a chain of more than ", kMaxRuleChain,
           " rules each beginning with the next");
    };
    std::function<void(size_t, int)> dfs = [&](size_t r, int depth) {
      if (depth > kMaxRuleChain) too_long(r);
      color[r] = 1;
      int longest = 0;
      for (const Alt& a : rules_[r]) {
        for (const Item& it : a) {
          if (!it.is_rule) break;
          const size_t s = static_cast<size_t>(it.arg);
          if (color[s] == 1) fail(ErrorKind::kInvalidArgument, "grammar: rule '", names_[s], "' is left-recursive");
          if (color[s] == 0) dfs(s, depth + 1);
          longest = std::max(longest, chain[s]);
          if (!nullable[s]) break;
        }
      }
      chain[r] = longest + 1;
      if (chain[r] > kMaxRuleChain) too_long(r);
      color[r] = 2;
    };
    for (size_t r = 0; r < n; ++r) {
      if (color[r] == 0) dfs(r, 0);
    }
  }

  Grammar lower(int32_t root) {
    Grammar g;
    g.sets = sets_;
    g.rule_names = names_;
    g.root = root;
    g.rules.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Alt& a : rules_[r]) {
        g.rules[r].push_back(static_cast<int32_t>(g.elements.size()));
        for (const Item& it : a) g.elements.push_back({it.is_rule ? Grammar::Op::kRule : Grammar::Op::kBytes, it.arg});
        g.elements.push_back({Grammar::Op::kEnd, 0});
      }
    }
    return g;
  }

  std::string_view t_;
  size_t i_ = 0;
  int group_depth_ = 0;
  std::map<std::string, int32_t> ids_;
  std::vector<std::vector<Alt>> rules_;
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::vector<size_t> first_use_;
  std::vector<ByteSet> sets_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text, std::string_view root) { return Parser(text).parse(root); }

std::string gbnf_literal(std::string_view s) {
  std::string out = "\"";
  static const char* kHex = "0123456789ABCDEF";
  for (char ch : s) {
    const uint8_t c = static_cast<uint8_t>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace whale::constrain
