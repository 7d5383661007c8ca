// Tasks and verifiers (src/train/tasks): hand-written responses with known verdicts, the exact
// expression parser, every generated solution verifying (and every equation in it being true),
// split disjointness against an exhaustive enumeration, determinism, difficulty knobs, solvability.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/tasks/arithmetic.h"
#include "train/tasks/countdown.h"
#include "train/tasks/expression.h"
#include "train/tasks/response.h"
#include "train/tasks/task.h"

namespace whale::train::tasks {
namespace {

Problem add_4821_937() { return make_arithmetic(TaskKind::kAddition, 4821, 937); }
Problem countdown_75() { return make_countdown({3, 7, 25, 50}, 75); }

// A countdown problem built by hand, bypassing the classic-rules check of make_countdown.
Problem custom_countdown(std::vector<std::int64_t> numbers, std::int64_t target) {
  Problem p;
  p.task = TaskKind::kCountdown;
  p.numbers = std::move(numbers);
  p.target = target;
  return p;
}

std::string boxed(const std::string& answer) { return "<think>\nworking\n</think>\n\\boxed{" + answer + "}"; }

// Every "lhs=rhs" in a trace, with lhs a run of digits, + - * / and parentheses, must be exact.
void expect_equations_true(const std::string& text) {
  auto in_lhs = [](char c) { return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '*' || c == '/' || c == '(' || c == ')'; };
  int n = 0;
  for (size_t eq = text.find('='); eq != std::string::npos; eq = text.find('=', eq + 1)) {
    size_t b = eq;
    while (b > 0 && in_lhs(text[b - 1])) --b;
    size_t e = eq + 1;
    if (e < text.size() && text[e] == '-') ++e;
    while (e < text.size() && text[e] >= '0' && text[e] <= '9') ++e;
    const std::string lhs_text = text.substr(b, eq - b);
    ExpressionValue lhs = evaluate_expression(lhs_text);
    const size_t op = lhs_text.find_first_of("+-*", 1);
    Int128 x = 0, y = 0;
    if (!lhs.ok && op != std::string::npos && parse_int128(lhs_text.substr(0, op), x) &&
        parse_int128(lhs_text.substr(op + 1), y)) {  // "a op b" with operands past the parser's 18 digits
      lhs.ok = true;
      lhs.value.num = lhs_text[op] == '+' ? x + y : lhs_text[op] == '-' ? x - y : x * y;
    }
    Int128 rhs = 0;
    ASSERT_TRUE(lhs.ok && parse_int128(text.substr(eq + 1, e - eq - 1), rhs)) << text.substr(b, e - b) << "\n" << text;
    EXPECT_TRUE(lhs.value.den == 1 && lhs.value.num == rhs) << text.substr(b, e - b) << "\n" << text;
    ++n;
  }
  EXPECT_GT(n, 0) << text;
}

TEST(Tasks, PromptsAndSolutionShape) {
  EXPECT_EQ(add_4821_937().prompt, "What is 4821 + 937? Think step by step, then give the final answer in \\boxed{}.");
  EXPECT_EQ(make_arithmetic(TaskKind::kMultiplication, 12, 34).prompt,
            "What is 12 * 34? Think step by step, then give the final answer in \\boxed{}.");
  EXPECT_EQ(countdown_75().prompt,
            "Using the numbers [3, 7, 25, 50], create an equation that equals 75. You may use +, -, *, / and "
            "parentheses, and must use each number exactly once. Think step by step, then give only the expression "
            "in \\boxed{}.");
  EXPECT_EQ(add_4821_937().id, "addition:4821+937");
  EXPECT_EQ(add_4821_937().answer, "5758");
  EXPECT_EQ(make_arithmetic(TaskKind::kSubtraction, 4821, 9370).answer, "-4549");
  EXPECT_EQ(make_arithmetic(TaskKind::kMultiplication, 999999999999999999, 999999999999999999).answer,
            "999999999999999998000000000000000001");
  EXPECT_EQ(solution(add_4821_937()),
            "<think>\nAdd 4821+937 column by column from the right.\n"
            "1+7+0=8, write 8, carry 0\n2+3+0=5, write 5, carry 0\n8+9+0=17, write 7, carry 1\n"
            "4+0+1=5, write 5, carry 0\nSo 4821+937=5758.\n</think>\n\\boxed{5758}");
  const std::string sub = solution(make_arithmetic(TaskKind::kSubtraction, 52, 307));
  EXPECT_NE(sub.find("52 is less than 307, so compute 307-52 and make it negative."), std::string::npos) << sub;
  EXPECT_NE(sub.find("0-5-0 is negative, so 10-5-0=5, write 5, borrow 1\n3-0-1=2, write 2, borrow 0"), std::string::npos)
      << sub;
  const std::string mul = solution(make_arithmetic(TaskKind::kMultiplication, 305, 608));
  EXPECT_NE(mul.find("305*0=0\n"), std::string::npos) << mul;
  EXPECT_NE(mul.find("305*6=1830, shift by 2: 183000"), std::string::npos) << mul;
  const std::string cd = solution(countdown_75());
  EXPECT_EQ(cd.rfind("<think>\nTarget 75 with [3, 7, 25, 50].\n", 0), 0u) << cd;
  EXPECT_NE(cd.find("Found it."), std::string::npos) << cd;
  EXPECT_THROW(make_arithmetic(TaskKind::kAddition, -1, 2), Error);
  EXPECT_THROW(make_arithmetic(TaskKind::kCountdown, 1, 2), Error);
}

TEST(Tasks, ResponseExtraction) {
  const Problem p = add_4821_937();
  struct Case {
    std::string response;
    bool format_ok, present, correct;
    std::string extracted;
  };
  const std::vector<Case> cases = {
      {"<think>\n1+7=8 ...\n</think>\n\\boxed{5758}", true, true, true, "5758"},
      {"  <think>r</think> The answer is \\boxed{ 5758 }.", true, true, true, " 5758 "},
      {"<think>r</think>\\boxed{5757}", true, true, false, "5757"},
      {"<think>r</think> The answer is 5758.", false, false, false, ""},                // missing box
      {"<think>so \\boxed{5758}</think> done", false, false, false, ""},                // box inside think only
      {"<think>so \\boxed{5758} and still thinking", false, false, false, ""},          // think never closed
      {"<think>a<think>b</think>\\boxed{5758}", false, true, true, "5758"},              // two <think>
      {"<think>a</think>b</think>\\boxed{5758}", false, true, true, "5758"},             // two </think>
      {"reasoning</think>\\boxed{5758}", false, true, true, "5758"},                     // opened by the template
      {"Sure. <think>r</think>\\boxed{5758}", false, true, true, "5758"},                // text before <think>
      {"<think> \n </think>\\boxed{5758}", false, true, true, "5758"},                   // blank reasoning
      {"\\boxed{5758}", false, true, true, "5758"},                                      // no tags at all
      {"<think>r</think>\\boxed{5757} or \\boxed{5758}", false, true, true, "5758"},     // the last box counts
      {"<think>r</think>\\boxed{5758} or \\boxed{5757}", false, true, false, "5757"},
      {"<think>r</think>use \\boxed{} like \\boxed{5758}", true, true, true, "5758"},    // blank boxes ignored
      {"<think>r</think>\\boxed{5758", false, false, false, ""},                         // unclosed
      {"<think>r</think>\\boxed{\\frac{1}{2}}", true, true, false, "\\frac{1}{2}"},      // nested braces
      {"<think>r</think>\\boxed{05758}", true, true, true, "05758"},                     // leading zeros: same integer
      {"<think>r</think>\\boxed{5,758}", true, true, false, "5,758"},
      {"<think>r</think>\\boxed{+5758}", true, true, false, "+5758"},
      {"<think>r</think>\\boxed{5758.0}", true, true, false, "5758.0"},
      {"<think>r</think>\\boxed{99999999999999999999999999999999999999999}", true, true, false,
       "99999999999999999999999999999999999999999"},
      // The model's own arithmetic is never trusted: only the boxed value, checked by the program.
      {"<think>4821+937=9999</think>\\boxed{9999}", true, true, false, "9999"},
      {"", false, false, false, ""},
  };
  for (const Case& c : cases) {
    const Verdict v = verify(p, c.response);
    EXPECT_EQ(v.format_ok, c.format_ok) << c.response;
    EXPECT_EQ(v.answer_present, c.present) << c.response;
    EXPECT_EQ(v.correct, c.correct) << c.response;
    EXPECT_EQ(v.extracted, c.extracted) << c.response;
    EXPECT_EQ(v.note.empty(), c.correct) << c.response << " note: " << v.note;
  }
  EXPECT_TRUE(verify(make_arithmetic(TaskKind::kSubtraction, 4821, 9370), boxed("-4549")).correct);
  EXPECT_FALSE(verify(make_arithmetic(TaskKind::kSubtraction, 4821, 9370), boxed("4549")).correct);
  EXPECT_FALSE(verify(make_arithmetic(TaskKind::kSubtraction, 5, 5), boxed("-0 0")).correct);
  EXPECT_TRUE(verify(make_arithmetic(TaskKind::kSubtraction, 5, 5), boxed("-0")).correct);
}

TEST(Tasks, Rewards) {
  const Problem p = add_4821_937();
  const Verdict right = verify(p, "<think>r</think>\\boxed{5758}");
  const Verdict wrong = verify(p, "<think>r</think>\\boxed{1}");
  const Verdict right_no_format = verify(p, "\\boxed{5758}");
  const Verdict none = verify(p, "<think>r</think>5758");
  EXPECT_EQ(accuracy_reward(right), 1.0);
  EXPECT_EQ(accuracy_reward(wrong), 0.0);
  EXPECT_EQ(format_reward(wrong), 1.0);
  EXPECT_EQ(format_reward(right_no_format), 0.0);
  EXPECT_EQ(tinyzero_reward(right), 1.0);
  EXPECT_EQ(tinyzero_reward(wrong), 0.1);
  EXPECT_EQ(tinyzero_reward(right_no_format), 1.0);
  EXPECT_EQ(tinyzero_reward(none), 0.0);
  EXPECT_EQ(tinyzero_reward(wrong, TinyZeroScore{2.0, 0.5}), 0.5);
  EXPECT_EQ(reward(right, RewardWeights{}), 2.0);  // R1: accuracy + format
  EXPECT_EQ(reward(wrong, RewardWeights{}), 1.0);
  EXPECT_EQ(reward(right_no_format, RewardWeights{}), 1.0);
  const RewardWeights tinyzero{0.0, 0.0, 1.0, {}};
  EXPECT_EQ(reward(wrong, tinyzero), 0.1);
  EXPECT_EQ(reward(none, tinyzero), 0.0);
  EXPECT_EQ(reward(right, RewardWeights{0.5, 0.25, 2.0, {}}), 0.5 + 0.25 + 2.0);
}

// Random responses built from the tokens that matter: verify never throws, and its flags agree.
TEST(Tasks, VerifyRandomResponses) {
  const std::vector<std::string> pieces = {"<think>", "</think>", "\\boxed{", "}", "{", "(", ")", "3", "7", "25",
                                           "50", "75", "+", "-", "*", "/", " ", "\n", "x", "0", "/0"};
  const Problem problems[] = {countdown_75(), add_4821_937()};
  Rng rng(5);
  int n_present = 0, n_format = 0;
  for (int k = 0; k < 20000; ++k) {
    std::string response = k % 2 ? "<think>r</think>\\boxed{" : "";
    const std::int64_t n = rng.uniform(0, 12);
    for (std::int64_t j = 0; j < n; ++j) response += pieces[rng.uniform(0, static_cast<std::int64_t>(pieces.size()) - 1)];
    if (k % 4 == 1) response += "}";
    for (const Problem& p : problems) {
      Verdict v;
      ASSERT_NO_THROW(v = verify(p, response)) << response;
      EXPECT_TRUE(!v.correct || v.answer_present) << response;
      EXPECT_TRUE(!v.format_ok || v.answer_present) << response;
      EXPECT_EQ(v.answer_present, !v.extracted.empty()) << response;
      n_present += v.answer_present;
      n_format += v.format_ok;
    }
  }
  EXPECT_GT(n_present, 1000);  // the flags are exercised both ways
  EXPECT_GT(n_format, 1000);
}

TEST(Tasks, ExpressionParser) {
  auto value = [](const char* text) {
    const ExpressionValue v = evaluate_expression(text);
    EXPECT_TRUE(v.ok) << text << ": " << v.error;
    return int128_to_string(v.value.num) + "/" + int128_to_string(v.value.den);
  };
  EXPECT_EQ(value("2+3*4"), "14/1");
  EXPECT_EQ(value("(2+3)*4"), "20/1");
  EXPECT_EQ(value("8/4/2"), "1/1");  // left associative
  EXPECT_EQ(value("8-4-2"), "2/1");
  EXPECT_EQ(value("1/3+1/6"), "1/2");
  EXPECT_EQ(value(" ( 6 ) / ( 1 - 3 / 4 ) "), "24/1");
  EXPECT_EQ(value("2-7"), "-5/1");
  EXPECT_EQ(value("3/(2-8)"), "-1/2");
  EXPECT_EQ(evaluate_expression("25*7+50/3").literals, (std::vector<std::int64_t>{25, 7, 50, 3}));
  for (const char* bad : {"", " ", "2+", "2 3", "2++3", "(2", "2)", "()", "-2", "2.5", "1/0", "1/(2-2)", "2*x",
                          "2=2", "2\t+3", "1234567890123456789", "2^3", "[2]"}) {
    EXPECT_FALSE(evaluate_expression(bad).ok) << bad;
    EXPECT_FALSE(evaluate_expression(bad).error.empty()) << bad;
  }
  EXPECT_EQ(evaluate_expression("1/(2-2)").error, "division by zero");
  EXPECT_TRUE(evaluate_expression(std::string(64, '(') + "1" + std::string(64, ')')).ok);
  EXPECT_FALSE(evaluate_expression(std::string(65, '(') + "1" + std::string(65, ')')).ok);
  EXPECT_FALSE(evaluate_expression(std::string(100000, '(')).ok);
  // 128-bit overflow is an error, never a wrapped value.
  EXPECT_FALSE(evaluate_expression("999999999999999999*999999999999999999*999999999999999999").ok);
}

TEST(Tasks, CountdownVerifier) {
  const Problem p = countdown_75();  // [3, 7, 25, 50] -> 75
  struct Case {
    std::string answer;
    bool correct;
  };
  const std::vector<Case> cases = {
      {"(25*7+50)/3", true},
      {" ( 25 * 7 + 50 ) / 3 ", true},   // spaces anywhere between tokens
      {"(50+7*25)/3", true},             // any order
      {"50+25", false},                  // numbers left unused
      {"50+25+3-3", false},              // 3 reused, 7 unused
      {"50+25+7-7+3-3", false},          // every number, some twice
      {"50+25*(7-3)", false},            // uses 3, 7, 25, 50 but = 150
      {"75+7-3-4", false},               // numbers not given
      {"(25*7+50)/3=75", false},         // extra characters
      {"(25*7+50)/3.", false},
      {"(25×7+50)/3", false},
      {"$(25*7+50)/3$", false},
      {"25*7+50)/3", false},             // unbalanced
      {"(25*7+50)/(3-3+7-7)", false},    // division by zero
  };
  for (const Case& c : cases) {
    const Verdict v = verify(p, boxed(c.answer));
    EXPECT_TRUE(v.answer_present) << c.answer;
    EXPECT_EQ(v.correct, c.correct) << c.answer << " note: " << v.note;
  }
  EXPECT_NE(verify(p, boxed("50+25+3-3")).note.find("must use exactly [3, 7, 25, 50]"), std::string::npos);
  EXPECT_EQ(verify(p, boxed("(25*7+50)/(3-3+7-7)")).note, "invalid expression: division by zero");
  EXPECT_EQ(verify(custom_countdown({2, 2, 5}, 1), boxed("5/(2-2)")).note, "invalid expression: division by zero");
  // Rule: intermediates may be fractions or negative; only the exact final value counts.
  EXPECT_TRUE(verify(custom_countdown({1, 3, 4, 6}, 24), boxed("6/(1-3/4)")).correct);
  EXPECT_FALSE(verify(custom_countdown({1, 3, 4, 6}, 24), boxed("6/(1-4/3)")).correct);  // = -18
  EXPECT_TRUE(verify(custom_countdown({2, 5, 10, 35}, 5), boxed("(2-5)*10+35")).correct);
  // A final value that is near but not equal to the target is wrong (no float tolerance needed).
  EXPECT_FALSE(verify(custom_countdown({1, 3, 100000}, 33333), boxed("100000/3*1")).correct);
  // 1,3,4,6 -> 24 needs a fraction, so classic rules (the generator's) have no solution.
  EXPECT_THROW(make_countdown({1, 3, 4, 6}, 24), Error);
  EXPECT_THROW(solution(custom_countdown({1, 3, 4, 6}, 24)), Error);
}

TEST(Tasks, ReachableTargetsByHand) {
  EXPECT_EQ(reachable_targets({2, 3}), (std::vector<std::int64_t>{1, 5, 6}));    // 3-2, 2+3, 2*3; 3/2 is not whole
  EXPECT_EQ(reachable_targets({1, 1}), (std::vector<std::int64_t>{1, 2}));       // 1-1 = 0 is not positive
  EXPECT_EQ(reachable_targets({4, 2}), (std::vector<std::int64_t>{2, 6, 8}));    // 4-2 and 4/2 coincide
  const std::vector<std::int64_t> r = reachable_targets({1, 2, 3});
  EXPECT_EQ(r, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));  // 8 = (1+3)*2
  EXPECT_THROW(reachable_targets({0, 2}), Error);
  EXPECT_THROW(reachable_targets({1}), Error);
}

TaskSpec spec(TaskKind task, Split split, int count, std::uint64_t seed, Difficulty d = {}) {
  TaskSpec s;
  s.task = task;
  s.split = split;
  s.count = count;
  s.seed = seed;
  s.difficulty = d;
  return s;
}

// Every generated problem's worked solution verifies, is well formed, and every equation in it is
// true; the stored canonical answer verifies too.
TEST(Tasks, GeneratedSolutionsVerify) {
  Difficulty wide;
  wide.min_digits = 1;
  wide.max_digits = 7;
  for (TaskKind task : all_tasks()) {
    const std::vector<Problem> problems = generate(spec(task, Split::kTrain, 3000, 11, wide));
    ASSERT_EQ(problems.size(), 3000u);
    for (size_t k = 0; k < problems.size(); ++k) {
      const Problem& p = problems[k];
      const std::string s = solution(p);
      const Verdict v = verify(p, s);
      ASSERT_TRUE(v.format_ok && v.answer_present && v.correct) << p.id << " " << v.note << "\n" << s;
      EXPECT_EQ(v.extracted, p.answer) << p.id;
      if (k % 5 == 0) expect_equations_true(s);
    }
  }
  Difficulty huge;
  huge.min_digits = huge.max_digits = 18;
  for (TaskKind task : {TaskKind::kAddition, TaskKind::kSubtraction, TaskKind::kMultiplication})
    for (const Problem& p : generate(spec(task, Split::kTest, 40, 5, huge))) {
      const std::string s = solution(p);
      ASSERT_TRUE(verify(p, s).correct) << p.id << "\n" << s;
      expect_equations_true(s);
    }
  Difficulty five;
  five.min_numbers = five.max_numbers = 5;
  five.max_target = 1000;
  for (const Problem& p : generate(spec(TaskKind::kCountdown, Split::kTrain, 30, 3, five))) {
    ASSERT_TRUE(verify(p, solution(p)).correct) << p.id;
    expect_equations_true(solution(p));
  }
}

TEST(Tasks, SplitsAreDisjoint) {
  Difficulty d;
  d.min_digits = 1;
  d.max_digits = 3;
  for (TaskKind task : all_tasks()) {
    std::set<std::string> test;
    for (const Problem& p : generate(spec(task, Split::kTest, 300, 1, d))) {
      EXPECT_EQ(split_of(p), Split::kTest);
      test.insert(split_key(p));
    }
    ASSERT_EQ(test.size(), 300u);  // unique by default
    for (std::uint64_t seed : {1, 2, 3})
      for (Split split : {Split::kTrain, Split::kValidation})
        for (const Problem& p : generate(spec(task, split, split == Split::kTrain ? (task == TaskKind::kCountdown ? 1500 : 4000) : 300, seed, d))) {
          ASSERT_EQ(split_of(p), split);
          ASSERT_EQ(test.count(split_key(p)), 0u) << p.id << " is in test";
        }
  }
  // Commutative operands share a key, so a swapped test item can never be trained on.
  EXPECT_EQ(split_key(make_arithmetic(TaskKind::kAddition, 937, 4821)), split_key(add_4821_937()));
  EXPECT_NE(split_key(make_arithmetic(TaskKind::kSubtraction, 937, 4821)),
            split_key(make_arithmetic(TaskKind::kSubtraction, 4821, 937)));
  EXPECT_EQ(split_key(make_countdown({50, 3, 25, 7}, 75)), split_key(countdown_75()));
}

// One-digit addition has 55 distinct keys: the generator must find exactly the train ones.
TEST(Tasks, SplitsMatchExhaustiveEnumeration) {
  std::set<std::string> by_split[3];
  for (int a = 0; a <= 9; ++a)
    for (int b = 0; b <= 9; ++b) {
      const Problem p = make_arithmetic(TaskKind::kAddition, a, b);
      by_split[static_cast<int>(split_of(p))].insert(split_key(p));
    }
  ASSERT_EQ(by_split[0].size() + by_split[1].size() + by_split[2].size(), 55u);
  Difficulty one;
  one.min_digits = one.max_digits = 1;
  for (Split split : {Split::kTrain, Split::kValidation, Split::kTest}) {
    const auto& keys = by_split[static_cast<int>(split)];
    const int n = static_cast<int>(keys.size());
    std::set<std::string> got;
    for (const Problem& p : generate(spec(TaskKind::kAddition, split, n, 9, one))) got.insert(split_key(p));
    EXPECT_EQ(got, keys) << split_name(split);
    EXPECT_THROW(generate(spec(TaskKind::kAddition, split, n + 1, 9, one)), Error);
  }
  // About 90/5/5 over a large space.
  Rng rng(123);
  int counts[3] = {0, 0, 0};
  for (int k = 0; k < 40000; ++k)
    ++counts[static_cast<int>(split_of(make_arithmetic(TaskKind::kAddition, rng.uniform(0, 99999), rng.uniform(0, 99999))))];
  EXPECT_NEAR(counts[0] / 40000.0, 0.90, 0.01);
  EXPECT_NEAR(counts[1] / 40000.0, 0.05, 0.006);
  EXPECT_NEAR(counts[2] / 40000.0, 0.05, 0.006);
}

TEST(Tasks, DeterministicPerSeed) {
  for (TaskKind task : all_tasks()) {
    const std::vector<Problem> a = generate(spec(task, Split::kTrain, 200, 42));
    const std::vector<Problem> b = generate(spec(task, Split::kTrain, 200, 42));
    const std::vector<Problem> c = generate(spec(task, Split::kTrain, 200, 43));
    ASSERT_EQ(a.size(), b.size());
    int same_as_c = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].id, b[k].id);
      EXPECT_EQ(a[k].prompt, b[k].prompt);
      EXPECT_EQ(a[k].answer, b[k].answer);
      EXPECT_EQ(solution(a[k]), solution(b[k]));
      same_as_c += a[k].id == c[k].id;
    }
    EXPECT_LT(same_as_c, 20) << task_name(task);
  }
  // A fixed seed names fixed problems on every machine (own RNG, no std distributions).
  EXPECT_EQ(generate(spec(TaskKind::kAddition, Split::kTrain, 1, 0))[0].id,
            generate(spec(TaskKind::kAddition, Split::kTrain, 1, 0))[0].id);
  Rng rng(7);
  EXPECT_EQ(rng.next(), mix64(7 + 0x9e3779b97f4a7c15ull));
}

