// The surface-form tables (src/train/tasks/phrasing.cpp, small_talk.cpp): sizes and the held-out
// share, every phrasing of issue 18's table held out, held-out forms differing from every training
// form beyond spacing/case/end punctuation and sharing their characters, Chinese forms read back
// to the right answer by an independent little parser and the task's verifier, determinism.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/tasks/arithmetic.h"
#include "train/tasks/countdown.h"
#include "train/tasks/phrasing.h"
#include "train/tasks/small_talk.h"
#include "train/tasks/task.h"
#include "phrasing_util.h"

namespace whale::train::tasks {
namespace {

std::string boxed(const std::string& answer) { return "<think>\nx\n</think>\n\\boxed{" + answer + "}"; }

const char* op_symbol(TaskKind t) { return t == TaskKind::kAddition ? "+" : t == TaskKind::kSubtraction ? "-" : "*"; }

std::vector<TaskKind> arithmetic() { return {TaskKind::kAddition, TaskKind::kSubtraction, TaskKind::kMultiplication}; }

// UTF-8 code points >= U+3000 (CJK and full-width punctuation) of a text.
std::set<std::string> cjk_chars(const std::string& s) {
  std::set<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n == 3 && c >= 0xE3) out.insert(s.substr(i, n));
    i += n;
  }
  return out;
}

TEST(Phrasing, TablesHaveFiftyToHundredFormsAFifthHeldOut) {
  for (TaskKind t : all_tasks()) {
    const auto table = question_forms(t);
    const size_t held = forms_in(table, PhrasingSet::kHeldOut).size();
    EXPECT_GE(table.size(), 50u) << task_name(t);
    EXPECT_LE(table.size(), 100u) << task_name(t);
    EXPECT_NEAR(static_cast<double>(held) / table.size(), 0.2, 0.03) << task_name(t);
    EXPECT_STREQ(table[0].family, "template");
    EXPECT_FALSE(table[0].held_out);
    ASSERT_EQ(forms_in(table, PhrasingSet::kTemplate).size(), 1u);
    // The template form is exactly the prompt every other part of whale uses.
    const Problem p = t == TaskKind::kCountdown ? make_countdown({3, 7, 25, 50}, 75) : make_arithmetic(t, 37, 48);
    EXPECT_EQ(render(table[0], p), p.prompt);
    // Every family held out has training forms too, and Chinese forms are in both sets.
    std::set<std::string> train_families, held_families;
    for (const Form& f : table) (f.held_out ? held_families : train_families).insert(f.family);
    for (const std::string& f : held_families) EXPECT_TRUE(train_families.count(f)) << task_name(t) << " " << f;
    EXPECT_TRUE(held_families.count("zh")) << task_name(t);
    // Evaluation falls back on the first held-out/train follow-up when a "that" one cannot be asked.
    for (PhrasingSet s : {PhrasingSet::kTrain, PhrasingSet::kHeldOut}) {
      const auto follow = forms_in(follow_up_forms(t), s);
      ASSERT_FALSE(follow.empty());
      EXPECT_FALSE(refers_to_previous(*follow[0])) << task_name(t);
    }
  }
}

// Version 1 of the tables is what the first chat model trained on: its training forms, in order,
// are unchanged by the rows version 2 added, so configs without "forms_version" draw the same data.
TEST(Phrasing, VersionOneDrawsTheFirstTablesOnly) {
  const std::map<TaskKind, std::pair<size_t, size_t>> v1 = {{TaskKind::kAddition, {47, 10}}, {TaskKind::kSubtraction, {46, 10}},
                                                            {TaskKind::kMultiplication, {47, 10}}, {TaskKind::kCountdown, {45, 7}}};
  for (const auto& [t, counts] : v1) {
    const auto first = forms_in(question_forms(t), PhrasingSet::kTrain, 1);
    const auto follow = forms_in(follow_up_forms(t), PhrasingSet::kTrain, 1);
    EXPECT_EQ(first.size(), counts.first) << task_name(t);
    EXPECT_EQ(follow.size(), counts.second) << task_name(t);
    for (const Form* f : first) EXPECT_EQ(f->version, 1) << f->text;
    for (const Form* f : follow) EXPECT_EQ(f->version, 1) << f->text;
    EXPECT_GE(forms_in(question_forms(t), PhrasingSet::kTrain, kLatestFormsVersion).size(), first.size());
    for (const Form* f : forms_in(question_forms(t), PhrasingSet::kHeldOut, kLatestFormsVersion)) EXPECT_EQ(f->version, 1);
  }
  const Problem p = make_arithmetic(TaskKind::kAddition, 37, 48);
  std::set<std::string> v2_texts;
  for (const Form& f : question_forms(TaskKind::kAddition))
    if (f.version == 2) v2_texts.insert(render(f, p));
  ASSERT_FALSE(v2_texts.empty());
  bool saw_v2 = false;
  for (uint64_t bits = 0; bits < 2000; ++bits) {
    EXPECT_FALSE(v2_texts.count(training_prompt(p, bits, nullptr, 1))) << bits;
    saw_v2 |= v2_texts.count(training_prompt(p, bits, nullptr, 2)) > 0;
  }
  EXPECT_TRUE(saw_v2);
}

