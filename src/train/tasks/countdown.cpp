// Countdown: the classic-rules solver (two numbers become one, positive integers only), problem
// generation from the reachable targets, the guess-and-check search trace, and exact checking.
#include "train/tasks/countdown.h"

#include <algorithm>

#include "core/error.h"
#include "train/tasks/expression.h"

namespace whale::train::tasks {
namespace {

constexpr char kOps[] = {'+', '-', '*', '/'};

// x op y under classic rules (x >= y >= 1): false when the result would not be a positive integer
// or would overflow.
bool classic(std::int64_t x, std::int64_t y, char op, std::int64_t& result) {
  switch (op) {
    case '+': return !__builtin_add_overflow(x, y, &result);
    case '-': result = x - y; return x > y;
    case '*': return !__builtin_mul_overflow(x, y, &result);
    default: result = y != 0 ? x / y : 0; return y != 0 && x % y == 0;
  }
}

// Combining state[i] and state[j] (i names the larger, the one written first) leaves the others
// in order with the result appended.
struct Move {
  size_t i = 0, j = 0;
  char op = '+';
};
using Path = std::vector<Move>;

template <class T>
std::vector<T> apply(const std::vector<T>& state, const Move& m, T result) {
  std::vector<T> next;
  for (size_t k = 0; k < state.size(); ++k)
    if (k != m.i && k != m.j) next.push_back(state[k]);
  next.push_back(std::move(result));
  return next;
}

// Every move from `state`, pairs in index order, ops in kOps order; `fn(move, result)`.
template <class Fn>
void for_each_move(const std::vector<std::int64_t>& state, Fn&& fn) {
  for (size_t a = 0; a < state.size(); ++a)
    for (size_t b = a + 1; b < state.size(); ++b) {
      const bool a_first = state[a] >= state[b];
      const Move base{a_first ? a : b, a_first ? b : a, '+'};
      for (char op : kOps) {
        std::int64_t r = 0;
        if (!classic(state[base.i], state[base.j], op, r)) continue;
        fn(Move{base.i, base.j, op}, r);
      }
    }
}

// Fixed-size states: the generator calls this for every draw, so no allocation per node.
struct Values {
  std::int64_t v[6];
  size_t n = 0;
};

void reach(const Values& state, std::vector<std::int64_t>& out) {
  if (state.n == 1) {
    out.push_back(state.v[0]);
    return;
  }
  for (size_t a = 0; a < state.n; ++a)
    for (size_t b = a + 1; b < state.n; ++b) {
      Values next;
      for (size_t k = 0; k < state.n; ++k)
        if (k != a && k != b) next.v[next.n++] = state.v[k];
      const std::int64_t x = std::max(state.v[a], state.v[b]), y = std::min(state.v[a], state.v[b]);
      for (char op : kOps) {
        if (!classic(x, y, op, next.v[next.n])) continue;
        ++next.n;
        reach(next, out);
        --next.n;
      }
    }
}

// Every path that combines `state` down to two numbers, with whether that pair can make `target`.
void prefixes(const std::vector<std::int64_t>& state, std::int64_t target, Path& path,
              std::vector<std::pair<Path, bool>>& out) {
  if (state.size() == 2) {
    bool hit = false;
    for_each_move(state, [&](const Move&, std::int64_t r) { hit = hit || r == target; });
    out.emplace_back(path, hit);
    return;
  }
  for_each_move(state, [&](const Move& m, std::int64_t r) {
    path.push_back(m);
    prefixes(apply(state, m, r), target, path, out);
    path.pop_back();
  });
}

std::string list(const std::vector<std::int64_t>& values, const char* sep) {
  std::string out = "[";
  for (size_t k = 0; k < values.size(); ++k) out += cat(k ? sep : "", values[k]);
  return out + "]";
}

std::int64_t result_of(const std::vector<std::int64_t>& state, const Move& m) {
  std::int64_t r = 0;
  classic(state[m.i], state[m.j], m.op, r);
  return r;
}

// "Try 7-3=4, left [25, 50, 4]; then 50+25=75, left [4, 75]."; leaves `state` at the final pair.
std::string path_line(std::vector<std::int64_t>& state, const Path& path) {
  std::string out = "Try ";
  for (size_t k = 0; k < path.size(); ++k) {
    const Move& m = path[k];
    const std::int64_t r = result_of(state, m);
    out += cat(k ? "; then " : "", state[m.i], m.op, state[m.j], "=", r);
    state = apply(state, m, r);
    out += cat(", left ", list(state, ", "));
  }
  return out + ".\n";
}

// "75+4=79, 75-4=71, 75*4=300, 75/4 no. Dead end." over the final pair, stopping at the target.
std::string pair_line(const std::vector<std::int64_t>& pair, std::int64_t target, Move* hit) {
  const Move m{pair[0] >= pair[1] ? size_t{0} : size_t{1}, pair[0] >= pair[1] ? size_t{1} : size_t{0}, '+'};
  const std::int64_t x = pair[m.i], y = pair[m.j];
  std::string out;
  for (char op : kOps) {
    if (op != '+') out += ", ";
    std::int64_t r = 0;
    const bool ok = classic(x, y, op, r) || (op == '-' && x == y);  // x-y=0 is true arithmetic too
    out += ok ? cat(x, op, y, "=", r) : cat(x, op, y, " no");
    if (ok && r == target) {
      *hit = Move{m.i, m.j, op};
      return out + ". Found it.\n";
    }
  }
  return out + ". Dead end.\n";
}

// An expression and its precedence: 3 a number, 2 a product or quotient, 1 a sum or difference.
struct Item {
  std::string expr;
  int prec = 3;
};

// x op y with the fewest parentheses that keep the value (+ and * regroup exactly on rationals).
Item combine(const Item& x, const Item& y, char op) {
  const int prec = (op == '+' || op == '-') ? 1 : 2;
  const bool commutative = op == '+' || op == '*';
  const std::string l = x.prec < prec ? "(" + x.expr + ")" : x.expr;
  const bool wrap = y.prec < prec || (y.prec == prec && !commutative);
  const std::string r = wrap ? "(" + y.expr + ")" : y.expr;
  return Item{l + op + r, prec};
}

void check_numbers(const std::vector<std::int64_t>& numbers) {
  if (numbers.size() < 2 || numbers.size() > 6)
    fail(ErrorKind::kInvalidArgument, "countdown needs 2..6 numbers, got ", numbers.size());
  for (std::int64_t n : numbers)
    if (n < 1 || n > 1000000) fail(ErrorKind::kInvalidArgument, "countdown number ", n, " is outside [1, 10^6]");
}

}  // namespace

std::vector<std::int64_t> reachable_targets(const std::vector<std::int64_t>& numbers) {
  check_numbers(numbers);
  std::vector<std::int64_t> out;
  Values state;
  for (std::int64_t n : numbers) state.v[state.n++] = n;
  reach(state, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

Problem countdown_problem(const std::vector<std::int64_t>& numbers, std::int64_t target) {
  Problem p;
  p.task = TaskKind::kCountdown;
  p.numbers = numbers;
  p.target = target;
  p.id = cat("countdown:", list(numbers, ","), "=", target);
  p.prompt = cat("Using the numbers ", list(numbers, ", "), ", create an equation that equals ", target,
                 ". You may use +, -, *, / and parentheses, and must use each number exactly once. "
                 "Think step by step, then give only the expression in \\boxed{}.");
  return p;
}

}  // namespace

Problem make_countdown(const std::vector<std::int64_t>& numbers, std::int64_t target) {
  const std::vector<std::int64_t> reachable = reachable_targets(numbers);
  if (!std::binary_search(reachable.begin(), reachable.end(), target))
    fail(ErrorKind::kInvalidArgument, "countdown ", list(numbers, ", "), " cannot make ", target, " by classic rules");
  Problem p = countdown_problem(numbers, target);
  countdown_reasoning(p, &p.answer);
  return p;
}

Problem draw_countdown(Rng& rng, const Difficulty& d) {
  for (;;) {
    const int n = static_cast<int>(rng.uniform(d.min_numbers, d.max_numbers));
    std::vector<std::int64_t> numbers;
    for (int k = 0; k < n; ++k) numbers.push_back(rng.uniform(1, d.max_number));
    const std::vector<std::int64_t> reachable = reachable_targets(numbers);
    const auto lo = std::lower_bound(reachable.begin(), reachable.end(), d.min_target);
    const auto hi = std::upper_bound(reachable.begin(), reachable.end(), d.max_target);
    if (lo != hi) return countdown_problem(numbers, *(lo + rng.uniform(0, hi - lo - 1)));
  }
}

std::string countdown_reasoning(const Problem& problem, std::string* expression) {
  check_numbers(problem.numbers);
  std::vector<std::pair<Path, bool>> all;
  Path path;
  prefixes(problem.numbers, problem.target, path, all);
  std::vector<size_t> wins, losses;
  for (size_t k = 0; k < all.size(); ++k) (all[k].second ? wins : losses).push_back(k);
  if (wins.empty())
    fail(ErrorKind::kInvalidArgument, "problem ", problem.id, ": no classic-rules solution to write a trace for");

  // Which dead ends to show and which solution to find depend only on the problem.
  Rng rng(hash_string(problem.id));
  const Path& win = all[wins[rng.uniform(0, static_cast<std::int64_t>(wins.size()) - 1)]].first;
  const std::int64_t n_losses = rng.uniform(0, std::min<std::int64_t>(3, static_cast<std::int64_t>(losses.size())));
  std::string out = cat("Target ", problem.target, " with ", list(problem.numbers, ", "), ".\n");
  std::vector<std::string> shown;
  for (size_t k = 0; static_cast<std::int64_t>(shown.size()) < n_losses && k < losses.size(); ++k) {
    std::swap(losses[k], losses[k + rng.uniform(0, static_cast<std::int64_t>(losses.size() - k) - 1)]);
    std::vector<std::int64_t> state = problem.numbers;
    std::string text = path_line(state, all[losses[k]].first);
    if (std::find(shown.begin(), shown.end(), text) != shown.end()) continue;  // equal numbers repeat paths
    shown.push_back(text);
    Move unused;
    out += text + pair_line(state, problem.target, &unused);
  }

  std::vector<std::int64_t> state = problem.numbers;
  out += path_line(state, win);
  Move last;
  out += pair_line(state, problem.target, &last);

  // Build the expression back, one line per step: "50-25=25", "(50-25)*3=75".
  std::vector<std::int64_t> values = problem.numbers;
  std::vector<Item> items;
  for (std::int64_t v : values) items.push_back(Item{std::to_string(v), 3});
  Path steps = win;
  steps.push_back(last);
  for (size_t k = 0; k < steps.size(); ++k) {
    const Move& m = steps[k];
    const std::int64_t r = result_of(values, m);
    const Item item = combine(items[m.i], items[m.j], m.op);
    out += cat(item.expr, "=", r, k + 1 < steps.size() ? "\n" : "");
    items = apply(items, m, item);
    values = apply(values, m, r);
  }
  if (expression) *expression = items[0].expr;
  return out;
}

AnswerCheck check_countdown(const Problem& problem, std::string_view answer) {
  AnswerCheck check;
  const ExpressionValue v = evaluate_expression(answer);
  if (!v.ok) {
    check.note = "invalid expression: " + v.error;
    return check;
  }
  std::vector<std::int64_t> used = v.literals, given = problem.numbers;
  std::sort(used.begin(), used.end());
  std::sort(given.begin(), given.end());
  if (used != given) {
    check.note = cat("uses the numbers ", list(used, ", "), " but must use exactly ", list(given, ", "));
    return check;
  }
  check.correct = v.value.den == 1 && v.value.num == problem.target;
  if (!check.correct)
    check.note = cat("value is ", int128_to_string(v.value.num),
                     v.value.den == 1 ? std::string() : "/" + int128_to_string(v.value.den), ", not ", problem.target);
  return check;
}

}  // namespace whale::train::tasks
