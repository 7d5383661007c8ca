// The surface-form tables (one per task, first-turn and follow-up) and their rendering. The
// held-out rows include every phrasing of issue 18's table; tests/train/phrasing_test.cpp checks
// that no held-out form equals a training form up to spacing, case and end punctuation.
#include "train/tasks/phrasing.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "train/tasks/rng.h"

namespace whale::train::tasks {
namespace {

constexpr bool H = true;   // held out: evaluation only
constexpr bool T = false;  // training

// clang-format off
constexpr Form kAddition[] = {
  {"template", "What is {a} + {b}? Think step by step, then give the final answer in \\boxed{}.", T},
  {"question", "What is {a} plus {b}?", T},
  {"question", "What's {a} plus {b}?", T},
  {"question", "How much is {a} + {b}?", T},
  {"question", "How much is {a} plus {b}?", T},
  {"question", "What do you get when you add {a} and {b}?", T},
  {"question", "If you add {a} and {b}, what do you get?", T},
  {"question", "WHAT IS {a} PLUS {b}?", T},
  {"question", "what is {a} plus {b}", T},
  {"question", "Can you add {a} and {b}?", T},
  {"question", "Could you work out {a} + {b}?", T},
  {"question", "Quick question: {a} + {b}?", T},
  {"imperative", "Add {a} and {b}.", T},
  {"imperative", "Add {a} + {b}.", T},
  {"imperative", "Please add {a} and {b}.", T},
  {"imperative", "Calculate {a} plus {b}.", T},
  {"imperative", "Compute {a} plus {b}", T},
  {"imperative", "Evaluate {a} + {b}.", T},
  {"imperative", "Solve {a} + {b}.", T},
  {"imperative", "Work out {a} plus {b}.", T},
  {"imperative", "Tell me {a} + {b}.", T},
  {"imperative", "Find {a} + {b}.", T},
  {"imperative", "add {a} to {b}", T},
  {"noun", "What is the sum of {a} and {b}?", T},
  {"noun", "Find the sum of {a} and {b}.", T},
  {"noun", "Compute the sum of {a} and {b}.", T},
  {"noun", "Sum of {a} and {b}?", T},
  {"noun", "The total of {a} and {b} is?", T},
  {"equation", "{a} + {b}", T},
  {"equation", "{a}+{b}", T},
  {"equation", "{a} + {b} = what", T},
  {"equation", "{a} plus {b}", T},
  {"equation", "{a} plus {b} equals?", T},
  {"equation", "{a} + {b} equals what?", T},
  {"zh", "{a}加{b}等于多少？", T},
  {"zh", "{a}加上{b}是多少？", T},
  {"zh", "{a}加{b}是多少", T},
  {"zh", "计算 {a} + {b}", T},
  {"zh", "计算{a}加{b}。", T},
  {"zh", "请计算 {a} 加 {b}。", T},
  {"zh", "{a} + {b} 等于几？", T},
  {"zh", "求{a}和{b}的和。", T},
  {"zh", "算一下{a}加{b}。", T},
  {"zh", "{a}+{b}等于多少？请一步一步思考。", T},
  {"zh", "{a}加{b}得几？", T},
  {"zh", "帮我算{a}加{b}", T},
  {"zh", "{a}与{b}相加得多少？", T},
  // Version 2 (configs/chat-sft2.json): more constructions per family.
  {"question", "Hey, what's {a} plus {b}?", T, 2},
  {"question", "Do you know what {a} plus {b} is?", T, 2},
  {"imperative", "Please compute {a} plus {b}.", T, 2},
  {"imperative", "Help me add {a} and {b}.", T, 2},
  {"imperative", "I need {a} + {b}.", T, 2},
  {"imperative", "Do {a} plus {b} for me.", T, 2},
  {"zh", "{a}和{b}加起来是多少？", T, 2},
  {"zh", "你能算出{a}加{b}吗？", T, 2},
  {"zh", "{a}加{b}的结果是多少？", T, 2},
  {"zh", "问一下，{a}加{b}等于几？", T, 2},
  // held out
  {"question", "What is {a} + {b}?", H},
  {"question", "What's {a} + {b}?", H},
  {"question", "What is {a}+{b}?", H},
  {"question", "How much do {a} and {b} make together?", H},
  {"imperative", "Calculate {a} + {b}.", H},
  {"imperative", "Compute {a} + {b}, please.", H},
  {"imperative", "Please tell me the sum of {a} and {b}.", H},
  {"equation", "{a} + {b} = ?", H},
  {"equation", "{a}+{b}=?", H},
  {"equation", "{a} plus {b} is what?", H},
  {"zh", "{a}与{b}的和是多少？", H},
  {"zh", "请问{a}加{b}得多少？", H},
};

constexpr Form kSubtraction[] = {
  {"template", "What is {a} - {b}? Think step by step, then give the final answer in \\boxed{}.", T},
  {"question", "What is {a} minus {b}?", T},
  {"question", "What's {a} minus {b}?", T},
  {"question", "How much is {a} - {b}?", T},
  {"question", "How much is {a} minus {b}?", T},
  {"question", "What do you get when you subtract {b} from {a}?", T},
  {"question", "If you take {b} away from {a}, what is left?", T},
  {"question", "WHAT IS {a} MINUS {b}?", T},
  {"question", "what is {a} minus {b}", T},
  {"question", "Can you subtract {b} from {a}?", T},
  {"question", "Could you work out {a} - {b}?", T},
  {"question", "Quick question: {a} - {b}?", T},
  {"imperative", "Subtract {b} from {a}.", T},
  {"imperative", "Please subtract {b} from {a}.", T},
  {"imperative", "Take {b} away from {a}.", T},
  {"imperative", "Calculate {a} minus {b}.", T},
  {"imperative", "Compute {a} minus {b}", T},
  {"imperative", "Evaluate {a} - {b}.", T},
  {"imperative", "Solve {a} - {b}.", T},
  {"imperative", "Work out {a} minus {b}.", T},
  {"imperative", "Tell me {a} - {b}.", T},
  {"imperative", "Find {a} - {b}.", T},
  {"imperative", "subtract {b} from {a}", T},
  {"noun", "What is {a} take away {b}?", T},
  {"noun", "What is {a} less {b}?", T},
  {"noun", "Find the result of {a} minus {b}.", T},
  {"noun", "The result of {a} - {b} is?", T},
  {"equation", "{a} - {b}", T},
  {"equation", "{a}-{b}", T},
  {"equation", "{a} - {b} = what", T},
  {"equation", "{a} minus {b}", T},
  {"equation", "{a} minus {b} equals?", T},
  {"equation", "{a} - {b} equals what?", T},
  {"zh", "{a}减{b}等于多少？", T},
  {"zh", "{a}减去{b}是多少？", T},
  {"zh", "{a}减{b}是多少", T},
  {"zh", "计算 {a} - {b}", T},
  {"zh", "计算{a}减{b}。", T},
  {"zh", "请计算 {a} 减 {b}。", T},
  {"zh", "{a} - {b} 等于几？", T},
  {"zh", "从{a}里减去{b}，得多少？", T},
  {"zh", "算一下{a}减{b}。", T},
  {"zh", "{a}-{b}等于多少？请一步一步思考。", T},
  {"zh", "{a}减{b}得几？", T},
  {"zh", "帮我算{a}减{b}", T},
  {"zh", "{a}减{b}的差是多少？", T},
  // Version 2 (configs/chat-sft2.json): more constructions per family.
  {"question", "Hey, what's {a} minus {b}?", T, 2},
  {"question", "Do you know what {a} minus {b} is?", T, 2},
  {"imperative", "Please compute {a} minus {b}.", T, 2},
  {"imperative", "Help me subtract {b} from {a}.", T, 2},
  {"imperative", "I need {a} - {b}.", T, 2},
  {"imperative", "Do {a} minus {b} for me.", T, 2},
  {"zh", "{a}减去{b}，结果是多少？", T, 2},
  {"zh", "你能算出{a}减{b}吗？", T, 2},
  {"zh", "{a}减{b}的结果是多少？", T, 2},
  {"zh", "问一下，{a}减{b}等于几？", T, 2},
  // held out
  {"question", "What is {a} - {b}?", H},
  {"question", "What's {a} - {b}?", H},
  {"question", "What is {a}-{b}?", H},
  {"question", "How much is left if {b} is taken from {a}?", H},
  {"imperative", "Calculate {a} - {b}.", H},
  {"imperative", "Compute {a} - {b}, please.", H},
  {"imperative", "Please take {b} away from {a} and tell me the result.", H},
  {"equation", "{a} - {b} = ?", H},
  {"equation", "{a}-{b}=?", H},
  {"equation", "{a} minus {b} is what?", H},
  {"zh", "{a}与{b}的差是多少？", H},
  {"zh", "请问{a}减去{b}得多少？", H},
};

constexpr Form kMultiplication[] = {
  {"template", "What is {a} * {b}? Think step by step, then give the final answer in \\boxed{}.", T},
  {"question", "What is {a} times {b}?", T},
  {"question", "What's {a} times {b}?", T},
  {"question", "How much is {a} * {b}?", T},
  {"question", "How much is {a} times {b}?", T},
  {"question", "What do you get when you multiply {a} by {b}?", T},
  {"question", "What is {a} multiplied by {b}?", T},
  {"question", "WHAT IS {a} TIMES {b}?", T},
  {"question", "what is {a} times {b}", T},
  {"question", "Can you multiply {a} by {b}?", T},
  {"question", "Could you work out {a} × {b}?", T},
  {"question", "Quick question: {a} * {b}?", T},
  {"imperative", "Multiply {a} by {b}.", T},
  {"imperative", "Multiply {a} and {b}.", T},
  {"imperative", "Please multiply {a} by {b}.", T},
  {"imperative", "Calculate {a} times {b}.", T},
  {"imperative", "Compute {a} times {b}", T},
  {"imperative", "Evaluate {a} * {b}.", T},
  {"imperative", "Solve {a} × {b}.", T},
  {"imperative", "Work out {a} times {b}.", T},
  {"imperative", "Tell me {a} * {b}.", T},
  {"imperative", "Find {a} x {b}.", T},
  {"imperative", "multiply {a} with {b}", T},
  {"noun", "What is the product of {a} and {b}?", T},
  {"noun", "Find the product of {a} and {b}.", T},
  {"noun", "Compute the product of {a} and {b}.", T},
  {"noun", "Product of {a} and {b}?", T},
  {"equation", "{a} * {b}", T},
  {"equation", "{a}*{b}", T},
  {"equation", "{a} × {b} =", T},
  {"equation", "{a} x {b}", T},
  {"equation", "{a} times {b}", T},
  {"equation", "{a} times {b} equals?", T},
  {"equation", "{a} * {b} equals what?", T},
  {"zh", "{a}乘以{b}是多少", T},
  {"zh", "{a}乘{b}等于多少？", T},
  {"zh", "{a}乘以{b}等于多少？", T},
  {"zh", "计算 {a} × {b}", T},
  {"zh", "计算{a}乘{b}。", T},
  {"zh", "请计算 {a} 乘以 {b}。", T},
  {"zh", "{a} * {b} 等于几？", T},
  {"zh", "求{a}和{b}的积。", T},
  {"zh", "算一下{a}乘{b}。", T},
  {"zh", "{a}×{b}等于多少？请一步一步思考。", T},
  {"zh", "{a}乘{b}得几？", T},
  {"zh", "帮我算{a}乘以{b}", T},
  {"zh", "{a}与{b}相乘，结果是多少？", T},
  // Version 2 (configs/chat-sft2.json): more constructions per family.
  {"question", "Hey, what's {a} times {b}?", T, 2},
  {"question", "Do you know what {a} times {b} is?", T, 2},
  {"imperative", "Please compute {a} times {b}.", T, 2},
  {"imperative", "Help me multiply {a} by {b}.", T, 2},
  {"imperative", "I need {a} * {b}.", T, 2},
  {"imperative", "Do {a} times {b} for me.", T, 2},
  {"zh", "{a}乘{b}，结果是多少？", T, 2},
  {"zh", "你能算出{a}乘{b}吗？", T, 2},
  {"zh", "{a}乘以{b}的结果是多少？", T, 2},
  {"zh", "问一下，{a}乘{b}等于几？", T, 2},
  // held out
  {"question", "What is {a} * {b}?", H},
  {"question", "What's {a} * {b}?", H},
  {"question", "What is {a}*{b}?", H},
  {"question", "How much are {a} lots of {b}?", H},
  {"imperative", "Calculate {a} * {b}.", H},
  {"imperative", "Compute {a} * {b}, please.", H},
  {"imperative", "Please tell me the product of {a} and {b}.", H},
  {"equation", "{a} * {b} = ?", H},
  {"equation", "{a}*{b}=?", H},
  {"equation", "{a} times {b} is what?", H},
  {"zh", "{a}与{b}的积是多少？", H},
  {"zh", "请问{a}乘{b}得多少？", H},
};

constexpr Form kCountdown[] = {
  {"template", "Using the numbers {numbers}, create an equation that equals {target}. You may use +, -, *, / and parentheses, and must use each number exactly once. Think step by step, then give only the expression in \\boxed{}.", T},
  {"imperative", "Using the numbers {numbers}, make {target}.", T},
  {"imperative", "Use {list} to make {target}. Each number once; + - * / and parentheses allowed.", T},
  {"imperative", "Make {target} from {list}.", T},
  {"imperative", "Make {target} using {numbers}, each number exactly once.", T},
  {"imperative", "Find an expression that equals {target} using {list}.", T},
  {"imperative", "Write an equation equal to {target} with the numbers {numbers}, each used once.", T},
  {"imperative", "Combine {list} with + - * / to get {target}.", T},
  {"imperative", "Get {target} from {spaced}.", T},
  {"imperative", "Reach {target} using {numbers}.", T},
  {"imperative", "Using each of {list} exactly once, make {target}.", T},
  {"imperative", "Form {target} from the numbers {numbers}.", T},
  {"imperative", "Build {target} from {numbers} (each number once, + - * /).", T},
  {"imperative", "With {numbers}, create an equation that equals {target}.", T},
  {"imperative", "Create an equation that equals {target} using {numbers}.", T},
  {"imperative", "Solve the Countdown puzzle: {numbers}, target {target}.", T},
  {"imperative", "make {target} with {spaced}", T},
  {"question", "Can you reach {target} with {list}?", T},
  {"question", "How can you get {target} from {list} using +, -, * and /?", T},
  {"question", "What expression of {list} equals {target}?", T},
  {"question", "I have the numbers {list}. How do I make {target}?", T},
  {"question", "Which equation uses {numbers} to make {target}?", T},
  {"question", "Can {numbers} make {target}?", T},
  {"terse", "Countdown: {spaced} -> {target}", T},
  {"terse", "Numbers: {numbers}. Target: {target}.", T},
  {"terse", "Target {target}, numbers {numbers}.", T},
  {"terse", "{numbers} -> {target}", T},
  {"terse", "NUMBERS {spaced} TARGET {target}", T},
  {"terse", "Help me make {target} out of {list}.", T},
  {"zh", "用{list_zh}凑出{target}，每个数用一次。", T},
  {"zh", "用 {numbers} 算出 {target}，可以用加减乘除和括号，每个数只能用一次。", T},
  {"zh", "数字{list_zh}，目标{target}。", T},
  {"zh", "怎样用{list_zh}得到{target}？", T},
  {"zh", "用{list_zh}组成一个等于{target}的算式。", T},
  {"zh", "{list_zh}，怎么算出{target}？", T},
  {"zh", "用这些数：{spaced}，凑{target}。", T},
  {"zh", "用{numbers}凑{target}，请一步一步思考。", T},
  {"zh", "给你{list_zh}，算出{target}。", T},
  {"zh", "把{list_zh}组合起来，结果要等于{target}。", T},
  {"zh", "{list_zh}这几个数能凑成{target}吗？", T},
  {"zh", "请用{spaced}得到{target}，加减乘除都可以。", T},
  {"question", "Using {list}, how would you get {target}?", T},
  {"question", "What's a way to make {target} from {numbers}?", T},
  {"imperative", "Please combine {numbers} into {target}.", T},
  {"terse", "{spaced} => {target}", T},
  // held out
  {"imperative", "Given {list}, reach {target} using each number once.", H},
  {"imperative", "Please make {target} using {spaced}, each exactly once.", H},
  {"question", "Is there a way to get {target} from {numbers}?", H},
  {"question", "How do I make {target} with {list}?", H},
  {"terse", "Target is {target}. Numbers are {list}. Go.", H},
  {"terse", "Countdown puzzle, numbers {numbers}, target {target}. What's the expression?", H},
  {"zh", "能用{list_zh}算出{target}吗？", H},
  {"zh", "请用{list_zh}凑出{target}。", H},
  {"imperative", "Show me how {list} can give {target}.", H},
  {"zh", "目标是{target}，可用的数是{list_zh}，怎么算？", H},
};

// Follow-ups: "elliptical" name the new operands; "that" refer to the previous answer.
constexpr Form kAdditionFollowUps[] = {
  {"elliptical", "And {a} + {b}?", T},
  {"elliptical", "What about {a} plus {b}?", T},
  {"elliptical", "Now {a}+{b}.", T},
  {"elliptical", "Next: {a} + {b}", T},
  {"elliptical", "那{a}加{b}呢？", T},
  {"elliptical", "再算{a}+{b}。", T},
  {"that", "Add {b} to that.", T},
  {"that", "Now add {b}.", T},
  {"that", "Plus {b}?", T},
  {"that", "再加{b}呢？", T},
  {"that", "Then add {b}.", T, 2},
  {"that", "Add {b} to the result.", T, 2},
  {"that", "And plus {b}?", T, 2},
  {"that", "结果加{b}呢？", T, 2},
  {"that", "在这个结果上加{b}。", T, 2},
  {"elliptical", "And what is {a} + {b}?", H},
  {"elliptical", "How about {a} + {b}?", H},
  {"elliptical", "{a}加{b}呢？", H},
  {"that", "What if you add {b}?", H},
  {"that", "再加上{b}是多少？", H},
};

constexpr Form kSubtractionFollowUps[] = {
  {"elliptical", "And {a} - {b}?", T},
  {"elliptical", "What about {a} minus {b}?", T},
  {"elliptical", "Now {a}-{b}.", T},
  {"elliptical", "Next: {a} - {b}", T},
  {"elliptical", "那{a}减{b}呢？", T},
  {"elliptical", "再算{a}-{b}。", T},
  {"that", "Subtract {b} from that.", T},
  {"that", "Now subtract {b}.", T},
  {"that", "Minus {b}?", T},
  {"that", "再减{b}呢？", T},
  {"that", "Then subtract {b}.", T, 2},
  {"that", "Subtract {b} from the result.", T, 2},
  {"that", "And minus {b}?", T, 2},
  {"that", "结果减{b}呢？", T, 2},
  {"that", "在这个结果上减{b}。", T, 2},
  {"elliptical", "And what is {a} - {b}?", H},
  {"elliptical", "How about {a} - {b}?", H},
  {"elliptical", "{a}减{b}呢？", H},
  {"that", "What if you take away {b}?", H},
  {"that", "再减去{b}是多少？", H},
};

constexpr Form kMultiplicationFollowUps[] = {
  {"elliptical", "And {a} * {b}?", T},
  {"elliptical", "What about {a} times {b}?", T},
  {"elliptical", "Now {a}*{b}.", T},
  {"elliptical", "Next: {a} × {b}", T},
  {"elliptical", "那{a}乘{b}呢？", T},
  {"elliptical", "再算{a}×{b}。", T},
  {"that", "Multiply that by {b}.", T},
  {"that", "Now multiply by {b}.", T},
  {"that", "Times {b}?", T},
  {"that", "再乘以{b}呢？", T},
  {"that", "Then multiply by {b}.", T, 2},
  {"that", "Multiply the result by {b}.", T, 2},
  {"that", "And times {b}?", T, 2},
  {"that", "在这个结果上乘以{b}。", T, 2},
  {"elliptical", "And what is {a} * {b}?", H},
  {"elliptical", "How about {a} * {b}?", H},
  {"elliptical", "{a}乘{b}呢？", H},
  {"that", "What if you multiply it by {b}?", H},
  {"that", "结果再乘{b}是多少？", H},
};

constexpr Form kCountdownFollowUps[] = {
  {"elliptical", "And {numbers} to make {target}?", T},
  {"elliptical", "What about {list} and target {target}?", T},
  {"elliptical", "Now make {target} with {numbers}.", T},
  {"elliptical", "Next: {spaced} -> {target}", T},
  {"elliptical", "再用{list_zh}凑出{target}呢？", T},
  {"elliptical", "那{numbers}凑{target}呢？", T},
  {"elliptical", "换个题：用{list_zh}凑{target}。", T},
  {"elliptical", "How about {list}, target {target}?", H},
  {"elliptical", "And with {numbers}, can you get {target}?", H},
  {"elliptical", "换成{list_zh}，目标{target}呢？", H},
};

constexpr const char* kSuffixes[] = {
  "Think step by step, then give the final answer in \\boxed{}.",
  "Show your work and put the final answer in \\boxed{}.",
  "Please reason step by step.",
  "请一步一步思考，并把最终答案放在\\boxed{}中。",
};
// clang-format on

std::string join_numbers(const std::vector<std::int64_t>& n, const char* sep, const char* last_sep) {
  std::string out;
  for (size_t k = 0; k < n.size(); ++k) out += cat(k == 0 ? "" : k + 1 == n.size() ? last_sep : sep, n[k]);
  return out;
}

std::string value_of(std::string_view name, const Problem& p) {
  const bool countdown = p.task == TaskKind::kCountdown;
  if (!countdown && (name == "a" || name == "b") && p.numbers.size() == 2) return std::to_string(p.numbers[name == "a" ? 0 : 1]);
  if (countdown && name == "numbers") return "[" + join_numbers(p.numbers, ", ", ", ") + "]";
  if (countdown && name == "list") return join_numbers(p.numbers, ", ", " and ");
  if (countdown && name == "list_zh") return join_numbers(p.numbers, "、", "、");
  if (countdown && name == "spaced") return join_numbers(p.numbers, " ", " ");
  if (countdown && name == "target") return std::to_string(p.target);
  fail(ErrorKind::kInvalidArgument, "phrasing: no placeholder {", name, "} for a ", task_name(p.task), " problem");
}

}  // namespace

const char* phrasing_set_name(PhrasingSet set) {
  switch (set) {
    case PhrasingSet::kTemplate: return "template";
    case PhrasingSet::kTrain: return "train";
    case PhrasingSet::kHeldOut: return "heldout";
  }
  return "?";
}

PhrasingSet parse_phrasing_set(std::string_view name) {
  if (name == "template") return PhrasingSet::kTemplate;
  if (name == "train") return PhrasingSet::kTrain;
  if (name == "heldout" || name == "held-out") return PhrasingSet::kHeldOut;
  fail(ErrorKind::kInvalidArgument, "unknown phrasing set '", name, "' (expected heldout, train or template)");
}

std::span<const Form> question_forms(TaskKind task) {
  switch (task) {
    case TaskKind::kAddition: return kAddition;
    case TaskKind::kSubtraction: return kSubtraction;
    case TaskKind::kMultiplication: return kMultiplication;
    case TaskKind::kCountdown: return kCountdown;
    case TaskKind::kKnowledge: return {};  // the knowledge generator has its own question forms
  }
  return {};
}

std::span<const Form> follow_up_forms(TaskKind task) {
  switch (task) {
    case TaskKind::kAddition: return kAdditionFollowUps;
    case TaskKind::kSubtraction: return kSubtractionFollowUps;
    case TaskKind::kMultiplication: return kMultiplicationFollowUps;
    case TaskKind::kCountdown: return kCountdownFollowUps;
    case TaskKind::kKnowledge: return {};
  }
  return {};
}

std::vector<const Form*> forms_in(std::span<const Form> table, PhrasingSet set, int version) {
  std::vector<const Form*> out;
  if (set == PhrasingSet::kTemplate) {
    if (!table.empty()) out.push_back(&table[0]);
    return out;
  }
  for (const Form& f : table)
    if (f.held_out == (set == PhrasingSet::kHeldOut) && f.version <= version) out.push_back(&f);
  return out;
}

bool refers_to_previous(const Form& form) { return std::string_view(form.text).find("{a}") == std::string_view::npos &&
                                                   std::string_view(form.text).find("{b}") != std::string_view::npos; }

std::string render(const Form& form, const Problem& problem) {
  std::string out;
  const std::string_view text = form.text;
  for (size_t i = 0; i < text.size();) {
    // "\boxed{}" is text, not a placeholder.
    if (text[i] == '{' && i + 1 < text.size() && text[i + 1] != '}') {
      const size_t end = text.find('}', i);
      if (end == std::string_view::npos) fail(ErrorKind::kInvalidArgument, "phrasing: unclosed placeholder in '", text, "'");
      out += value_of(text.substr(i + 1, end - i - 1), problem);
      i = end + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::span<const char* const> instruction_suffixes() { return kSuffixes; }

std::string training_prompt(const Problem& problem, std::uint64_t bits, std::string* family, int version) {
  if (problem.task == TaskKind::kKnowledge) {  // its surface forms are the generator's own
    if (family) *family = "knowledge";
    return problem.prompt;
  }
  const std::vector<const Form*> forms = forms_in(question_forms(problem.task), PhrasingSet::kTrain, version);
  Rng rng(mix64(bits ^ 0x7068726173696e67ull));
  // The template keeps a tenth of the examples: RL and the template evaluation ask in its words.
  const Form& form = rng.uniform(0, 9) == 0 ? *forms[0] : *forms[rng.uniform(0, static_cast<std::int64_t>(forms.size()) - 1)];
  if (family) *family = form.family;
  std::string text = render(form, problem);
  const bool instructed = text.find("\\boxed") != std::string::npos || text.find("step") != std::string::npos ||
                          text.find("一步") != std::string::npos;
  if (!instructed && text.back() != '=' && rng.uniform(0, 2) == 0) {
    // Chinese questions (a CJK lead byte: U+3000 and up) get the Chinese instruction, the last one.
    const bool zh = std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0xE3; });
    const std::int64_t n = static_cast<std::int64_t>(std::size(kSuffixes));
    text += zh ? std::string(kSuffixes[n - 1]) : " " + std::string(kSuffixes[rng.uniform(0, n - 2)]);
  }
  return text;
}

std::string normalized_form(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kWide[] = {{"？", '?'}, {"。", '.'}, {"，", ','}, {"！", '!'}, {"：", ':'}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool wide = false;
    for (const auto& [from, to] : kWide) {
      if (text.substr(i, from.size()) == from) {
        out += to;
        i += from.size();
        wide = true;
        break;
      }
    }
    if (wide) continue;
    const unsigned char c = static_cast<unsigned char>(text[i++]);
    if (std::isspace(c)) continue;
    out += static_cast<char>(std::tolower(c));
  }
  while (!out.empty() && (out.back() == '.' || out.back() == '?' || out.back() == '!')) out.pop_back();
  return out;
}

}  // namespace whale::train::tasks
