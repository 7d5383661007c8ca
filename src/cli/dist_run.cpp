// The multi-process forms of run and bench: every rank loads only its share (ShardPlan::keep), the
// same DistributedGenerator calls run on every rank, and an error on any rank aborts all of them
// (a rank left waiting for a message that never comes would hang the job).
#include "dist_run.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/random.h"
#include "engine/chat_session.h"
#include "engine/mpi_comm.h"
#include "engine/pipeline.h"
#include "formats/generation_config.h"
#include "formats/gguf.h"
#include "formats/gguf_model_args.h"
#include "model/gguf_convert.h"
#include "model/weights.h"
#include "run_common.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {
namespace {

using Clock = std::chrono::steady_clock;

bool is_gguf(const std::string& path) { return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0; }

// A tensor's size as stored: a GGUF file's own (routed experts share one stacked tensor, kv_b may be
// stored as halves), else the tensor table's dtype (empty function). The pipeline's cut and
// `whale info --ranks` both use it, so they agree.
std::function<int64_t(const formats::TensorSpec&)> stored_size(const formats::GgufFile* g, const formats::ModelArgs& a) {
  if (!g) return {};
  return [g, experts = a.n_routed_experts](const formats::TensorSpec& t) -> int64_t {
    const auto size = [&](const std::string& name) -> int64_t {
      const formats::GgufTensorInfo* i = name.empty() ? nullptr : g->find_tensor(name);
      return i ? static_cast<int64_t>(i->nbytes) : 0;
    };
    if (t.kind == formats::TensorKind::kExpert) return size(t.gguf_name) / std::max<int64_t>(1, experts);
    if (t.role == formats::TensorRole::kMlaKvB && !g->find_tensor(t.gguf_name)) {
      return size(model::split_kv_b_name(t.gguf_name, "attn_k_b")) + size(model::split_kv_b_name(t.gguf_name, "attn_v_b"));
    }
    return size(t.gguf_name);
  };
}

// The plan for this process: one process without MPI for --pp 1 / --ep 1, else MPI's rank.
engine::ShardPlan plan_for(const formats::ModelArgs& a, const formats::GgufFile* g, const DistOptions& d) {
  const bool pp = d.pp > 0;
  if (pp && d.ep > 0) fail(ErrorKind::kInvalidArgument, "give one of --pp and --ep, not both");
  const int ranks = pp ? d.pp : d.ep;
  const engine::ShardMode mode = pp ? engine::ShardMode::kPipeline : engine::ShardMode::kExpert;
  if (ranks == 1) return engine::shard_plan(a, mode, 1, 0, stored_size(g, a));
  engine::Comm& c = engine::Comm::world();
  if (c.size() != ranks) {
    fail(ErrorKind::kInvalidArgument, pp ? "--pp " : "--ep ", ranks, " needs ", ranks, " processes (mpirun -np ", ranks,
         " whale ...); this run has ", c.size());
  }
  return engine::shard_plan(a, mode, ranks, c.rank(), stored_size(g, a));
}

}  // namespace

void on_all_ranks(const DistOptions& d, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::max(d.pp, d.ep) <= 1 || !engine::Comm::available() || engine::Comm::world().size() == 1) throw;
    std::fprintf(stderr, "whale: error (rank %d): %s\n", engine::Comm::world().rank(), e.what());
    std::fflush(stderr);
    engine::Comm::world().abort(1);
  }
}

LoadedShare load_share(const std::string& path, const std::string& quant, int threads, const DistOptions& d) {
  const auto t0 = Clock::now();
  std::optional<formats::GgufFile> g;
  if (is_gguf(path)) g.emplace(formats::GgufFile::open(path));
  const formats::ModelArgs args = g ? formats::model_args_from_gguf(*g) : formats::load_model_args(path);
  LoadedShare l{{}, plan_for(args, g ? &*g : nullptr, d)};
  model::LoadOptions lo = load_options(quant, threads);
  const engine::ShardPlan plan = l.plan;
  lo.keep = [plan](const formats::TensorSpec& t) { return plan.keep(t); };
  l.w = model::load_weights(path, lo);
  const engine::ShardCost cost = engine::shard_cost(l.w.args, plan);
  std::fprintf(stderr, "%s; %s of weights, loaded in %.2f s\n", plan.describe().c_str(),
               core::Progress::format_bytes(static_cast<double>(cost.weight_bytes)).c_str(),
               std::chrono::duration<double>(Clock::now() - t0).count());
  return l;
}