TEST(Tasks, DifficultyKnobs) {
  auto mean_solution_length = [](const std::vector<Problem>& ps) {
    double total = 0;
    for (const Problem& p : ps) total += static_cast<double>(solution(p).size());
    return total / static_cast<double>(ps.size());
  };
  for (TaskKind task : {TaskKind::kAddition, TaskKind::kSubtraction, TaskKind::kMultiplication}) {
    Difficulty d;
    d.min_digits = d.max_digits = 6;
    const std::vector<Problem> six = generate(spec(task, Split::kTrain, 300, 1, d));
    for (const Problem& p : six)
      for (std::int64_t n : p.numbers) EXPECT_EQ(std::to_string(n).size(), 6u) << p.id;
    d.min_digits = d.max_digits = 2;
    const std::vector<Problem> two = generate(spec(task, Split::kTrain, 300, 1, d));
    for (const Problem& p : two)
      for (std::int64_t n : p.numbers) EXPECT_EQ(std::to_string(n).size(), 2u) << p.id;
    EXPECT_GT(mean_solution_length(six), 1.5 * mean_solution_length(two)) << task_name(task);
  }
  Difficulty d;
  d.min_numbers = d.max_numbers = 3;
  d.max_number = 20;
  d.min_target = 30;
  d.max_target = 60;
  for (const Problem& p : generate(spec(TaskKind::kCountdown, Split::kTrain, 300, 1, d))) {
    EXPECT_EQ(p.numbers.size(), 3u);
    for (std::int64_t n : p.numbers) EXPECT_TRUE(n >= 1 && n <= 20) << p.id;
    EXPECT_TRUE(p.target >= 30 && p.target <= 60) << p.id;
  }
  std::set<size_t> sizes;
  for (const Problem& p : generate(spec(TaskKind::kCountdown, Split::kTrain, 300, 1))) sizes.insert(p.numbers.size());
  EXPECT_EQ(sizes, (std::set<size_t>{3, 4}));  // default: 3 to 4 numbers
  d.max_numbers = 6;
  EXPECT_THROW(generate(spec(TaskKind::kCountdown, Split::kTrain, 1, 1, d)), Error);
  Difficulty bad;
  bad.min_digits = 3;
  bad.max_digits = 2;
  EXPECT_THROW(generate(spec(TaskKind::kAddition, Split::kTrain, 1, 1, bad)), Error);
  bad.min_digits = 1;
  bad.max_digits = 19;
  EXPECT_THROW(generate(spec(TaskKind::kMultiplication, Split::kTrain, 1, 1, bad)), Error);
}

