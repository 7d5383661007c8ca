#include "train/evaluate.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/chat_session.h"
#include "engine/engine.h"

namespace whale::train {

EvalResult evaluate(const model::Weights& w, const tokenizer::Tokenizer& tok, const EvalOptions& o) {
  if (o.count <= 0) fail(ErrorKind::kInvalidArgument, "eval: the problem count must be positive");
  if (o.samples < 0) fail(ErrorKind::kInvalidArgument, "eval: samples must be >= 0");
  if (o.samples == 0 && !o.greedy) fail(ErrorKind::kInvalidArgument, "eval: nothing to measure (no samples, no greedy)");
  tasks::TaskSpec spec;
  spec.task = o.task;
  spec.split = o.split;
  spec.count = o.count;
  spec.seed = o.seed;
  spec.difficulty = o.difficulty;
  const std::vector<tasks::Problem> problems = tasks::generate(spec);

  EvalResult res;
  res.task = tasks::task_name(o.task);
  res.count = o.count;
  res.samples = o.samples;
  const int per = o.samples + (o.greedy ? 1 : 0);
  res.responses.resize(problems.size() * static_cast<size_t>(per));

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
      const tasks::Problem& p = problems[i / per];
      const int j = static_cast<int>(i % per);
      EvalSample& s = res.responses[i];
      s.problem_id = p.id;
      s.prompt = p.prompt;
      s.greedy = o.greedy && j == 0;
      engine::Request r;
      if (o.raw) {
        r.prompt = tok.encode(p.prompt + "\n", {.add_special = false, .parse_special = false});
        if (tok.bos_id()) r.prompt.insert(r.prompt.begin(), *tok.bos_id());
      } else {
        const tokenizer::ChatMessage user{.role = "user", .content = p.prompt};
        engine::prepare_chat_prompt(tok, std::span<const tokenizer::ChatMessage>(&user, 1), /*thinking=*/true, r);
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

  int64_t greedy_ok = 0, format_ok = 0;
  double pass_sum = 0, pass_sq = 0;
  for (size_t pi = 0; pi < problems.size(); ++pi) {
    int correct_samples = 0;
    for (int j = 0; j < per; ++j) {
      const size_t i = pi * per + j;
      EvalSample& s = res.responses[i];
      s.response = (opened[i] ? "<think>\n" : "") + text[i];
      const tasks::Verdict v = tasks::verify(problems[pi], s.response);
      s.correct = v.correct;
      s.format_ok = v.format_ok;
      format_ok += v.format_ok;
      if (s.greedy) {
        greedy_ok += v.correct;
      } else {
        correct_samples += v.correct;
      }
      res.mean_tokens += static_cast<double>(s.tokens);
    }
    if (o.samples > 0) {
      const double p = static_cast<double>(correct_samples) / o.samples;
      pass_sum += p;
      pass_sq += p * p;
    }
  }
  const double n = static_cast<double>(problems.size());
  res.mean_tokens /= static_cast<double>(res.responses.size());
  res.format_rate = static_cast<double>(format_ok) / static_cast<double>(res.responses.size());
  if (o.greedy) res.greedy_accuracy = static_cast<double>(greedy_ok) / n;
  if (o.samples > 0) {
    res.pass1 = pass_sum / n;
    const double var = n > 1 ? (pass_sq - n * res.pass1 * res.pass1) / (n - 1) : 0.0;
    res.pass1_stderr = std::sqrt(std::max(0.0, var) / n);
  }
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
  if (with_responses) {
    nlohmann::json arr = nlohmann::json::array();
    for (const EvalSample& s : r.responses) {
      arr.push_back({{"problem", s.problem_id}, {"greedy", s.greedy}, {"correct", s.correct},
                     {"format_ok", s.format_ok}, {"tokens", s.tokens}, {"response", s.response}});
    }
    j["responses"] = arr;
  }
  return j.dump(1);
}

}  // namespace whale::train
