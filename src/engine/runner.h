// Runner: one engine step on the model. It builds the model::Batch from the scheduler's chunks
// (token ids, positions, cache slots bound to each sequence's block table, the rows that need
// logits), picks the MLA path and calls model::forward over the paged KV cache it owns.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "engine/paged_kv_cache.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "model/weights.h"

namespace whale::engine {

class Runner {
 public:
  Runner(const model::Weights& w, int32_t n_blocks, int32_t block_size, int32_t n_slots, int64_t max_context,
         int threads, core::DType kv_type = core::DType::kBF16);

  struct Logits {
    Sequence* seq;
    const float* row;  // [vocab]: the distribution of the token after seq's last one
  };
  // Computes the chunks' positions into the KV cache. Returns one row for each sequence whose chunk
  // reaches its last token, in chunk order; valid until the next run.
  const std::vector<Logits>& run(const std::vector<Chunk>& chunks);

 private:
  const model::Weights& w_;
  core::ThreadPool pool_;
  PagedKvCache cache_;
  model::Batch batch_;
  model::ForwardOptions opt_;
  model::Scratch scratch_;
  model::ForwardOutput out_;
  std::vector<Logits> logits_;
};

}  // namespace whale::engine
