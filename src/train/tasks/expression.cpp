// Rational arithmetic with overflow checks (an overflow makes the answer invalid, never wraps), and
// the recursive-descent Countdown expression parser.
#include "train/tasks/expression.h"

#include <algorithm>

namespace whale::train::tasks {

std::string int128_to_string(Int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  std::string digits;
  while (value != 0) {
    const int d = static_cast<int>(value % 10);
    digits.push_back(static_cast<char>('0' + (d < 0 ? -d : d)));
    value /= 10;
  }
  if (negative) digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

bool parse_int128(std::string_view text, Int128& value) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 38) return false;
  Int128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');  // 38 digits < 2^127: cannot overflow
  }
  value = negative ? -v : v;
  return true;
}

namespace {

Int128 gcd(Int128 a, Int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    const Int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  ExpressionValue run() {
    ExpressionValue out;
    if (text_.size() > 1000) {
      out.error = "expression longer than 1000 bytes";
      return out;
    }
    Rational value;
    if (expr(value, 0)) {
      skip_spaces();
      if (pos_ != text_.size()) error("unexpected '", std::string(1, text_[pos_]), "' at offset ", pos_);
    }
    out.ok = error_.empty();
    out.error = error_;
    out.value = value;
    out.literals = std::move(literals_);
    return out;
  }

 private:
  template <class... Args>
  bool error(const Args&... parts) {
    if (error_.empty()) (error_ += ... += std::string(parts_to_string(parts)));
    return false;
  }
  static std::string parts_to_string(const std::string& s) { return s; }
  static std::string parts_to_string(const char* s) { return s; }
  static std::string parts_to_string(size_t n) { return std::to_string(n); }

  void skip_spaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  char peek() {
    skip_spaces();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool expr(Rational& out, int depth) {
    if (!term(out, depth)) return false;
    for (char op = peek(); op == '+' || op == '-'; op = peek()) {
      ++pos_;
      Rational rhs;
      if (!term(rhs, depth) || !combine(out, op, rhs)) return false;
    }
    return true;
  }

  bool term(Rational& out, int depth) {
    if (!factor(out, depth)) return false;
    for (char op = peek(); op == '*' || op == '/'; op = peek()) {
      ++pos_;
      Rational rhs;
      if (!factor(rhs, depth) || !combine(out, op, rhs)) return false;
    }
    return true;
  }

  bool factor(Rational& out, int depth) {
    const char c = peek();
    if (c == '(') {
      if (depth >= 64) return error("parentheses nested deeper than 64");
      ++pos_;
      if (!expr(out, depth + 1)) return false;
      if (peek() != ')') return error("expected ')' at offset ", pos_);
      ++pos_;
      return true;
    }
    if (c < '0' || c > '9') {
      if (c == '\0') return error("expression ends where a number or '(' was expected");
      return error("unexpected '", std::string(1, c), "' at offset ", pos_, " (expected a number or '(')");
    }
    const size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ - begin > 18) return error("number longer than 18 digits at offset ", begin);
    Int128 v = 0;
    parse_int128(text_.substr(begin, pos_ - begin), v);
    literals_.push_back(static_cast<std::int64_t>(v));
    out = Rational{v, 1};
    return true;
  }

  // out = out op rhs, exactly; false on division by zero or 128-bit overflow.
  bool combine(Rational& out, char op, const Rational& rhs) {
    Int128 num = 0, den = 0, t1 = 0, t2 = 0;
    bool overflow = false;
    switch (op) {
      case '+':
      case '-':
        overflow = __builtin_mul_overflow(out.num, rhs.den, &t1) || __builtin_mul_overflow(rhs.num, out.den, &t2) ||
                   (op == '+' ? __builtin_add_overflow(t1, t2, &num) : __builtin_sub_overflow(t1, t2, &num)) ||
                   __builtin_mul_overflow(out.den, rhs.den, &den);
        break;
      case '*':
        overflow = __builtin_mul_overflow(out.num, rhs.num, &num) || __builtin_mul_overflow(out.den, rhs.den, &den);
        break;
      default:  // '/'
        if (rhs.num == 0) return error("division by zero");
        overflow = __builtin_mul_overflow(out.num, rhs.den, &num) || __builtin_mul_overflow(out.den, rhs.num, &den);
        break;
    }
    if (overflow) return error("arithmetic overflow");
    if (den < 0) {
      num = -num;
      den = -den;
    }
    const Int128 g = gcd(num, den);
    out = Rational{num / g, den / g};
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
  std::vector<std::int64_t> literals_;
};

}  // namespace

ExpressionValue evaluate_expression(std::string_view text) { return Parser(text).run(); }

}  // namespace whale::train::tasks
