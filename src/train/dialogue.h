// Chat data beyond one templated question: a problem asked in one of its surface forms, 2-3 turn
// conversations that end in a follow-up ("And 12 * 34?", "再乘以3呢？"), and small-talk turns;
// for SFT examples (training forms) and for `whale eval --phrasings` (any set of forms).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "train/config.h"
#include "train/tasks/phrasing.h"
#include "train/tasks/rng.h"
#include "train/tasks/small_talk.h"
#include "train/tasks/task.h"

namespace whale::train {

// The messages before the last user turn (assistant contents are answers only: the chat session
// and the DeepSeek template both drop earlier reasoning), the last user turn and the reply to it.
struct Dialogue {
  std::vector<tokenizer::ChatMessage> history;
  std::string user;
  std::string reply;                       // "<think>\n" ... "</think>\n" answer, as solution() writes it
  std::optional<tasks::Problem> problem;   // the last turn's problem; none for small talk
  const tasks::SmallTalk* small_talk = nullptr;
  std::string family;                      // the last turn's form family ("zh", "that", "identity", ...)
  bool follow_up = false;                  // the last turn is a follow-up in a conversation
};

// Appends one earlier turn: `question`, then the answer the model gave (what follows </think>).
void add_turn(Dialogue& d, const std::string& question, const std::string& reply);

// A first-turn dialogue asking `problem` in `form`.
Dialogue single_turn(const tasks::Problem& problem, const tasks::Form& form);
// The last turn of `d` becomes `problem` asked in the follow-up `form`. A form that refers to the
// previous answer needs the history's last answer to equal the problem's first operand (see
// previous_problem); its reasoning starts by restating the whole problem.
void ask_follow_up(Dialogue& d, const tasks::Problem& problem, const tasks::Form& form);
// An addition or subtraction whose result is `problem`'s first operand (so "Multiply that by 3"
// is `problem`), of `split` when one is found in a few draws (any split when `split` is empty).
std::optional<tasks::Problem> previous_problem(const tasks::Problem& problem, tasks::Rng& rng,
                                               std::optional<tasks::Split> split);

// What the model's answer looks like in history: the text after "</think>", leading newlines dropped.
std::string answer_part(const std::string& reply);

// The training dialogue for one draw of the data stream: `problem` (drawn from the mix already)
// alone, or after earlier turns, or a small-talk turn instead; `bits` choose forms and kinds.
Dialogue training_dialogue(const DataMix& mix, const std::vector<TaskMix>& tasks, tasks::Split split,
                           const tasks::Problem& problem, uint64_t bits, bool allow_follow_ups);

}  // namespace whale::train