TEST(Phrasing, EveryPhrasingOfTheIssueTableIsHeldOut) {
  const char* table[] = {"What is {a} + {b}?", "What's {a} + {b}?", "Calculate {a} + {b}.", "Compute {a} + {b}, please.",
                         "What is {a}+{b}?", "{a} + {b} = ?", "{a}+{b}=?"};
  for (TaskKind t : arithmetic()) {
    std::set<std::string> held;
    for (const Form* f : forms_in(question_forms(t), PhrasingSet::kHeldOut)) held.insert(f->text);
    for (std::string text : table) {
      text = std::regex_replace(text, std::regex("\\+"), op_symbol(t));
      EXPECT_TRUE(held.count(text)) << task_name(t) << ": " << text;
    }
  }
  const Form plain{"equation", "{a}+{b}=?", true};
  EXPECT_EQ(render(plain, make_arithmetic(TaskKind::kAddition, 37, 48)), "37+48=?");
}

TEST(Phrasing, HeldOutFormsNeverAppearInTrainingPrompts) {
  for (TaskKind t : all_tasks()) {
    TaskSpec spec;
    spec.task = t;
    spec.count = 300;
    spec.seed = 11;
    spec.difficulty.max_number = 30;
    const std::vector<Problem> problems = generate(spec);
    std::vector<std::regex> held;
    for (const Form* f : forms_in(question_forms(t), PhrasingSet::kHeldOut)) held.push_back(form_regex(f->text));
    for (const Form* f : forms_in(follow_up_forms(t), PhrasingSet::kHeldOut)) held.push_back(form_regex(f->text));
    std::set<std::string> families;
    for (size_t i = 0; i < problems.size(); ++i) {
      for (uint64_t k = 0; k < 4; ++k) {
        std::string family;
        const std::string prompt = training_prompt(problems[i], i * 4 + k, &family, kLatestFormsVersion);
        families.insert(family);
        for (const std::regex& r : held) ASSERT_FALSE(std::regex_match(prompt, r)) << prompt;
      }
    }
    EXPECT_GE(families.size(), 4u);  // the draw reaches every kind of form
  }
}

TEST(Phrasing, HeldOutFormsDifferInConstructionAndShareTrainingCharacters) {
  std::set<std::string> train_chars;
  for (TaskKind t : all_tasks())
    for (auto table : {question_forms(t), follow_up_forms(t)})
      for (const Form* f : forms_in(table, PhrasingSet::kTrain, kLatestFormsVersion)) train_chars.merge(cjk_chars(f->text));
  for (const SmallTalk& s : small_talk())
    if (!s.held_out) {
      train_chars.merge(cjk_chars(s.user));
      train_chars.merge(cjk_chars(s.reply));
    }
  for (const char* s : instruction_suffixes()) train_chars.merge(cjk_chars(s));
  for (TaskKind t : all_tasks()) {
    for (auto table : {question_forms(t), follow_up_forms(t)}) {
      std::set<std::string> train;
      for (const Form* f : forms_in(table, PhrasingSet::kTrain, kLatestFormsVersion)) {
        train.insert(normalized_form(f->text));
        for (const char* s : instruction_suffixes()) {
          train.insert(normalized_form(std::string(f->text) + " " + s));
        }
      }
      for (const Form* f : forms_in(table, PhrasingSet::kHeldOut)) {
        EXPECT_FALSE(train.count(normalized_form(f->text))) << task_name(t) << ": " << f->text;
        // Unseen construction, not unseen characters: every CJK character is in the training text.
        for (const std::string& c : cjk_chars(f->text)) EXPECT_TRUE(train_chars.count(c)) << c << " in " << f->text;
      }
    }
  }
  std::set<std::string> train_users;
  for (const SmallTalk& s : small_talk())
    if (!s.held_out) train_users.insert(normalized_form(s.user));
  for (const SmallTalk& s : small_talk()) {
    if (!s.held_out) continue;
    EXPECT_FALSE(train_users.count(normalized_form(s.user))) << s.user;
    for (const std::string& c : cjk_chars(std::string(s.user) + s.reply)) EXPECT_TRUE(train_chars.count(c)) << c << " in " << s.user;
  }
  EXPECT_EQ(normalized_form("What is 3 + 4？"), "whatis3+4");
}

