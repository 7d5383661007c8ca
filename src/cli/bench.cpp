// `whale bench MODEL [-p 512] [-n 128] [-t THREADS] [-d DEPTH] [-r REPS]`: prompt processing and
// generation speed like llama-bench (mean ± sd over repetitions, at a given context depth), with
// resident memory. Random token ids; no sampling, just the forward pass.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench_spec.h"
#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/random.h"
#include "core/thread_pool.h"
#include "dist_run.h"
#include "kernels/amx.h"
#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"
#include "model/forward.h"
#include "model/model_info.h"
#include "model/roofline.h"
#include "model/weights.h"
#include "run_common.h"

namespace whale::cli {
namespace {

struct Opts {
  std::string model, quant = "keep", kv_type = "bf16";
  int64_t p = 512, n = 128, depth = 0, batch = 512;
  int reps = 3, threads = 0;
  bool warmup = true;
  std::string spec = "off", draft;
  int32_t spec_k = 1;
  double spec_oracle = -1;
  DistOptions dist;  // --pp/--ep: across MPI processes (dist_run.h)
};

// Peak and current resident memory from /proc (bytes).
int64_t proc_status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size())) * 1024;
  }
  return 0;
}


// /proc/cpuinfo's first "model name", or "unknown CPU".
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// The fastest matmul path linear() takes here for prefill (kernels/linear.cpp's choose_path).
const char* kernel_path() {
  if (kernels::amx::enabled()) return "AMX";
  switch (kernels::simd_level()) {
    case kernels::SimdLevel::kAvx512: return "AVX-512 VNNI";
    case kernels::SimdLevel::kAvx2: return kernels::simd::avx2_uses_vnni() ? "AVX2 + AVX-VNNI" : "AVX2";
    default: return "scalar";
  }
}

void bench(const Opts& o) {
  if (o.dist.requested()) {
    return bench_distributed({.model = o.model, .quant = o.quant, .kv_type = o.kv_type, .prompt = o.p, .gen = o.n, .threads = o.threads},
                             o.dist);
  }
  const model::Weights w = model::load_weights(o.model, load_options(o.quant, o.threads));
  if (o.spec != "off" || o.spec_oracle >= 0) {
    std::printf("cpu: %s; kernel path: %s\n\n", cpu_model().c_str(), kernel_path());
    std::unique_ptr<model::Weights> draft;
    if (o.spec == "draft") {
      draft = load_draft_model({.mode = "draft", .draft = o.draft}, o.model, load_options(o.quant, o.threads));
    }
    bench_speculative(w, {.spec = o.spec, .draft = draft.get(), .k = o.spec_k, .oracle = o.spec_oracle, .prompt = o.p, .gen = o.n,
                          .reps = o.reps, .threads = o.threads, .kv_type = o.kv_type, .quant = o.quant});
    return;
  }
  core::ThreadPool pool(o.threads);
  const int64_t total = o.depth + std::max(o.p, o.n);
  if (total > w.args.max_position_embeddings) {
    fail(ErrorKind::kOutOfRange, "depth + test length ", total, " exceeds the context of ", w.args.max_position_embeddings);
  }
  const core::DType kv_type = model::kv_type_from_name(o.kv_type);
  model::ContiguousKvCache cache(w.args, 1, total, kv_type);
  model::Scratch scratch;
  model::ForwardOutput out;
  const int64_t V = w.args.vocab_size;
  auto token = [&](int64_t i) { return static_cast<int32_t>(core::splitmix64(static_cast<uint64_t>(i)) % static_cast<uint64_t>(V)); };
  // Runs positions [from, to) in batches of `batch` tokens; only the last row's logits are computed.
  auto run = [&](int64_t from, int64_t to, int64_t batch, model::MlaMode mla) {
    for (int64_t s = from; s < to; s += batch) {
      model::Batch b;
      for (int64_t p = s; p < std::min(to, s + batch); ++p) b.add(token(p), static_cast<int32_t>(p), 0);
      model::forward(w, b, cache, {.mla = mla, .logit_rows = {static_cast<int32_t>(b.size() - 1)}}, scratch, pool, out);
    }
  };
  if (o.depth > 0) {
    core::Progress bar("filling context to depth " + std::to_string(o.depth), o.depth, {.unit = "tokens"});
    for (int64_t s = 0; s < o.depth; s += o.batch) {
      run(s, std::min(o.depth, s + o.batch), o.batch, model::MlaMode::kAuto);
      bar.set(std::min(o.depth, s + o.batch));
    }
  }
  const model::ModelSummary sum = model::summarize(w.args);
  const auto now = [] { return std::chrono::steady_clock::now(); };
  std::printf("cpu: %s; kernel path: %s\n\n", cpu_model().c_str(), kernel_path());
  std::printf("| model | params | quant | threads | test | t/s |\n|---|---|---|---|---|---|\n");
  const auto row = [&](const std::string& test, const std::vector<double>& tps) {
    std::printf("| %s | %s | %s | %d | %s%s | %s |\n", w.args.model_type.c_str(), model::format_count(sum.total_params).c_str(),
                o.quant.c_str(), pool.size(), test.c_str(), o.depth ? (" @ d" + std::to_string(o.depth)).c_str() : "",
                mean_sd(tps).c_str());
    std::fflush(stdout);
  };
  // One untimed pass of each test first, as llama-bench does: it faults the mmap'd weights in and
  // warms the caches, so the first repetition is not a disk benchmark.
  if (o.warmup) {
    if (o.p > 0) run(o.depth, o.depth + std::min<int64_t>(o.p, o.batch), o.batch, model::MlaMode::kNaive);
    if (o.n > 0) run(o.depth, o.depth + 1, 1, model::MlaMode::kAbsorbed);
  }
  if (o.p > 0) {
    std::vector<double> tps;
    for (int r = 0; r < o.reps; ++r) {
      const auto t0 = now();
      run(o.depth, o.depth + o.p, o.batch, model::MlaMode::kNaive);  // the engine's path
      tps.push_back(static_cast<double>(o.p) / std::chrono::duration<double>(now() - t0).count());
    }
    row("pp" + std::to_string(o.p), tps);
  }
  if (o.n > 0) {
    std::vector<double> tps;
    for (int r = 0; r < o.reps; ++r) {
      const auto t0 = now();
      run(o.depth, o.depth + o.n, 1, model::MlaMode::kAbsorbed);
      tps.push_back(static_cast<double>(o.n) / std::chrono::duration<double>(now() - t0).count());
    }
    row("tg" + std::to_string(o.n), tps);
  }
  std::printf("resident memory: %s (peak %s); KV cache %s (%s) for %lld positions\n",
              core::Progress::format_bytes(static_cast<double>(proc_status_kb("VmRSS:"))).c_str(),
              core::Progress::format_bytes(static_cast<double>(proc_status_kb("VmHWM:"))).c_str(),
              core::Progress::format_bytes(static_cast<double>(cache.bytes())).c_str(),
              std::string(core::dtype_name(kv_type)).c_str(), static_cast<long long>(total));
  // The roofline's denominators (bench/vs_llamacpp.sh divides them into the measured limits).
  const model::TokenCost cost = model::token_cost(w);
  std::printf("per token: %.4f GB of weights read in decode, %.4f G multiply-adds\n",
              static_cast<double>(cost.weight_bytes) / 1e9, static_cast<double>(cost.weight_macs) / 1e9);
}

}  // namespace

