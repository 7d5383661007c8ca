// Building dialogues: a problem in a surface form, earlier turns as the chat session keeps them
// (answers only), follow-ups whose thinking restates the whole problem, and small-talk turns.
#include "train/dialogue.h"

#include "core/error.h"
#include "train/tasks/arithmetic.h"

namespace whale::train {

namespace {

constexpr std::string_view kClose = "</think>";

double unit(tasks::Rng& rng) { return static_cast<double>(rng.next() >> 11) / 9007199254740992.0; }

template <class T>
const T& pick(const std::vector<T>& v, tasks::Rng& rng) {
  return v[static_cast<size_t>(rng.uniform(0, static_cast<std::int64_t>(v.size()) - 1))];
}

char op_of(tasks::TaskKind task) {
  return task == tasks::TaskKind::kAddition ? '+' : task == tasks::TaskKind::kSubtraction ? '-' : '*';
}

}  // namespace

std::string answer_part(const std::string& reply) {
  const size_t close = reply.rfind(kClose);
  std::string answer = close == std::string::npos ? reply : reply.substr(close + kClose.size());
  answer.erase(0, answer.find_first_not_of("\r\n"));
  return answer;
}

void add_turn(Dialogue& d, const std::string& question, const std::string& reply) {
  d.history.push_back({.role = "user", .content = question});
  d.history.push_back({.role = "assistant", .content = answer_part(reply)});
}

Dialogue single_turn(const tasks::Problem& problem, const tasks::Form& form) {
  Dialogue d;
  d.user = tasks::render(form, problem);
  d.reply = tasks::solution(problem);
  d.problem = problem;
  d.family = form.family;
  return d;
}

void ask_follow_up(Dialogue& d, const tasks::Problem& problem, const tasks::Form& form) {
  d.user = tasks::render(form, problem);
  d.reply = tasks::solution(problem);
  if (tasks::refers_to_previous(form)) {
    // The question names only b: the thinking first says what "that" is, so the rest of the trace
    // reads exactly as for a standalone question.
    const std::string restated = cat("The previous answer is ", problem.numbers[0], ", so the question is ",
                                     problem.numbers[0], op_of(problem.task), problem.numbers[1], ".\n");
    d.reply.insert(std::string_view("<think>\n").size(), restated);
  }
  d.problem = problem;
  d.small_talk = nullptr;
  d.family = form.family;
  d.follow_up = true;
}

std::optional<tasks::Problem> previous_problem(const tasks::Problem& problem, tasks::Rng& rng,
                                               std::optional<tasks::Split> split) {
  if (problem.task == tasks::TaskKind::kCountdown) return std::nullopt;
  const std::int64_t a = problem.numbers[0];
  for (int attempt = 0; attempt < 16; ++attempt) {
    tasks::Problem prev;
    if (rng.uniform(0, 1) == 0 || a >= 9999) {  // x + y = a
      const std::int64_t x = rng.uniform(0, a);
      prev = tasks::make_arithmetic(tasks::TaskKind::kAddition, x, a - x);
    } else {  // x - y = a, x below 10^4 (the trained range)
      const std::int64_t y = rng.uniform(1, 9999 - a);
      prev = tasks::make_arithmetic(tasks::TaskKind::kSubtraction, a + y, y);
    }
    if (!split || tasks::split_of(prev) == *split) return prev;
  }
  return std::nullopt;
}

Dialogue training_dialogue(const DataMix& mix, const std::vector<TaskMix>& task_mix, tasks::Split split,
                           const tasks::Problem& problem, uint64_t bits, bool allow_follow_ups) {
  tasks::Rng rng(tasks::mix64(bits ^ 0x6469616c6f677565ull));
  const double u = unit(rng);
  auto ask = [&](const tasks::Problem& p) {
    return mix.phrasings == tasks::PhrasingSet::kTemplate ? p.prompt : tasks::training_prompt(p, rng.next(), nullptr, mix.forms_version);
  };
  if (u < mix.small_talk) {
    std::vector<const tasks::SmallTalk*> rows;
    for (const tasks::SmallTalk& t : tasks::small_talk())
      if (!t.held_out) rows.push_back(&t);
    Dialogue d;
    d.small_talk = pick(rows, rng);
    d.user = d.small_talk->user;
    d.reply = d.small_talk->reply;
    d.family = d.small_talk->family;
    return d;
  }
  // A knowledge question is asked alone: it has no follow-up forms.
  if (!allow_follow_ups || u >= mix.small_talk + mix.follow_ups || problem.task == tasks::TaskKind::kKnowledge) {
    Dialogue d;
    d.user = ask(problem);
    d.reply = tasks::solution(problem);
    d.problem = problem;
    d.family = "question";
    return d;
  }
  // A conversation of 2 (two thirds) or 3 turns; the first is sometimes a greeting. A follow-up
  // about "that" takes the turn before it for the problem whose answer it refers to.
  Dialogue d;
  std::vector<const tasks::Form*> forms = tasks::forms_in(tasks::follow_up_forms(problem.task), tasks::PhrasingSet::kTrain, mix.forms_version);
  const tasks::Form* form = pick(forms, rng);
  std::optional<tasks::Problem> prev;
  if (tasks::refers_to_previous(*form)) {
    prev = previous_problem(problem, rng, split);
    if (!prev) {
      std::erase_if(forms, [](const tasks::Form* f) { return tasks::refers_to_previous(*f); });
      form = pick(forms, rng);
    }
  }
  const int earlier = (rng.uniform(0, 2) == 0 ? 2 : 1) - (prev ? 1 : 0);
  for (int k = 0; k < earlier; ++k) {
    if (k == 0 && rng.uniform(0, 4) == 0) {
      std::vector<const tasks::SmallTalk*> greetings;
      for (const tasks::SmallTalk& t : tasks::small_talk())
        if (!t.held_out && std::string_view(t.family) == "greeting") greetings.push_back(&t);
      const tasks::SmallTalk& hello = *pick(greetings, rng);
      add_turn(d, hello.user, hello.reply);
      continue;
    }
    tasks::Problem p = draw_problem(task_mix, split, rng.next(), rng.next());
    // An earlier turn is never a knowledge question: its search results would fill the context.
    for (int redraw = 0; redraw < 64 && p.task == tasks::TaskKind::kKnowledge; ++redraw)
      p = draw_problem(task_mix, split, rng.next(), rng.next());
    std::string question = ask(p);
    if (k > 0 && p.task != tasks::TaskKind::kKnowledge) {  // a middle turn is itself an elliptical follow-up
      std::vector<const tasks::Form*> middle;
      for (const tasks::Form* f : tasks::forms_in(tasks::follow_up_forms(p.task), tasks::PhrasingSet::kTrain, mix.forms_version))
        if (!tasks::refers_to_previous(*f)) middle.push_back(f);
      question = tasks::render(*pick(middle, rng), p);
    }
    add_turn(d, question, tasks::solution(p));
  }
  if (prev) add_turn(d, ask(*prev), tasks::solution(*prev));
  ask_follow_up(d, problem, *form);
  return d;
}

}  // namespace whale::train