// An independent reading of a Chinese (or symbol) question: the numbers in order and the operation
// named by a word or symbol; "that" questions take the previous answer as the first operand.
Int128 read_arithmetic(const std::string& text, std::int64_t previous) {
  std::vector<Int128> n;
  for (const auto& [digits, at] : numbers_in(text)) {
    Int128 v = 0;
    parse_int128(digits, v);
    n.push_back(v);
  }
  if (n.size() == 1) n.insert(n.begin(), previous);
  EXPECT_EQ(n.size(), 2u) << text;
  if (n.size() != 2) return -1;
  auto has = [&](const char* s) { return text.find(s) != std::string::npos; };
  if (has("乘") || has("积") || has("×") || has("*")) return n[0] * n[1];
  if (has("减") || has("差") || has("-")) return n[0] - n[1];
  if (has("加") || has("和") || has("+")) return n[0] + n[1];
  ADD_FAILURE() << "no operation in " << text;
  return -1;
}

TEST(Phrasing, ChineseFormsReadBackToTheRightAnswer) {
  int checked = 0;
  for (TaskKind t : all_tasks()) {
    TaskSpec spec;
    spec.task = t;
    spec.count = 40;
    spec.seed = 4;
    const std::vector<Problem> problems = generate(spec);
    for (auto table : {question_forms(t), follow_up_forms(t)}) {
      for (const Form& f : table) {
        if (cjk_chars(f.text).empty()) continue;
        for (const Problem& p : problems) {
          const std::string text = render(f, p);
          if (t != TaskKind::kCountdown) {
            const Int128 value = read_arithmetic(text, p.numbers[0]);
            EXPECT_TRUE(verify(p, boxed(int128_to_string(value))).correct) << text << " read as " << int128_to_string(value);
          } else {
            // The target is the number after 目标 (target) or else the last one; the rest are the numbers.
            std::vector<std::int64_t> n;
            const auto found = numbers_in(text);
            for (const auto& [digits, at] : found) n.push_back(std::stoll(digits));
            size_t target_at = n.size() - 1;
            const size_t mark = text.find("目标");
            if (mark != std::string::npos) {
              target_at = 0;
              while (target_at < found.size() && found[target_at].second < mark) ++target_at;
            }
            const std::int64_t target = n[target_at];
            n.erase(n.begin() + static_cast<std::ptrdiff_t>(target_at));
            const Problem read = make_countdown(n, target);
            EXPECT_EQ(split_key(read), split_key(p)) << text;
            EXPECT_TRUE(verify(p, boxed(read.answer)).correct) << text;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Phrasing, TrainingPromptsAreDeterministicAndVaried) {
  const Problem p = make_arithmetic(TaskKind::kMultiplication, 37, 48);
  std::set<std::string> seen;
  int instructed = 0, templ = 0;
  for (uint64_t bits = 0; bits < 2000; ++bits) {
    const std::string a = training_prompt(p, bits);
    EXPECT_EQ(a, training_prompt(p, bits));
    seen.insert(a);
    instructed += a.find("step") != std::string::npos || a.find("一步") != std::string::npos;
    templ += a == p.prompt;
    EXPECT_NE(a.find("37"), std::string::npos) << a;
    EXPECT_NE(a.find("48"), std::string::npos) << a;
  }
  EXPECT_GT(seen.size(), 100u);
  // The template a tenth of the time (plus its share of the uniform draws); an instruction on
  // the template, the few forms that carry one, and about a third of the rest.
  const double n_train = static_cast<double>(forms_in(question_forms(p.task), PhrasingSet::kTrain).size());
  EXPECT_NEAR(templ / 2000.0, 0.1 + 0.9 / n_train, 0.025);
  EXPECT_GT(instructed / 2000.0, 0.3);
  EXPECT_LT(instructed / 2000.0, 0.5);
  EXPECT_THROW(render(Form{"x", "{c}", false}, p), Error);
  EXPECT_EQ(parse_phrasing_set("held-out"), PhrasingSet::kHeldOut);
  EXPECT_THROW(parse_phrasing_set("test"), Error);
}

TEST(Phrasing, SmallTalkReplies) {
  int identity = 0;
  for (const SmallTalk& s : small_talk()) {
    EXPECT_TRUE(small_talk_ok(s, s.reply)) << s.user;
    EXPECT_FALSE(small_talk_ok(s, "<think>\nx\n</think>\n\\boxed{1112}")) << s.user;
    EXPECT_FALSE(small_talk_ok(s, "<think>\nstill thinking")) << s.user;
    identity += std::string(s.family) == "identity";
  }
  EXPECT_GE(identity, 4);
}

}  // namespace
}  // namespace whale::train::tasks
