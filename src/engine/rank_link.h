// RankLink: the engine's forward passes across MPI ranks (`whale serve --pp|--ep` under mpirun).
// Rank 0 runs the real Engine (scheduler, block manager, prefix cache, sampling, the HTTP server);
// its Runner hands each step to lead(), which sends the batch (tokens, positions, cache slots with
// their block tables, logit rows, MLA path) to the other ranks and runs rank 0's share. Pipeline
// stages pass the residual stream rank to rank and the last returns the logits; expert ranks all run
// the step and sum their partial MoE outputs in rank order (the same bits on every rank, as
// DistributedGenerator does). The followers mirror rank 0's block tables in paged caches of their
// own, so prefix reuse and preemption need no messages beyond the step's.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "engine/block_manager.h"
#include "engine/mpi_comm.h"
#include "engine/shard_plan.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace whale::engine {

// The paged cache's shape, the same on every rank (rank 0 sends it in start()).
struct CacheGeometry {
  int32_t n_blocks = 0, block_size = 16, n_slots = 1;
  int64_t max_context = 0;
  core::DType kv_type = core::DType::kBF16;
};

struct SlotTable {
  int32_t slot;
  const BlockTable* table;
};

// Fills a rank's ForwardOptions for its share: the layer range of a pipeline stage, or the routed
// experts of an expert rank with `combine` summing the partial MoE outputs across ranks.
void apply_shard(model::ForwardOptions& o, const ShardPlan& p, const float* input_hidden,
                 std::function<void(float*, int64_t)> combine);

// Expert parallelism's combine: every rank's partial [n] gathered, summed in rank order, in place.
class ExpertSum {
 public:
  ExpertSum(Comm* comm, int ranks) : comm_(comm), ranks_(ranks) {}
  void operator()(float* partial, int64_t n);

 private:
  Comm* comm_;
  int ranks_;
  std::vector<float> gathered_;
};

class RankLink {
 public:
  // `plan` is this rank's share of a run with plan.ranks > 1 MPI processes.
  explicit RankLink(const ShardPlan& plan);

  const ShardPlan& plan() const { return plan_; }
  // The main-stack layers whose KV rows this rank keeps: [begin, end) (all for expert ranks).
  static std::pair<int64_t, int64_t> cache_layers(const formats::ModelArgs& a, const ShardPlan& p);

  // Rank 0, once, before the first step: the cache geometry every follower builds.
  void start(const CacheGeometry& g);
  // Rank 0: one step over `cache` (rank 0's layers), `tables` binding each slot the batch uses.
  // `o` holds the step's MLA path and logit rows; on return out.logits holds the logit rows.
  void lead(const model::Weights& w, const model::Batch& batch, model::ForwardOptions o, model::KvCache& cache,
            model::Scratch& scratch, core::ThreadPool& pool, model::ForwardOutput& out, std::span<const SlotTable> tables);
  // Rank 0: ends the followers' follow() (at shutdown; nothing may lead() after it).
  void finish();
  // Ranks > 0: run rank 0's steps on `w` (this rank's share) until finish().
  void follow(const model::Weights& w, int threads);

 private:
  void send_header(const std::vector<int32_t>& h);
  std::vector<int32_t> receive_header();

  ShardPlan plan_;
  Comm* comm_;
  ExpertSum sum_;
  std::vector<int32_t> header_;
  std::vector<float> wire_;
  bool finished_ = false;
};

}  // namespace whale::engine
