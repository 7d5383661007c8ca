// ShardPlan: which share of a model one process holds under pipeline parallelism (a contiguous
// range of layers, balanced by bytes; embeddings on the first rank, final norm and head on the last) or expert
// parallelism (1/N of every MoE layer's routed experts; the rest replicated), and what that costs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "formats/model_args.h"
#include "formats/tensor_table.h"

namespace whale::engine {

enum class ShardMode { kNone, kPipeline, kExpert };

struct ShardPlan {
  ShardMode mode = ShardMode::kNone;
  int ranks = 1, rank = 0;
  int64_t layer_begin = 0, layer_end = 0;    // main-stack layers this rank runs
  int64_t expert_begin = 0, expert_end = 0;  // routed experts this rank holds (every MoE layer)
  bool shared_experts = true;                // runs the shared experts (expert parallelism: rank 0 only)
  bool tied_head = false;                    // the head is the input embedding (tie_word_embeddings)

  bool first() const { return rank == 0; }
  bool last() const { return rank == ranks - 1; }
  // Whether this rank loads the tensor (model::LoadOptions::keep). MTP modules are left out under
  // either mode (no speculative decoding across processes).
  bool keep(const formats::TensorSpec& t) const;
  std::string describe() const;  // "rank 1/2: layers [2, 4)" or "rank 0/2: experts [0, 4) + shared"
};

// The plan of `rank` out of `ranks`; kInvalidArgument when the model cannot be split so (more
// pipeline ranks than layers, more expert ranks than routed experts). Pipeline ranks get the
// contiguous layer ranges that minimize the largest rank's weight bytes (the first rank also holds
// the embeddings, the last the head); `bytes` gives a tensor's stored size (default: its table
// dtype; a GGUF file passes its own).
ShardPlan shard_plan(const formats::ModelArgs& a, ShardMode mode, int ranks, int rank,
                     const std::function<int64_t(const formats::TensorSpec&)>& bytes = {});

// Bytes of the weights the rank loads (as the checkpoint stores them) and of its KV cache per
// token of context (bf16 rows of the layers it runs).
struct ShardCost {
  int64_t weight_bytes = 0;
  int64_t kv_bytes_per_token = 0;
};
// `bytes` gives a tensor's stored size (default: its table dtype; a GGUF file passes its own).
ShardCost shard_cost(const formats::ModelArgs& a, const ShardPlan& plan,
                     const std::function<int64_t(const formats::TensorSpec&)>& bytes = {});

}  // namespace whale::engine