void add_dist_options(CLI::App* cmd, DistOptions& o, bool bench) {
  cmd->add_option("--pp", o.pp,
                  "Pipeline parallelism over N MPI processes (mpirun -np N): contiguous layer ranges per rank; 1: the "
                  "same driver in one process")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--ep", o.ep,
                  "Expert parallelism over N MPI processes: each rank holds 1/N of the routed experts; 1: one process")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--micro-batches", o.micro_batches, "With --pp: micro-batches of sequences in flight (default: one per rank)")
      ->check(CLI::Range(1, 1024));
  if (bench) {
    cmd->add_option("-s,--seqs", o.seqs, "With --pp/--ep: sequences in the batch")->check(CLI::Range(int64_t{1}, int64_t{4096}));
  } else {
    cmd->add_option("--dump-logits", o.dump_logits,
                    "With --pp/--ep: write every sampled step's logits (raw f32 [steps, vocab]) to this file (rank 0)");
  }
}

void run_distributed(const DistRunArgs& a, const DistOptions& d) {
  on_all_ranks(d, [&] {
    if (a.prompt.empty() == a.prompt_ids.empty()) {
      fail(ErrorKind::kInvalidArgument, "give exactly one of -p/--prompt TEXT or --prompt-ids 1,2,3");
    }
    const LoadedShare l = load_share(a.model, a.quant, a.threads, d);
    const model::Weights& w = l.w;
    std::optional<tokenizer::Tokenizer> tok;
    engine::GenSequence g;
    g.max_tokens = a.n;
    g.sampling = a.sampling;
    if (l.plan.first()) {
      if (!a.prompt.empty()) {
        tok.emplace(tokenizer::load_tokenizer(a.model));
        if (a.raw) {
          g.prompt = tok->encode(a.prompt);
        } else {
          engine::ChatSession chat(*tok, a.sampling);
          g.prompt = chat.user_turn(a.prompt, {.thinking = !a.no_think, .max_tokens = a.n}).prompt;
        }
      } else {
        g.prompt = parse_token_ids(a.prompt_ids);
      }
    }
    // Every rank sizes its cache alike: the prompt length travels from rank 0.
    int64_t prompt_len = static_cast<int64_t>(g.prompt.size());
    if (l.plan.ranks > 1) engine::Comm::world().broadcast(&prompt_len, sizeof prompt_len, 0);
    engine::DistConfig cfg{.plan = l.plan,
                           .threads = a.threads,
                           .kv_type = model::kv_type_from_name(a.kv_type),
                           .max_seqs = 1,
                           .max_context = std::min<int64_t>(w.args.max_position_embeddings, std::max<int64_t>(4096, prompt_len + a.n + 1)),
                           .micro_batches = d.micro_batches,
                           .keep_logits = !d.dump_logits.empty()};
    for (int64_t e : w.args.eos_token_ids) cfg.eos.push_back(static_cast<int32_t>(e));
    if (tok) {
      if (auto e = tok->eos_id()) cfg.eos.push_back(*e);
    }
    engine::DistributedGenerator gen(w, cfg);
    std::vector<engine::GenSequence> seqs{g};
    const engine::DistStats s = gen.generate(seqs);
    if (!l.plan.first()) return;
    const engine::GenSequence& r = seqs[0];
    if (tok) {
      std::printf("%s\n", tok->decode(r.output).c_str());
    } else {
      for (size_t i = 0; i < r.output.size(); ++i) std::printf("%s%d", i ? " " : "", r.output[i]);
      std::printf("\n");
    }
    std::fflush(stdout);
    if (!d.dump_logits.empty()) {
      core::write_file_atomic(d.dump_logits, [&](std::FILE* f) { core::write_all(f, r.logits.data(), r.logits.size() * 4, d.dump_logits); });
    }
    std::fprintf(stderr, "prompt %lld tokens; generated %lld tokens in %.2f s (%.2f tok/s after the first); rank 0 sent %s\n",
                 static_cast<long long>(s.prompt_tokens), static_cast<long long>(s.generated_tokens), s.seconds,
                 s.decode_tokens > 0 ? static_cast<double>(s.decode_tokens) / std::max(s.decode_seconds, 1e-9) : 0.0,
                 core::Progress::format_bytes(static_cast<double>(s.bytes_sent)).c_str());
  });
}

