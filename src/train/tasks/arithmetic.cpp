// Arithmetic problems and their worked solutions: column addition with carries, column subtraction
// with borrows, and long multiplication by partial products, one digit step per line.
#include "train/tasks/arithmetic.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/error.h"

namespace whale::train::tasks {
namespace {

constexpr std::int64_t kLimit = 1000000000000000000;  // operands are below 10^18

char op_char(TaskKind task) {
  switch (task) {
    case TaskKind::kAddition: return '+';
    case TaskKind::kSubtraction: return '-';
    case TaskKind::kMultiplication: return '*';
    default: fail(ErrorKind::kInvalidArgument, "task ", task_name(task), " is not arithmetic");
  }
}

// Digit i counted from the right (0 = units), 0 past the end.
int digit(const std::string& number, size_t i) {
  return i < number.size() ? number[number.size() - 1 - i] - '0' : 0;
}

// Appends "x+y+c=s, write w, carry k" per column, right to left; returns the sum's digits.
std::string column_add(const std::string& x, const std::string& y, std::string& out) {
  out += cat("Add ", x, "+", y, " column by column from the right.\n");
  std::string sum;  // reversed while built
  int carry = 0;
  for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    const int s = digit(x, i) + digit(y, i) + carry;
    out += cat(digit(x, i), "+", digit(y, i), "+", carry, "=", s, ", write ", s % 10, ", carry ", s / 10, "\n");
    sum.push_back(static_cast<char>('0' + s % 10));
    carry = s / 10;
  }
  if (carry > 0) {
    out += "carry 1, write 1\n";
    sum.push_back('1');
  }
  std::reverse(sum.begin(), sum.end());
  return sum;
}

// x >= y. Appends "x-y-b=r, write r, borrow 0" or "x-y-b is negative, so 1x-y-b=r, write r,
// borrow 1" per column; returns the difference's digits, leading zeros kept (as written).
std::string column_subtract(const std::string& x, const std::string& y, std::string& out) {
  out += cat("Subtract ", x, "-", y, " column by column from the right.\n");
  std::string diff;
  int borrow = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const int dx = digit(x, i), dy = digit(y, i);
    int r = dx - dy - borrow;
    if (r < 0) {
      r += 10;
      out += cat(dx, "-", dy, "-", borrow, " is negative, so ", dx + 10, "-", dy, "-", borrow, "=", r, ", write ", r,
                 ", borrow 1\n");
      borrow = 1;
    } else {
      out += cat(dx, "-", dy, "-", borrow, "=", r, ", write ", r, ", borrow 0\n");
      borrow = 0;
    }
    diff.push_back(static_cast<char>('0' + r));
  }
  std::reverse(diff.begin(), diff.end());
  return diff;
}

std::string strip_zeros(const std::string& digits) {
  const size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? "0" : digits.substr(first);
}

// Appends "x*d+c=p, write w, carry k" per digit of `top`; returns top * d.
std::string column_multiply(const std::string& top, int d, std::string& out) {
  std::string product;
  int carry = 0;
  for (size_t i = 0; i < top.size(); ++i) {
    const int p = digit(top, i) * d + carry;
    out += cat(digit(top, i), "*", d, "+", carry, "=", p, ", write ", p % 10, ", carry ", p / 10, "\n");
    product.push_back(static_cast<char>('0' + p % 10));
    carry = p / 10;
  }
  if (carry > 0) {
    out += cat("carry ", carry, ", write ", carry, "\n");
    product.push_back(static_cast<char>('0' + carry));
  }
  std::reverse(product.begin(), product.end());
  return product;
}

std::string subtraction_reasoning(const std::string& a, const std::string& b) {
  std::string out;
  const bool negative = a.size() < b.size() || (a.size() == b.size() && a < b);
  if (!negative) {
    const std::string diff = column_subtract(a, b, out);
    return out + cat("Digits ", diff, ", so ", a, "-", b, "=", strip_zeros(diff), ".");
  }
  out += cat(a, " is less than ", b, ", so compute ", b, "-", a, " and make it negative.\n");
  const std::string diff = column_subtract(b, a, out);
  const std::string value = strip_zeros(diff);
  return out + cat("Digits ", diff, ", so ", b, "-", a, "=", value, " and ", a, "-", b, "=-", value, ".");
}

