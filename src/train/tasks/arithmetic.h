// Multi-digit addition, subtraction (results may be negative) and multiplication: problems, worked
// column-by-column solutions, and the exact check of an answer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "train/tasks/expression.h"
#include "train/tasks/response.h"
#include "train/tasks/rng.h"
#include "train/tasks/task.h"

namespace whale::train::tasks {

// "a op b" for a, b in [0, 10^18); throws kInvalidArgument otherwise or for kCountdown.
Problem make_arithmetic(TaskKind task, std::int64_t a, std::int64_t b);
Problem sample_arithmetic(TaskKind task, Rng& rng, const Difficulty& difficulty);

// The worked reasoning (without the <think> tags) and the exact result.
std::string arithmetic_reasoning(const Problem& problem);
Int128 arithmetic_result(const Problem& problem);

// The answer must be an integer (optional '-', digits, surrounding spaces) equal to the result.
AnswerCheck check_arithmetic(const Problem& problem, std::string_view answer);

}  // namespace whale::train::tasks
