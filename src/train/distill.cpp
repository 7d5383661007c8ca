#include "train/distill.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "train/evaluate.h"
#include "train/run_dir.h"

namespace whale::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Trace {
  std::string task, problem, prompt, response;
};

// The teacher's traces, rejection-sampled: per problem the first `keep` distinct correct ones.
std::vector<Trace> generate_traces(const TrainConfig& c, const fs::path& stats_path, bool progress) {
  const DistillSpec& d = c.distill;
  const model::Weights w = model::load_weights(d.teacher, {.threads = c.threads});
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(d.teacher);
  double total_weight = 0;
  for (const TaskMix& m : c.tasks) total_weight += m.weight;
  std::vector<int> counts;
  int64_t total = 0;
  for (const TaskMix& m : c.tasks) {
    counts.push_back(std::max(1, static_cast<int>(std::lround(static_cast<double>(d.prompts) * m.weight / total_weight))));
    total += counts.back() * static_cast<int64_t>(d.samples);
  }
  std::optional<core::Progress> bar;
  if (progress) bar.emplace("traces", total, core::ProgressOptions{.unit = "responses"});
  std::vector<Trace> kept;
  json stats = {{"teacher", d.teacher}, {"tasks", json::array()}};
  int64_t generated = 0, correct = 0, done_before = 0, tokens = 0;
  double seconds = 0;
  for (size_t ti = 0; ti < c.tasks.size(); ++ti) {
    EvalOptions e;
    e.task = c.tasks[ti].task;
    e.split = tasks::Split::kTrain;
    e.difficulty = c.tasks[ti].difficulty;
    e.count = counts[ti];
    e.samples = d.samples;
    e.greedy = false;
    e.temperature = static_cast<float>(d.temperature);
    e.top_p = static_cast<float>(d.top_p);
    e.max_tokens = d.max_tokens;
    e.seed = c.seed * 7919 + ti;
    e.threads = c.threads;
    e.raw = d.teacher_prompt == "zero";
    if (bar) e.progress = [&](int64_t done, int64_t) { bar->set(done_before + done); };
    const EvalResult r = evaluate(w, tok, e);
    done_before += static_cast<int64_t>(r.responses.size());
    seconds += r.seconds;
    int64_t task_correct = 0, task_kept = 0;
    for (size_t i = 0; i < r.responses.size(); i += static_cast<size_t>(d.samples)) {
      std::set<std::string> seen;
      for (size_t j = i; j < i + static_cast<size_t>(d.samples); ++j) {
        const EvalSample& s = r.responses[j];
        tokens += s.tokens;
        if (!s.correct) continue;
        ++task_correct;
        if (static_cast<int>(seen.size()) < d.keep && seen.insert(s.response).second) {
          kept.push_back({tasks::task_name(e.task), s.problem_id, s.prompt, s.response});
          ++task_kept;
        }
      }
    }
    generated += static_cast<int64_t>(r.responses.size());
    correct += task_correct;
    stats["tasks"].push_back({{"task", tasks::task_name(e.task)}, {"problems", e.count}, {"responses", r.responses.size()},
                              {"correct", task_correct}, {"kept", task_kept}, {"teacher_pass1", r.pass1}});
  }
  if (bar) {
    bar->set_note(std::to_string(kept.size()) + " kept");
    bar->finish();
  }
  stats["responses"] = generated;
  stats["correct"] = correct;
  stats["kept"] = kept.size();
  stats["teacher_tokens"] = tokens;
  stats["teacher_seconds"] = seconds;
  core::write_file_atomic(stats_path.string(), stats.dump(1) + "\n");
  if (kept.empty()) {
    fail(ErrorKind::kInvalidArgument, "distill: the teacher ", d.teacher, " got none of ", generated,
         " responses right; nothing to distil (a stronger teacher, more prompts or samples)");
  }
  return kept;
}

void write_traces(const fs::path& path, const std::vector<Trace>& traces) {
  std::string out;
  for (const Trace& t : traces) {
    out += json{{"task", t.task}, {"problem", t.problem}, {"prompt", t.prompt}, {"response", t.response}}.dump() + "\n";
  }
  core::write_file_atomic(path.string(), out);
}

std::vector<Trace> read_traces(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kNotFound, "cannot read ", path.string());
  std::vector<Trace> traces;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    try {
      const json j = json::parse(line);
      traces.push_back({j.at("task").get<std::string>(), j.at("problem").get<std::string>(),
                        j.at("prompt").get<std::string>(), j.at("response").get<std::string>()});
    } catch (const json::exception& e) {
      fail(ErrorKind::kFormat, path.string(), ":", n, ": not a trace line (", e.what(), ")");
    }
  }
  return traces;
}

}  // namespace

void train_distill(const TrainConfig& c, const std::string& config_text, const std::string& run_dir,
                   const RunOptions& options) {
  if (c.kind != RunKind::kDistill) fail(ErrorKind::kInvalidArgument, "train_distill needs a kind \"distill\" config");
  const fs::path dir(run_dir);
  const fs::path traces_path = dir / "traces.jsonl";
  const bool have_checkpoint = !latest_checkpoint(run_dir).empty();
  if (!options.resume && (fs::exists(traces_path) || have_checkpoint || fs::exists(dir / "metrics.jsonl"))) {
    fail(ErrorKind::kInvalidArgument, "run directory ", run_dir,
         " already holds a run; pass --resume to continue it or choose another directory");
  }
  fs::create_directories(dir);
  std::vector<Trace> traces;
  if (fs::exists(traces_path)) {
    traces = read_traces(traces_path);
  } else {
    traces = generate_traces(c, dir / "distill.json", options.progress);
    write_traces(traces_path, traces);
  }
  // The student's tokenizer encodes the traces (the teacher's may differ: traces travel as text).
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(c.tokenizer.empty() ? c.init : c.tokenizer);
  std::vector<Example> pool;
  pool.reserve(traces.size());
  for (const Trace& t : traces) pool.push_back(response_example(tok, t.prompt, t.response, c.distill.prompt == "chat"));
  // Killed before the first checkpoint of the fine-tuning: start it over (the traces stay).
  RunOptions o = options;
  o.examples = &pool;
  o.resume = options.resume && have_checkpoint;
  if (!o.resume) fs::remove(dir / "metrics.jsonl");
  train(c, config_text, run_dir, o);
}

}  // namespace whale::train