// The longer operand times each digit of the shorter, from the right; then the partial products
// summed one at a time by column addition. Zero digits give no partial product.
std::string multiplication_reasoning(const std::string& a, const std::string& b) {
  const bool a_on_top = a.size() >= b.size();
  const std::string& top = a_on_top ? a : b;
  const std::string& bottom = a_on_top ? b : a;
  std::string out = cat("Multiply ", a, "*", b, ": ", top, " times each digit of ", bottom, " from the right.\n");
  std::vector<std::string> partials;
  for (size_t i = 0; i < bottom.size(); ++i) {
    const int d = digit(bottom, i);
    if (d == 0) {
      out += cat(top, "*0=0\n");
      continue;
    }
    out += cat(top, "*", d, ":\n");
    const std::string product = column_multiply(top, d, out);
    out += cat(top, "*", d, "=", product);
    if (i > 0 && product != "0") {
      const std::string shifted = product + std::string(i, '0');
      out += cat(", shift by ", i, ": ", shifted);
      partials.push_back(shifted);
    } else if (product != "0") {
      partials.push_back(product);
    }
    out += "\n";
  }
  std::string total = partials.empty() ? "0" : partials[0];
  if (partials.size() > 1) out += "Add the partial products.\n";
  for (size_t k = 1; k < partials.size(); ++k) {
    const std::string sum = column_add(total, partials[k], out);
    out += cat("So ", total, "+", partials[k], "=", sum, ".\n");
    total = sum;
  }
  return out + cat("So ", a, "*", b, "=", total, ".");
}

}  // namespace

Problem make_arithmetic(TaskKind task, std::int64_t a, std::int64_t b) {
  const char op = op_char(task);
  if (a < 0 || b < 0 || a >= kLimit || b >= kLimit)
    fail(ErrorKind::kInvalidArgument, "task ", task_name(task), ": operands must be in [0, 10^18), got ", a, " and ", b);
  Problem p;
  p.task = task;
  p.numbers = {a, b};
  p.id = cat(task_name(task), ":", a, op, b);
  p.prompt = cat("What is ", a, " ", op, " ", b, "? Think step by step, then give the final answer in \\boxed{}.");
  p.answer = int128_to_string(arithmetic_result(p));
  return p;
}

Problem sample_arithmetic(TaskKind task, Rng& rng, const Difficulty& difficulty) {
  auto operand = [&] {
    const int digits = static_cast<int>(rng.uniform(difficulty.min_digits, difficulty.max_digits));
    std::int64_t lo = 1;
    for (int i = 1; i < digits; ++i) lo *= 10;
    return digits == 1 ? rng.uniform(0, 9) : rng.uniform(lo, lo * 10 - 1);
  };
  const std::int64_t a = operand();
  const std::int64_t b = operand();
  return make_arithmetic(task, a, b);
}

Int128 arithmetic_result(const Problem& problem) {
  if (problem.numbers.size() != 2)
    fail(ErrorKind::kInvalidArgument, "problem ", problem.id, ": arithmetic needs 2 operands, has ", problem.numbers.size());
  const Int128 a = problem.numbers[0], b = problem.numbers[1];
  switch (op_char(problem.task)) {
    case '+': return a + b;
    case '-': return a - b;
    default: return a * b;
  }
}

std::string arithmetic_reasoning(const Problem& problem) {
  arithmetic_result(problem);  // validates the operands
  const std::string a = std::to_string(problem.numbers[0]), b = std::to_string(problem.numbers[1]);
  switch (op_char(problem.task)) {
    case '+': {
      std::string out;
      const std::string sum = column_add(a, b, out);
      return out + cat("So ", a, "+", b, "=", sum, ".");
    }
    case '-': return subtraction_reasoning(a, b);
    default: return multiplication_reasoning(a, b);
  }
}

AnswerCheck check_arithmetic(const Problem& problem, std::string_view answer) {
  AnswerCheck check;
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.front()))) answer.remove_prefix(1);
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.back()))) answer.remove_suffix(1);
  Int128 value = 0;
  if (!parse_int128(answer, value)) {
    check.note = cat("answer '", answer, "' is not an integer");
    return check;
  }
  const Int128 expected = arithmetic_result(problem);
  check.correct = value == expected;
  if (!check.correct) check.note = cat("answer ", int128_to_string(value), " is not ", int128_to_string(expected));
  return check;
}

}  // namespace whale::train::tasks