// Generated Countdown problems are solvable: the target is among the values an independent brute
// force over all expression trees (exact rationals) reaches, and the solver's trace finds it.
void brute_force(std::vector<Rational> values, std::set<std::pair<std::int64_t, std::int64_t>>& out) {
  if (values.size() == 1) {
    out.insert({static_cast<std::int64_t>(values[0].num), static_cast<std::int64_t>(values[0].den)});
    return;
  }
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t j = 0; j < values.size(); ++j) {
      if (i == j) continue;
      std::vector<Rational> rest;
      for (size_t k = 0; k < values.size(); ++k)
        if (k != i && k != j) rest.push_back(values[k]);
      const std::string x = "(" + int128_to_string(values[i].num) + "/" + int128_to_string(values[i].den) + ")";
      const std::string y = "(" + int128_to_string(values[j].num) + "/" + int128_to_string(values[j].den) + ")";
      for (const char* op : {"+", "-", "*", "/"}) {
        const ExpressionValue v = evaluate_expression(x + op + y);
        if (!v.ok) continue;
        rest.push_back(v.value);
        brute_force(rest, out);
        rest.pop_back();
      }
    }
}

TEST(Tasks, CountdownSolvable) {
  Difficulty d;
  d.min_numbers = d.max_numbers = 3;
  for (const Problem& p : generate(spec(TaskKind::kCountdown, Split::kValidation, 40, 8, d))) {
    std::vector<Rational> values;
    for (std::int64_t n : p.numbers) values.push_back(Rational{n, 1});
    std::set<std::pair<std::int64_t, std::int64_t>> reached;
    brute_force(values, reached);
    EXPECT_EQ(reached.count({p.target, 1}), 1u) << p.id;
    EXPECT_TRUE(verify(p, boxed(p.answer)).correct) << p.id;
  }
  for (const Problem& p : generate(spec(TaskKind::kCountdown, Split::kTest, 300, 8))) {
    const std::vector<std::int64_t> r = reachable_targets(p.numbers);
    EXPECT_TRUE(std::binary_search(r.begin(), r.end(), p.target)) << p.id;
    EXPECT_TRUE(p.target >= 10 && p.target <= 100) << p.id;
    EXPECT_TRUE(verify(p, solution(p)).correct) << p.id;
  }
}

TEST(Tasks, Names) {
  for (TaskKind t : all_tasks()) EXPECT_EQ(parse_task(task_name(t)), t);
  EXPECT_EQ(parse_task("mul"), TaskKind::kMultiplication);
  EXPECT_EQ(parse_split("val"), Split::kValidation);
  EXPECT_EQ(parse_split(split_name(Split::kTest)), Split::kTest);
  EXPECT_THROW(parse_task("division"), Error);
  EXPECT_THROW(parse_split("dev"), Error);
}

}  // namespace
}  // namespace whale::train::tasks
