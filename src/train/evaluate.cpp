#include "train/evaluate.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/chat_session.h"
#include "engine/engine.h"
#include "train/tasks/knowledge.h"

namespace whale::train {

std::vector<EvalItem> eval_items(const EvalOptions& o) {
  if (o.count <= 0) fail(ErrorKind::kInvalidArgument, "eval: the problem count must be positive");
  tasks::TaskSpec spec;
  spec.task = o.task;
  spec.split = o.split;
  spec.count = o.count;
  spec.seed = o.seed;
  spec.difficulty = o.difficulty;
  const std::vector<tasks::Problem> problems = tasks::generate(spec);
  std::vector<EvalItem> items;
  if (o.task == tasks::TaskKind::kKnowledge) {
    if (o.phrasings) fail(ErrorKind::kInvalidArgument, "eval: task knowledge has its own question forms; drop --phrasings");
    for (const tasks::Problem& p : problems) {
      for (const bool search : {true, false}) {
        EvalItem d;
        d.problem = tasks::knowledge_problem(static_cast<uint64_t>(p.numbers.at(0)), o.difficulty, search);
        d.user = d.problem->prompt;
        d.reply = tasks::solution(*d.problem);
        d.family = search ? "search" : "no_search";
        items.push_back(std::move(d));
      }
    }
    return items;
  }
  if (!o.phrasings) {
    for (const tasks::Problem& p : problems) {
      EvalItem d;
      d.user = p.prompt;
      d.reply = tasks::solution(p);
      d.problem = p;
      d.family = "template";
      items.push_back(std::move(d));
    }
    return items;
  }
  const std::vector<const tasks::Form*> forms = tasks::forms_in(tasks::question_forms(o.task), *o.phrasings);
  for (size_t i = 0; i < problems.size(); ++i) items.push_back(single_turn(problems[i], *forms[i % forms.size()]));
  if (*o.phrasings == tasks::PhrasingSet::kTemplate) return items;
  if (o.small_talk) {
    for (const tasks::SmallTalk& t : tasks::small_talk()) {
      if (t.held_out != (*o.phrasings == tasks::PhrasingSet::kHeldOut)) continue;
      EvalItem d;
      d.small_talk = &t;
      d.user = t.user;
      d.reply = t.reply;
      d.family = t.family;
      items.push_back(std::move(d));
    }
  }
  if (!o.follow_ups) return items;
  const std::vector<const tasks::Form*> follow = tasks::forms_in(tasks::follow_up_forms(o.task), *o.phrasings);
  for (size_t i = 0; i < problems.size(); ++i) {
    const tasks::Problem& p = problems[i];
    const tasks::Form* form = follow[i % follow.size()];
    EvalItem d;
    tasks::Rng rng(tasks::hash_string(p.id) ^ o.seed);
    std::optional<tasks::Problem> prev;
    if (tasks::refers_to_previous(*form)) prev = previous_problem(p, rng, std::nullopt);
    if (!prev) {
      // An elliptical follow-up: the conversation opened with another test problem of the task.
      const tasks::Problem& other = problems[(i + 1) % problems.size()];
      if (tasks::refers_to_previous(*form)) form = follow[0];  // follow[0] is elliptical in every table
      add_turn(d, tasks::render(*forms[(i + 1) % forms.size()], other), tasks::solution(other));
    } else {
      add_turn(d, tasks::render(*forms[(i + 1) % forms.size()], *prev), tasks::solution(*prev));
    }
    ask_follow_up(d, p, *form);
    items.push_back(std::move(d));
  }
  return items;
}

void tally(const std::vector<EvalItem>& items, int samples, bool greedy, EvalResult& res) {
  const int per = samples + (greedy ? 1 : 0);
  struct Acc {
    int n = 0;
    int64_t greedy_ok = 0;
    double pass_sum = 0, pass_sq = 0;
  };
  // (turn, family) -> counts; "all" per turn kind; the overall ones (task questions only).
  std::map<std::pair<std::string, std::string>, Acc> groups;
  int64_t n_task = 0;
  Acc overall;
  int64_t format_ok = 0;
  res.mean_tokens = 0;
  for (size_t pi = 0; pi < items.size(); ++pi) {
    int correct_samples = 0;
    bool greedy_ok = false;
    for (int j = 0; j < per; ++j) {
      const EvalSample& s = res.responses[pi * per + j];
      format_ok += s.format_ok;
      if (s.greedy) {
        greedy_ok = s.correct;
      } else {
        correct_samples += s.correct;
      }
      res.mean_tokens += static_cast<double>(s.tokens);
    }
    const double p = samples > 0 ? static_cast<double>(correct_samples) / samples : 0.0;
    const EvalItem& item = items[pi];
    const std::string turn = item.small_talk ? "small_talk" : item.follow_up ? "follow_up" : "first";
    n_task += !item.small_talk;
    for (Acc* a : {item.small_talk ? nullptr : &overall, &groups[{turn, item.family}], &groups[{turn, "all"}]}) {
      if (!a) continue;
      ++a->n;
      a->greedy_ok += greedy_ok;
      a->pass_sum += p;
      a->pass_sq += p * p;
    }
  }
  const double n = static_cast<double>(std::max<int64_t>(1, n_task));
  res.mean_tokens /= std::max<double>(1.0, static_cast<double>(res.responses.size()));
  res.format_rate = static_cast<double>(format_ok) / std::max<double>(1.0, static_cast<double>(res.responses.size()));
  if (greedy) res.greedy_accuracy = static_cast<double>(overall.greedy_ok) / n;
  if (samples > 0) {
    res.pass1 = overall.pass_sum / n;
    const double var = n > 1 ? (overall.pass_sq - n * res.pass1 * res.pass1) / (n - 1) : 0.0;
    res.pass1_stderr = std::sqrt(std::max(0.0, var) / n);
  }
  res.families.clear();
  if (res.phrasings.empty()) return;
  for (const auto& [key, a] : groups) {
    FamilyScore f{.family = key.second, .turn = key.first, .count = a.n};
    if (greedy) f.greedy_accuracy = static_cast<double>(a.greedy_ok) / a.n;
    if (samples > 0) f.pass1 = a.pass_sum / a.n;
    res.families.push_back(f);
  }
  // Per turn kind: the families by name, then "all".
  auto rank = [](const std::string& turn) { return turn == "first" ? 0 : turn == "follow_up" ? 1 : 2; };
  std::stable_sort(res.families.begin(), res.families.end(), [&](const FamilyScore& x, const FamilyScore& y) {
    if (x.turn != y.turn) return rank(x.turn) < rank(y.turn);
    return (x.family == "all") < (y.family == "all");
  });
}

Rate wilson_rate(int64_t k, int64_t n, double z) {
  Rate r{.k = k, .n = n};
  if (n <= 0) return r;
  const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  r.rate = p;
  r.lo = std::max(0.0, centre - half);
  r.hi = std::min(1.0, centre + half);
  return r;
}

void tally_knowledge(const std::vector<EvalItem>& items, int samples, bool greedy, EvalResult& res) {
  const int per = samples + (greedy ? 1 : 0);
  struct Counts {
    int64_t n = 0, grade[4] = {0, 0, 0, 0}, cited = 0, precise = 0;
  } on, off;
  for (size_t pi = 0; pi < items.size(); ++pi) {
    const EvalItem& item = items[pi];
    if (!item.problem || item.problem->task != tasks::TaskKind::kKnowledge) continue;
    Counts& c = item.problem->target > 0 ? on : off;
    for (int j = 0; j < per; ++j) {
      const EvalSample& s = res.responses[pi * per + j];
      if (greedy != s.greedy) continue;
      const tasks::KnowledgeGrade g = tasks::grade_knowledge(*item.problem, s.response);
      ++c.n;
      ++c.grade[static_cast<int>(g.grounding)];
      c.cited += g.cited;
      c.precise += g.citations_precise;
    }
  }
  auto score = [](const Counts& c) {
    GroundingScore g;
    g.accuracy = wilson_rate(c.grade[static_cast<int>(tasks::Grounding::kCorrect)], c.n);
    g.abstention = wilson_rate(c.grade[static_cast<int>(tasks::Grounding::kAbstained)], c.n);
    g.hallucination = wilson_rate(c.grade[static_cast<int>(tasks::Grounding::kHallucinated)], c.n);
    g.no_answer = wilson_rate(c.grade[static_cast<int>(tasks::Grounding::kNoAnswer)], c.n);
    g.cited = wilson_rate(c.cited, c.n);
    g.citation_precision = wilson_rate(c.precise, c.cited);
    return g;
  };
  res.knowledge = KnowledgeScores{.graded = greedy ? "greedy" : "samples", .search = score(on), .no_search = score(off)};
}

EvalResult evaluate(const model::Weights& w, const tokenizer::Tokenizer& tok, const EvalOptions& o) {
  if (o.samples < 0) fail(ErrorKind::kInvalidArgument, "eval: samples must be >= 0");
  if (o.samples == 0 && !o.greedy) fail(ErrorKind::kInvalidArgument, "eval: nothing to measure (no samples, no greedy)");
  if (o.raw && o.phrasings && o.follow_ups && *o.phrasings != tasks::PhrasingSet::kTemplate)
    fail(ErrorKind::kInvalidArgument, "eval: --raw prompts have no chat turns; add --no-follow-ups");
  const std::vector<EvalItem> items = eval_items(o);

  EvalResult res;
  res.task = tasks::task_name(o.task);
  res.count = o.count;
  res.samples = o.samples;
  res.phrasings = o.phrasings ? tasks::phrasing_set_name(*o.phrasings) : "";
  const int per = o.samples + (o.greedy ? 1 : 0);
  res.responses.resize(items.size() * static_cast<size_t>(per));

  const auto t0 = std::chrono::steady_clock::now();
  // f32 KV rows, as the evaluations the docs cite were made (bf16 rows can flip greedy near-ties).
  engine::Engine eng(w, &tok,
                     {.max_seqs = o.max_seqs, .max_batch_tokens = 512, .max_context = 0, .threads = o.threads,
                      .kv_type = core::DType::kF32});
  int64_t done = 0, total_tokens = 0;
  const int64_t total = static_cast<int64_t>(res.responses.size());
  std::vector<std::string> text(res.responses.size());
  std::vector<bool> opened(res.responses.size());
  size_t next = 0;
  // Keep the engine fed with at most 2 × max_seqs requests queued.
  auto submit = [&]() {
    while (next < res.responses.size() && next - static_cast<size_t>(done) < static_cast<size_t>(2 * o.max_seqs)) {
      const size_t i = next++;
      const EvalItem& item = items[i / per];
      const int j = static_cast<int>(i % per);
      EvalSample& s = res.responses[i];
      s.problem_id = item.problem ? item.problem->id : "small_talk:" + item.user;
      s.prompt = item.user;
      s.greedy = o.greedy && j == 0;
      engine::Request r;
      if (o.raw) {
        r.prompt = tok.encode(item.user + "\n", {.add_special = false, .parse_special = false});
        if (tok.bos_id()) r.prompt.insert(r.prompt.begin(), *tok.bos_id());
      } else {
        std::vector<tokenizer::ChatMessage> messages = item.history;
        messages.push_back({.role = "user", .content = item.user});
        engine::prepare_chat_prompt(tok, messages, /*thinking=*/true, r);
      }
      opened[i] = r.reasoning.starts_in_reasoning;
      r.reasoning.enabled = false;  // keep the raw text: the verifier reads the tags itself
      r.sampling.temperature = s.greedy ? 0.0f : o.temperature;
      r.sampling.top_p = s.greedy ? 1.0f : o.top_p;
      r.sampling.seed = o.seed * 1000003ull + i;
      r.max_tokens = o.max_tokens;
      r.on_event = [&, i](const engine::Event& e) {
        if (e.kind == engine::Event::Kind::kFinished) {
          res.responses[i].tokens = e.usage.completion_tokens;
          total_tokens += e.usage.completion_tokens;
          ++done;
          if (o.progress) o.progress(done, total);
        } else {
          text[i] += e.text;
        }
      };
      eng.add(std::move(r));
    }
  };
  submit();
  while (!eng.idle()) {
    eng.step();
    submit();
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.tokens_per_s = static_cast<double>(total_tokens) / std::max(1e-9, res.seconds);

  for (size_t i = 0; i < res.responses.size(); ++i) {
    EvalSample& s = res.responses[i];
    s.response = (opened[i] ? "<think>\n" : "") + text[i];
    const EvalItem& item = items[i / per];
    if (item.small_talk) {  // no box to check: its own rule, and the format is the think block alone
      s.correct = tasks::small_talk_ok(*item.small_talk, s.response);
      s.format_ok = s.response.find("</think>") != std::string::npos;
      continue;
    }
    const tasks::Verdict v = tasks::verify(*item.problem, s.response);
    s.correct = v.correct;
    s.format_ok = v.format_ok;
  }
  tally(items, o.samples, o.greedy, res);
  if (o.task == tasks::TaskKind::kKnowledge) tally_knowledge(items, o.samples, o.greedy, res);
  return res;
}

std::string eval_result_json(const EvalResult& r, bool with_responses) {
  nlohmann::json j = {{"task", r.task},
                      {"count", r.count},
                      {"samples", r.samples},
                      {"format_rate", r.format_rate},
                      {"mean_tokens", r.mean_tokens},
                      {"seconds", r.seconds},
                      {"tokens_per_s", r.tokens_per_s}};
  if (r.greedy_accuracy >= 0) j["greedy_accuracy"] = r.greedy_accuracy;
  if (r.pass1 >= 0) {
    j["pass1"] = r.pass1;
    j["pass1_stderr"] = r.pass1_stderr;
  }
  if (!r.phrasings.empty()) {
    j["phrasings"] = r.phrasings;
    nlohmann::json fams = nlohmann::json::array();
    for (const FamilyScore& f : r.families) {
      nlohmann::json x = {{"family", f.family}, {"turn", f.turn}, {"count", f.count}};
      if (f.greedy_accuracy >= 0) x["greedy_accuracy"] = f.greedy_accuracy;
      if (f.pass1 >= 0) x["pass1"] = f.pass1;
      fams.push_back(x);
    }
    j["families"] = fams;
  }
  if (r.knowledge) {
    auto rate = [](const Rate& x) {
      nlohmann::json j = {{"k", x.k}, {"n", x.n}};
      if (x.n > 0) {
        j["rate"] = x.rate;
        j["ci95"] = {x.lo, x.hi};
      } else {
        j["rate"] = nullptr;
        j["ci95"] = nullptr;
      }
      return j;
    };
    auto mode = [&](const GroundingScore& g) {
      return nlohmann::json{{"accuracy", rate(g.accuracy)},     {"hallucination_rate", rate(g.hallucination)},
                            {"abstention_rate", rate(g.abstention)}, {"no_answer_rate", rate(g.no_answer)},
                            {"cited_rate", rate(g.cited)},      {"citation_precision", rate(g.citation_precision)}};
    };
    j["knowledge"] = {{"graded", r.knowledge->graded},
                      {"interval", "wilson95"},
                      {"search", mode(r.knowledge->search)},
                      {"no_search", mode(r.knowledge->no_search)}};
  }
  if (with_responses) {
    nlohmann::json arr = nlohmann::json::array();
    for (const EvalSample& s : r.responses) {
      arr.push_back({{"problem", s.problem_id}, {"prompt", s.prompt}, {"greedy", s.greedy}, {"correct", s.correct},
                     {"format_ok", s.format_ok}, {"tokens", s.tokens}, {"response", s.response}});
    }
    j["responses"] = arr;
  }
  return j.dump(1);
}

}  // namespace whale::train
