// DraftModel: a small model with the same tokenizer drafting for a large one (llama.cpp's
// --model-draft). It keeps its own KV cache for one sequence at a time, with the tokens its rows
// were computed from, so after a rejection, a preemption or a switch to another sequence it
// recomputes only past the longest prefix it shares with the sequence now asking.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "engine/sequence.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace whale::engine {

class DraftModel {
 public:
  DraftModel(const model::Weights& w, int64_t max_context, core::DType kv_type);

  // Up to k greedy drafts continuing seq.tokens (the last one not yet computed by the main model);
  // fewer when a draft falls outside the main model's vocabulary `vocab`.
  std::vector<int32_t> draft(const Sequence& seq, int64_t k, int64_t vocab, core::ThreadPool& pool);

 private:
  const float* run(int64_t from, core::ThreadPool& pool);  // rows for tokens_[from, end): last row's logits

  const model::Weights& w_;
  model::ContiguousKvCache cache_;
  std::vector<int32_t> tokens_;  // what rows [0, tokens_.size()) of the cache were computed from
  model::Batch batch_;
  model::Scratch scratch_;
  model::ForwardOutput out_;
};

}  // namespace whale::engine
