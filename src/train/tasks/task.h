// The task interface shared by SFT data, evaluation and RL rewards: problems, seeded generators
// with hash-derived disjoint splits, worked solutions, and the program verifier (docs/tasks.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whale::train::tasks {

enum class TaskKind { kAddition, kSubtraction, kMultiplication, kCountdown, kKnowledge };
enum class Split { kTrain, kValidation, kTest };

const char* task_name(TaskKind task);    // "addition", "subtraction", "multiplication", "countdown", "knowledge"
TaskKind parse_task(std::string_view name);  // also "add", "sub", "mul"; throws kInvalidArgument
const char* split_name(Split split);     // "train", "validation", "test"
Split parse_split(std::string_view name);    // also "val", "valid"; throws kInvalidArgument
std::vector<TaskKind> all_tasks();  // the reasoning tasks (arithmetic and Countdown); not kKnowledge

// One problem. `numbers` are the operands {a, b} for arithmetic (the question is "a op b") and the
// given numbers, in prompt order, for Countdown; `target` is Countdown's target (0 otherwise).
struct Problem {
  TaskKind task = TaskKind::kAddition;
  std::string id;      // the exact problem: "addition:4821+937", "countdown:[3,7,25,50]=75"
  std::string prompt;  // the user message
  std::string answer;  // canonical final answer: "5758", or one solution expression "(50-25)*3"
  std::vector<std::int64_t> numbers;
  std::int64_t target = 0;
};

// The knobs, one set per task family; fields a task does not use are ignored.
struct Difficulty {
  // arithmetic: each operand has a digit count drawn uniformly from [min_digits, max_digits]
  // (1..18); a d-digit operand is uniform over [10^(d-1), 10^d - 1] (0..9 for d = 1).
  int min_digits = 1;
  int max_digits = 4;
  // countdown: [min_numbers, max_numbers] numbers (3..5) drawn from [1, max_number] (<= 10000),
  // and a target in [min_target, max_target] reachable under classic rules.
  int min_numbers = 3;
  int max_numbers = 4;
  int max_number = 99;
  int min_target = 10;
  int max_target = 100;
  // knowledge (knowledge.h): [min_pages, max_pages] search results (1..8; one holds the fact), each
  // page's text at most page_chars characters (>= 120; the fact's sentence is always kept), and
  // the share of examples asked without search results (0..1).
  int min_pages = 3;
  int max_pages = 5;
  int page_chars = 400;
  double no_search = 0.2;
};

struct TaskSpec {
  TaskKind task = TaskKind::kAddition;
  Split split = Split::kTrain;
  int count = 0;
  std::uint64_t seed = 0;
  Difficulty difficulty;
  bool unique = true;  // no two problems with the same split key in one call
};

// `count` problems of `spec.split`, deterministic in the spec. Throws kInvalidArgument on bad knobs,
// or when the split holds too few distinct problems for a unique request.
std::vector<Problem> generate(const TaskSpec& spec);

// The key that decides the split: the problem up to presentation (commutative operands and the
// Countdown numbers are sorted), so "937+4821" can never be in test while "4821+937" is in train.
std::string split_key(const Problem& problem);
// hash(split_key) % 100: < 90 train, < 95 validation, else test.
Split split_of(const Problem& problem);

// The assistant's reply to learn: "<think>\n" + worked steps + "\n</think>\n\\boxed{answer}".
std::string solution(const Problem& problem);

struct Verdict {
  bool format_ok = false;       // "<think>reasoning</think>" then exactly one \boxed{} (see extract)
  bool answer_present = false;  // a complete \boxed{...} where the answer belongs
  bool correct = false;         // the extracted answer checked by the program
  std::string extracted;        // the box's content, as written
  std::string note;             // why it is not correct (empty when correct)
};

// Checks a response with the program's own arithmetic; never throws on any response text.
// A chat template that opens "<think>\n" in the prompt: prepend it to the response first.
Verdict verify(const Problem& problem, std::string_view response);

}  // namespace whale::train::tasks
