// DistributedGenerator: generation for a batch of sequences across MPI ranks (engine/mpi_comm.h),
// by pipeline parallelism (each rank runs its layer range; residual streams go rank to rank, with
// several micro-batches in flight so the ranks overlap) or expert parallelism (every rank runs
// every layer with 1/N of the routed experts; the partial MoE outputs are gathered and summed in
// rank order). Rank 0 builds the batches, samples and owns the output; the other ranks follow it.
// With one rank it is the one-process oracle the multi-rank runs are tested against.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "engine/mpi_comm.h"
#include "engine/shard_plan.h"
#include "model/forward.h"
#include "model/weights.h"
#include "sampler/sampler.h"

namespace whale::engine {

struct GenSequence {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 16;
  sampler::SamplingParams sampling;
  std::vector<int32_t> output;  // generated tokens (rank 0; the EOS that ended it is left out)
  std::vector<float> logits;    // with DistConfig::keep_logits: each sampled step's logits [steps, vocab]
};

struct DistConfig {
  ShardPlan plan;  // this rank's share (ShardMode::kNone: one process, everything)
  int threads = 0;
  core::DType kv_type = core::DType::kBF16;
  int64_t max_seqs = 1, max_context = 4096;
  int64_t max_batch_tokens = 512;  // prompt tokens per forward pass (chunked prefill, as the engine)
  // Pipeline: the sequences are cut into this many micro-batches (round robin); 0: min(sequences,
  // ranks). Without overlap, rank 0 waits for each micro-batch's logits before starting the next.
  int micro_batches = 0;
  bool overlap = true;
  bool keep_logits = false;
  std::vector<int32_t> eos;  // tokens that end a sequence
};

struct DistStats {
  double seconds = 0;          // the whole generate call
  double decode_seconds = 0;   // from the last sequence's first token to the end
  int64_t prompt_tokens = 0, generated_tokens = 0, decode_tokens = 0;
  int64_t bytes_sent = 0, messages = 0;  // by this rank
  double compute_seconds = 0;            // this rank inside model::forward (waits for messages excluded)
  int64_t forwards = 0;
};

class DistributedGenerator {
 public:
  // `w` holds this rank's share (loaded with plan.keep). Ranks > 1 use Comm::world().
  DistributedGenerator(const model::Weights& w, DistConfig cfg);
  ~DistributedGenerator();

  // Rank 0 runs `seqs` (at most max_seqs) to completion; the other ranks serve rank 0's batches and
  // return when it is done (their `seqs` are unused). Every rank calls it the same number of times.
  DistStats generate(std::vector<GenSequence>& seqs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace whale::engine
