// Reading a model's response (the <think> block and the \boxed{} answer) and turning a Verdict into
// the rule-based rewards of R1 (accuracy + format) and TinyZero's Countdown score.
#pragma once

#include <string>
#include <string_view>

#include "train/tasks/task.h"

namespace whale::train::tasks {

struct ResponseParts {
  bool format_ok = false;
  bool answer_present = false;
  std::string answer;  // content of the last non-empty \boxed{...} in the answer region
};

// The answer region is the text after the last "</think>"; with no "</think>" but a "<think>" the
// thinking never ended and there is no answer; with neither tag it is the whole response.
// A box is "\boxed{" up to its matching "}" (nested braces balanced); unclosed or blank boxes do
// not count. format_ok: after leading whitespace the response starts with "<think>", has exactly
// one "<think>" and one "</think>", non-blank reasoning, and exactly one box in the answer region.
ResponseParts parse_response(std::string_view response);

// A task's verdict on one extracted answer.
struct AnswerCheck {
  bool correct = false;
  std::string note;
};

// R1's rules: 1 if correct / well formed, else 0.
double accuracy_reward(const Verdict& verdict);
double format_reward(const Verdict& verdict);

// TinyZero's Countdown score: `correct` if right, `present` if an answer is there but wrong, else 0.
struct TinyZeroScore {
  double correct = 1.0;
  double present = 0.1;
};
double tinyzero_reward(const Verdict& verdict, const TinyZeroScore& score = {});

// The reward an RL loop uses: a weighted sum. R1-Zero: {1, 1, 0}; TinyZero: {0, 0, 1}.
struct RewardWeights {
  double accuracy = 1.0;
  double format = 1.0;
  double tinyzero = 0.0;
  TinyZeroScore tinyzero_score;
};
double reward(const Verdict& verdict, const RewardWeights& weights);

}  // namespace whale::train::tasks
