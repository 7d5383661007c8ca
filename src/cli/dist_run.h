// `whale run` and `whale bench` across MPI processes (--pp N, --ep N under mpirun -np N): the
// options, and the commands' multi-process forms (engine/pipeline.h does the work).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/shard_plan.h"
#include "model/weights.h"
#include "sampler/sampler.h"

namespace whale::cli {

struct DistOptions {
  int pp = 0, ep = 0;     // ranks; 0: not asked (1: the one-process form of the same driver)
  int micro_batches = 0;  // pipeline micro-batches (0: one per rank)
  int64_t seqs = 4;       // bench: sequences in the batch
  std::string dump_logits;  // run: every sampled step's logits, raw f32 [steps, vocab]
  bool requested() const { return pp > 0 || ep > 0; }
};

// --pp, --ep, --micro-batches (both commands); --dump-logits (run) or --seqs (bench).
void add_dist_options(CLI::App* cmd, DistOptions& o, bool bench);

// This process's share of the model (every rank loads only its own tensors) and its plan: one
// process without MPI for --pp 1 / --ep 1, else MPI's rank. Prints the share on stderr.
struct LoadedShare {
  model::Weights w;
  engine::ShardPlan plan;
};
LoadedShare load_share(const std::string& path, const std::string& quant, int threads, const DistOptions& d);
// Runs `fn`; on a whale::Error in a multi-process run, prints it with the rank and ends every rank
// (a rank left waiting for a message that never comes would hang the job).
void on_all_ranks(const DistOptions& d, const std::function<void()>& fn);

struct DistRunArgs {
  std::string model, quant, kv_type, prompt, prompt_ids;
  bool raw = false, no_think = false;
  int64_t n = 16;
  int threads = 0;
  sampler::SamplingParams sampling;
};
// `whale run --pp|--ep`: rank 0 tokenizes, samples and prints (token ids for --prompt-ids, text
// otherwise); timings and each rank's share on stderr.
void run_distributed(const DistRunArgs& a, const DistOptions& d);

struct DistBenchArgs {
  std::string model, quant, kv_type;
  int64_t prompt = 32, gen = 16;
  int threads = 0;
};
// `whale bench --pp|--ep`: a batch of sequences (random prompts, greedy), prompt and generation
// throughput; the pipeline with its micro-batches overlapping, then without.
void bench_distributed(const DistBenchArgs& a, const DistOptions& d);

// `whale info PATH --ranks N --pp|--ep`: each rank's weights (as stored in the file) and KV cache.
void print_rank_memory(const std::string& path, int ranks, bool pipeline);

}  // namespace whale::cli
