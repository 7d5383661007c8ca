// Task dispatch: names, the hash-derived split, the seeded generator loop, solutions and verdicts.
#include "train/tasks/task.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "train/tasks/arithmetic.h"
#include "train/tasks/countdown.h"
#include "train/tasks/knowledge.h"
#include "train/tasks/response.h"
#include "train/tasks/rng.h"

namespace whale::train::tasks {
namespace {

void check_difficulty(TaskKind task, const Difficulty& d) {
  auto bad = [&](const char* what) {
    fail(ErrorKind::kInvalidArgument, "task ", task_name(task), ": difficulty needs ", what);
  };
  if (task == TaskKind::kKnowledge) {
    knowledge_case(0, d, true);  // checks the page knobs
  } else if (task == TaskKind::kCountdown) {
    if (d.min_numbers < 3 || d.min_numbers > d.max_numbers || d.max_numbers > 5) bad("3 <= min_numbers <= max_numbers <= 5");
    if (d.max_number < 1 || d.max_number > 10000) bad("1 <= max_number <= 10000");
    if (d.min_target < 1 || d.min_target > d.max_target) bad("1 <= min_target <= max_target");
  } else if (d.min_digits < 1 || d.min_digits > d.max_digits || d.max_digits > 18) {
    bad("1 <= min_digits <= max_digits <= 18");
  }
}

Problem sample(TaskKind task, Rng& rng, const Difficulty& d) {
  if (task == TaskKind::kKnowledge) return sample_knowledge(rng, d);
  return task == TaskKind::kCountdown ? draw_countdown(rng, d) : sample_arithmetic(task, rng, d);
}

}  // namespace

const char* task_name(TaskKind task) {
  switch (task) {
    case TaskKind::kAddition: return "addition";
    case TaskKind::kSubtraction: return "subtraction";
    case TaskKind::kMultiplication: return "multiplication";
    case TaskKind::kCountdown: return "countdown";
    case TaskKind::kKnowledge: return "knowledge";
  }
  return "?";
}

TaskKind parse_task(std::string_view name) {
  if (name == "addition" || name == "add") return TaskKind::kAddition;
  if (name == "subtraction" || name == "sub") return TaskKind::kSubtraction;
  if (name == "multiplication" || name == "mul") return TaskKind::kMultiplication;
  if (name == "countdown") return TaskKind::kCountdown;
  if (name == "knowledge") return TaskKind::kKnowledge;
  fail(ErrorKind::kInvalidArgument, "unknown task '", name, "' (expected addition, subtraction, multiplication, countdown or knowledge)");
}

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValidation: return "validation";
    case Split::kTest: return "test";
  }
  return "?";
}

Split parse_split(std::string_view name) {
  if (name == "train") return Split::kTrain;
  if (name == "validation" || name == "val" || name == "valid") return Split::kValidation;
  if (name == "test") return Split::kTest;
  fail(ErrorKind::kInvalidArgument, "unknown split '", name, "' (expected train, validation or test)");
}

std::vector<TaskKind> all_tasks() {
  return {TaskKind::kAddition, TaskKind::kSubtraction, TaskKind::kMultiplication, TaskKind::kCountdown};
}

std::string split_key(const Problem& problem) {
  // A knowledge case by its seed: its search and no-search versions share a split.
  if (problem.task == TaskKind::kKnowledge) return cat("knowledge:", problem.numbers.at(0));
  std::vector<std::int64_t> n = problem.numbers;
  if (problem.task != TaskKind::kSubtraction) std::sort(n.begin(), n.end());
  std::string key = cat(task_name(problem.task), ":");
  for (size_t k = 0; k < n.size(); ++k) key += cat(k ? "," : "", n[k]);
  if (problem.task == TaskKind::kCountdown) key += cat("=", problem.target);
  return key;
}

Split split_of(const Problem& problem) {
  const std::uint64_t bucket = hash_string(split_key(problem)) % 100;
  return bucket < 90 ? Split::kTrain : bucket < 95 ? Split::kValidation : Split::kTest;
}

std::vector<Problem> generate(const TaskSpec& spec) {
  check_difficulty(spec.task, spec.difficulty);
  if (spec.count < 0) fail(ErrorKind::kInvalidArgument, "task ", task_name(spec.task), ": count ", spec.count, " < 0");
  // The task and split go into the stream's seed so that equal seeds give unrelated streams.
  Rng rng(mix64(spec.seed ^ mix64(static_cast<std::uint64_t>(spec.task) * 4 + static_cast<std::uint64_t>(spec.split))));
  std::vector<Problem> out;
  std::unordered_set<std::string> seen;
  const std::int64_t max_draws = 1000 * static_cast<std::int64_t>(spec.count) + 100000;
  for (std::int64_t draws = 0; static_cast<int>(out.size()) < spec.count; ++draws) {
    if (draws >= max_draws)
      fail(ErrorKind::kInvalidArgument, "task ", task_name(spec.task), ": only ", out.size(), " distinct ",
           split_name(spec.split), " problems found of ", spec.count, " requested (", draws,
           " draws); widen the difficulty or set unique = false");
    Problem p = sample(spec.task, rng, spec.difficulty);
    if (split_of(p) != spec.split) continue;
    if (spec.unique && !seen.insert(split_key(p)).second) continue;
    if (p.task == TaskKind::kCountdown) countdown_reasoning(p, &p.answer);
    out.push_back(std::move(p));
  }
  return out;
}

std::string solution(const Problem& problem) {
  if (problem.task == TaskKind::kKnowledge) return knowledge_reply(knowledge_case_of(problem));
  std::string answer, reasoning;
  if (problem.task == TaskKind::kCountdown) {
    reasoning = countdown_reasoning(problem, &answer);
  } else {
    reasoning = arithmetic_reasoning(problem);
    answer = int128_to_string(arithmetic_result(problem));
  }
  return "<think>\n" + reasoning + "\n</think>\n\\boxed{" + answer + "}";
}

Verdict verify(const Problem& problem, std::string_view response) {
  if (problem.task == TaskKind::kKnowledge) {  // no box: the answer is prose with citations
    const KnowledgeGrade g = grade_knowledge(problem, response);
    Verdict v;
    v.format_ok = g.format_ok;
    v.answer_present = g.grounding != Grounding::kNoAnswer;
    v.correct = g.success;
    v.extracted = grounding_name(g.grounding);
    if (!v.correct) v.note = cat("grounding ", grounding_name(g.grounding), g.cited && !g.citations_precise ? ", a citation of another page" : "");
    return v;
  }
  const ResponseParts parts = parse_response(response);
  Verdict v;
  v.format_ok = parts.format_ok;
  v.answer_present = parts.answer_present;
  v.extracted = parts.answer;
  if (!parts.answer_present) {
    v.note = "no \\boxed{} answer after </think>";
    return v;
  }
  const AnswerCheck check = problem.task == TaskKind::kCountdown ? check_countdown(problem, parts.answer)
                                                                 : check_arithmetic(problem, parts.answer);
  v.correct = check.correct;
  v.note = check.note;
  return v;
}

}  // namespace whale::train::tasks