void bench_distributed(const DistBenchArgs& a, const DistOptions& d) {
  on_all_ranks(d, [&] {
    const LoadedShare l = load_share(a.model, a.quant, a.threads, d);
    const model::Weights& w = l.w;
    const int64_t V = w.args.vocab_size;
    engine::DistConfig cfg{.plan = l.plan,
                           .threads = a.threads,
                           .kv_type = model::kv_type_from_name(a.kv_type),
                           .max_seqs = d.seqs,
                           .max_context = a.prompt + a.gen + 1,
                           .micro_batches = d.micro_batches};
    if (cfg.max_context > w.args.max_position_embeddings) {
      fail(ErrorKind::kOutOfRange, "prompt + generated ", cfg.max_context, " exceeds the context of ", w.args.max_position_embeddings);
    }
    const auto batch = [&] {
      std::vector<engine::GenSequence> seqs(static_cast<size_t>(d.seqs));
      uint64_t k = 0;
      for (engine::GenSequence& g : seqs) {
        for (int64_t i = 0; i < a.prompt; ++i) g.prompt.push_back(static_cast<int32_t>(core::splitmix64(++k) % static_cast<uint64_t>(V)));
        g.max_tokens = a.gen;
        g.sampling.temperature = 0;
      }
      return seqs;
    };
    const bool pipeline = l.plan.mode == engine::ShardMode::kPipeline && l.plan.ranks > 1;
    if (l.plan.first()) {
      std::printf("| mode | ranks | seqs | micro-batches | overlap | prompt tok | generated tok | total s | gen tok/s after first | rank-0 MiB sent | outputs |\n");
      std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    }
    // Warm-up: faults the mapped weights in (as the one-process bench does).
    {
      std::vector<engine::GenSequence> seqs = batch();
      engine::DistributedGenerator gen(w, cfg);
      gen.generate(seqs);
    }
    for (const bool overlap : pipeline ? std::vector<bool>{true, false} : std::vector<bool>{true}) {
      cfg.overlap = overlap;
      engine::DistributedGenerator gen(w, cfg);
      std::vector<engine::GenSequence> seqs = batch();
      const engine::DistStats s = gen.generate(seqs);
      std::fprintf(stderr, "%s overlap %s: %.3f s in %lld forward passes (%.2f ms each), %.1f%% of the run; sent %.2f MiB\n",
                   l.plan.describe().c_str(), overlap ? "on" : "off", s.compute_seconds, static_cast<long long>(s.forwards),
                   1e3 * s.compute_seconds / static_cast<double>(std::max<int64_t>(1, s.forwards)),
                   100.0 * s.compute_seconds / std::max(s.seconds, 1e-9), static_cast<double>(s.bytes_sent) / (1 << 20));
      if (!l.plan.first()) continue;
      const int M = l.plan.mode == engine::ShardMode::kPipeline
                        ? std::min<int>(static_cast<int>(d.seqs), d.micro_batches > 0 ? d.micro_batches : l.plan.ranks)
                        : 1;
      uint64_t hash = 0xCBF29CE484222325ull;  // FNV-1a over every generated id: equal runs, equal hashes
      for (const engine::GenSequence& g : seqs) {
        for (int32_t t : g.output) hash = (hash ^ static_cast<uint32_t>(t)) * 0x100000001B3ull;
        hash = (hash ^ 0xFFFFFFFFu) * 0x100000001B3ull;
      }
      std::printf("| %s | %d | %lld | %d | %s | %lld | %lld | %.3f | %.2f | %.2f | tokens %016llx |\n",
                  l.plan.mode == engine::ShardMode::kPipeline ? "pp" : "ep", l.plan.ranks, static_cast<long long>(d.seqs), M,
                  pipeline ? (overlap ? "yes" : "no") : "-", static_cast<long long>(s.prompt_tokens),
                  static_cast<long long>(s.generated_tokens), s.seconds,
                  static_cast<double>(s.decode_tokens) / std::max(s.decode_seconds, 1e-9),
                  static_cast<double>(s.bytes_sent) / (1 << 20), static_cast<unsigned long long>(hash));
      std::fflush(stdout);
    }
  });
}

void print_rank_memory(const std::string& path, int ranks, bool pipeline) {
  const engine::ShardMode mode = pipeline ? engine::ShardMode::kPipeline : engine::ShardMode::kExpert;
  std::optional<formats::GgufFile> g;
  if (is_gguf(path)) g.emplace(formats::GgufFile::open(path));
  const formats::ModelArgs a = g ? formats::model_args_from_gguf(*g) : formats::load_model_args(path);
  const std::function<int64_t(const formats::TensorSpec&)> bytes = stored_size(g ? &*g : nullptr, a);
  std::printf("ranks:      %s %d (weights as stored; KV cache in bf16; MTP modules not loaded)\n", pipeline ? "--pp" : "--ep", ranks);
  for (int r = 0; r < ranks; ++r) {
    const engine::ShardPlan p = engine::shard_plan(a, mode, ranks, r, bytes);
    const engine::ShardCost c = engine::shard_cost(a, p, bytes);
    std::printf("  %-52s weights %10s, KV cache %s per token (%s at 4096 tokens)\n", p.describe().c_str(),
                core::Progress::format_bytes(static_cast<double>(c.weight_bytes)).c_str(),
                core::Progress::format_bytes(static_cast<double>(c.kv_bytes_per_token)).c_str(),
                core::Progress::format_bytes(static_cast<double>(c.kv_bytes_per_token) * 4096).c_str());
  }
}

}  // namespace whale::cli
