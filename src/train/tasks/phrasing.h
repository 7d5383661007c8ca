// Surface forms of the tasks' questions, as data: one table per task of user messages (English and
// Chinese, symbols and words, questions and imperatives, with and without the instruction), about a
// fifth of them held out for evaluation only, plus the follow-up forms of later chat turns.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "train/tasks/task.h"

namespace whale::train::tasks {

// Which forms: the one training template per task (Problem::prompt), the training forms (the
// template among them), or the held-out forms (evaluation only; never in training data).
enum class PhrasingSet { kTemplate, kTrain, kHeldOut };
const char* phrasing_set_name(PhrasingSet set);           // "template", "train", "heldout"
PhrasingSet parse_phrasing_set(std::string_view name);    // also "held-out"; throws kInvalidArgument

// One surface form. Placeholders: arithmetic {a} {b} (the operands, in problem order); Countdown
// {numbers} "[3, 7, 25]", {list} "3, 7 and 25", {list_zh} "3、7、25", {spaced} "3 7 25", {target}.
// A follow-up form without {a} refers to the previous answer ("Multiply that by {b}."): the
// problem is then (previous answer) op {b}.
struct Form {
  const char* family;  // a short label shared by forms of one construction: "words", "zh", ...
  const char* text;
  bool held_out;
  // The table version that added the form: training data of version v uses the training forms of
  // versions <= v, so a config trained before forms were added still draws the same data. Held-out
  // forms are all version 1.
  int version = 1;
};

// The newest version of the form tables (DataMix::forms_version; 1: the tables of the first chat model).
inline constexpr int kLatestFormsVersion = 2;

// The first-turn forms of a task; the template (Problem::prompt) is the first entry.
std::span<const Form> question_forms(TaskKind task);
// The forms of a later turn in a conversation ("And 12 * 34?", "再乘以3呢？").
std::span<const Form> follow_up_forms(TaskKind task);
// The forms of `table` in `set` (kTemplate: the first entry only); training forms of versions
// <= `version` only.
std::vector<const Form*> forms_in(std::span<const Form> table, PhrasingSet set, int version = 1);

// True for a follow-up that names only {b} and refers to the previous answer as its first operand.
bool refers_to_previous(const Form& form);
// The form with the problem's numbers written in. Throws kInvalidArgument on an unknown placeholder.
std::string render(const Form& form, const Problem& problem);

// Instructions appended to a training form that has none (about a third of the time in
// training_prompt); held-out forms are always used bare.
std::span<const char* const> instruction_suffixes();

// A training-set question for `problem`: a form (of versions <= `version`) drawn from `bits`,
// sometimes with an instruction appended. `family` (optional) receives the form's family.
std::string training_prompt(const Problem& problem, std::uint64_t bits, std::string* family = nullptr, int version = 1);

// Lowercase, no whitespace, full-width punctuation as ASCII, no trailing ".?!": two forms that are
// equal after this differ only in spacing, case or end punctuation (the test of "construction").
std::string normalized_form(std::string_view text);

}  // namespace whale::train::tasks
