// The speculative-decoding benchmark: for each repetition, one plain greedy generation (recorded)
// and one speculative generation of the same request, timed from the first generated token to the
// last (prefill excluded), checked to give the same tokens. The oracle mode replays the recording
// as the draft, each token right with probability P, so the costs of verifying and rolling back are
// measured at real dimensions even on random weights (whose own drafts are accepted at random).
#include "bench_spec.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "engine/engine.h"
#include "model/kv_cache.h"

namespace whale::cli {
namespace {

struct RunResult {
  std::vector<int32_t> tokens;
  double decode_tps = 0;  // tokens after the first, per second
  engine::EngineStats stats;
};

RunResult generate(const model::Weights& w, const SpecBenchOptions& o, const std::vector<int32_t>& prompt,
                   const engine::SpecConfig& spec) {
  const engine::EngineConfig cfg{.max_seqs = 1, .max_batch_tokens = 512,
                                 .max_context = static_cast<int64_t>(prompt.size()) + o.gen + o.k + 2,
                                 .threads = o.threads, .kv_type = model::kv_type_from_name(o.kv_type), .spec = spec};
  engine::Engine eng(w, nullptr, cfg);
  RunResult r;
  std::chrono::steady_clock::time_point t_first{}, t_end{};
  engine::Request req;
  req.prompt = prompt;
  req.sampling.temperature = 0;
  req.max_tokens = o.gen;
  req.ignore_eos = true;  // random weights end early otherwise
  req.reasoning.enabled = false;
  req.on_event = [&](const engine::Event& e) {
    if (e.kind == engine::Event::Kind::kFinished) return;
    if (r.tokens.empty()) t_first = std::chrono::steady_clock::now();
    r.tokens.insert(r.tokens.end(), e.tokens.begin(), e.tokens.end());
    t_end = std::chrono::steady_clock::now();
  };
  eng.add(std::move(req));
  eng.run_until_idle();
  const double s = std::chrono::duration<double>(t_end - t_first).count();
  r.decode_tps = r.tokens.size() > 1 ? static_cast<double>(r.tokens.size() - 1) / std::max(s, 1e-9) : 0.0;
  r.stats = eng.stats();
  return r;
}

}  // namespace

void bench_speculative(const model::Weights& w, const SpecBenchOptions& o) {
  if (o.oracle > 1.0) fail(ErrorKind::kInvalidArgument, "--spec-oracle must be a probability in [0, 1], got ", o.oracle);
  const bool oracle = o.oracle >= 0;
  const int64_t V = w.args.vocab_size;
  std::vector<int32_t> prompt;
  for (int64_t i = 0; i < o.prompt; ++i) {
    prompt.push_back(static_cast<int32_t>(core::splitmix64(static_cast<uint64_t>(i) + 12345) % static_cast<uint64_t>(V)));
  }
  engine::SpecConfig spec;
  spec.k = o.k;
  spec.mode = oracle ? engine::SpecMode::kOracle : engine::spec_mode_from_name(o.spec);
  spec.draft = o.draft;
  if (spec.mode == engine::SpecMode::kOff) fail(ErrorKind::kInvalidArgument, "--spec off: nothing to compare (give mtp or --spec-oracle P)");
  spec.oracle_p = oracle ? o.oracle : 0.0;
  char label[160];
  if (oracle) {
    std::snprintf(label, sizeof label, "ORACLE drafts (recorded greedy continuation, P(right)=%.2f; no drafter cost)", o.oracle);
  } else {
    std::snprintf(label, sizeof label, "%s drafts", engine::spec_mode_name(spec.mode));
  }
  // Warm-up: faults the weights in and grows the buffers.
  generate(w, {.k = o.k, .prompt = o.prompt, .gen = std::min<int64_t>(o.gen, 8), .threads = o.threads, .kv_type = o.kv_type}, prompt, {});
  std::vector<double> plain, spec_tps, ratio;
  engine::SpecStats total;
  bool identical = true;
  for (int r = 0; r < o.reps; ++r) {
    const RunResult base = generate(w, o, prompt, {});
    spec.oracle = base.tokens;
    spec.oracle_seed = static_cast<uint64_t>(r) * 7919 + 1;
    const RunResult sp = generate(w, o, prompt, spec);
    identical = identical && sp.tokens == base.tokens;
    plain.push_back(base.decode_tps);
    spec_tps.push_back(sp.decode_tps);
    ratio.push_back(sp.decode_tps / std::max(base.decode_tps, 1e-9));
    const engine::SpecStats& s = sp.stats.spec;
    total.steps += s.steps;
    total.emitted += s.emitted;
    total.proposed.resize(std::max(total.proposed.size(), s.proposed.size()), 0);
    total.accepted.resize(total.proposed.size(), 0);
    for (size_t j = 0; j < s.proposed.size(); ++j) total.proposed[j] += s.proposed[j], total.accepted[j] += s.accepted[j];
  }
  std::printf("speculative decoding, %s, k=%d, prompt %lld, %lld generated tokens greedy, %d reps:\n", label, o.k,
              static_cast<long long>(o.prompt), static_cast<long long>(o.gen), o.reps);
  std::printf("| drafts | test | t/s |\n|---|---|---|\n");
  std::printf("| off | tg%lld | %s |\n", static_cast<long long>(o.gen), mean_sd(plain).c_str());
  std::printf("| %s k=%d | tg%lld | %s |\n", oracle ? "ORACLE" : engine::spec_mode_name(spec.mode), o.k, static_cast<long long>(o.gen), mean_sd(spec_tps).c_str());
  std::printf("%s: speedup over --spec off %s×; outputs identical to plain decoding: %s\n", label, mean_sd(ratio).c_str(),
              identical ? "yes" : "NO");
  std::printf("%s: acceptance per draft position:", label);
  for (size_t j = 0; j < total.proposed.size(); ++j) {
    std::printf(" %zu: %.3f (%lld/%lld)", j + 1,
                total.proposed[j] ? static_cast<double>(total.accepted[j]) / static_cast<double>(total.proposed[j]) : 0.0,
                static_cast<long long>(total.accepted[j]), static_cast<long long>(total.proposed[j]));
  }
  std::printf("\n%s: %.3f tokens per verify step (%lld steps)\n", label,
              total.steps ? static_cast<double>(total.emitted) / static_cast<double>(total.steps) : 0.0,
              static_cast<long long>(total.steps));
  std::fflush(stdout);
  if (!identical) fail(ErrorKind::kInternal, "speculative decoding changed the greedy output");
}

}  // namespace whale::cli