std::string mean_sd(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  s = v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f ± %.2f", m, s);
  return buf;
}

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt processing and generation speed (like llama-bench)");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout)")->required();
  cmd->add_option("-p,--n-prompt", o->p, "Prompt tokens to process (0: skip)")->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("-n,--n-gen", o->n, "Tokens to generate (0: skip)")->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("-d,--depth", o->depth, "Context already filled before measuring")->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  cmd->add_option("-b,--batch", o->batch, "Prompt tokens per forward pass")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("-r,--reps", o->reps, "Repetitions")->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  add_kv_type_option(cmd, o->kv_type);
  cmd->add_flag("!--no-warmup", o->warmup, "Skip the untimed warm-up pass");
  cmd->add_option("--quant", o->quant, "Re-encode weights at load time: " + weight_types_help(weight_types({"keep"})))
      ->check(CLI::IsMember(weight_types({"keep"})));
  cmd->add_option("--spec", o->spec,
                  "mtp or draft: speculative decoding (greedy, -p prompt tokens, -n generated) against --spec off in the same "
                  "run: acceptance per draft position, tokens per verify step, speedup")
      ->check(CLI::IsMember({"mtp", "draft", "off"}));
  cmd->add_option("--draft", o->draft, "Draft model for --spec draft (same tokenizer)");
  cmd->add_option("--spec-k", o->spec_k, "Draft tokens per verify step")->check(CLI::Range(1, 16));
  cmd->add_option("--spec-oracle", o->spec_oracle,
                  "Benchmark mode: the drafts replay the plain greedy continuation, each right with probability P "
                  "(measures verify and rollback costs on any model; labelled ORACLE)")
      ->check(CLI::Range(0.0, 1.0));
  add_dist_options(cmd, o->dist, /*bench=*/true);
  cmd->callback([o] { bench(*o); });
}

}  // namespace whale::cli
