// Countdown (TinyZero, REFERENCE.md §7): reach a target from 3-5 numbers, each used exactly once,
// with + - * / and parentheses. Problems, the classic-rules solver, search traces, exact checking.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "train/tasks/response.h"
#include "train/tasks/rng.h"
#include "train/tasks/task.h"

namespace whale::train::tasks {

// Classic rules, which the generator and the traces follow: combine two numbers into one with
// a+b, a*b, a-b (a > b) or a/b (b divides a), every intermediate a positive integer, until one
// number is left. (The verifier accepts more: any expression whose exact value is the target.)
// All values the numbers can end in this way, sorted.
std::vector<std::int64_t> reachable_targets(const std::vector<std::int64_t>& numbers);

// Throws kInvalidArgument unless 2..6 numbers in [1, 10^6] and the target is reachable.
Problem make_countdown(const std::vector<std::int64_t>& numbers, std::int64_t target);
// Numbers drawn from [1, max_number], then a target drawn uniformly from the reachable values in
// [min_target, max_target]; redrawn until there is one. The answer is left empty (fill it with
// countdown_reasoning) so a generator can drop draws of the wrong split before writing a trace.
Problem draw_countdown(Rng& rng, const Difficulty& difficulty);

// A bounded search trace (without the <think> tags): 0-3 tried paths that end in a dead end, then
// the path that works, then the expression built back step by step. Deterministic per problem.
// Also sets the expression it finds; throws kInvalidArgument when no classic solution exists.
std::string countdown_reasoning(const Problem& problem, std::string* expression = nullptr);

// The answer must parse (expression.h), use exactly the given numbers as a multiset, and have the
// exact value `target`. Non-integer or negative intermediates are fine.
AnswerCheck check_countdown(const Problem& problem, std::string_view answer);

}  // namespace whale::train::tasks
