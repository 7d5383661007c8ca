// Runner: one engine step on the model. It builds the model::Batch from the scheduler's chunks
// (token ids, positions, cache slots bound to each sequence's block table, the rows that need
// logits), picks the MLA path and calls model::forward over the paged KV cache it owns.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "engine/paged_kv_cache.h"
#include "engine/rank_link.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "model/weights.h"

namespace whale::engine {

class Runner {
 public:
  // With `link` (rank 0 of an MPI run), run() hands each step to the other ranks as well and the
  // cache keeps this rank's layers only; verify() and mtp() are not available then.
  Runner(const model::Weights& w, int32_t n_blocks, int32_t block_size, int32_t n_slots, int64_t max_context,
         int threads, core::DType kv_type = core::DType::kBF16, RankLink* link = nullptr);

  struct Logits {
    Sequence* seq;
    const float* row;  // [vocab]: the distribution of the token after seq's last one
  };
  // Computes the chunks' positions into the KV cache. Returns one row for each sequence whose chunk
  // reaches its last token, in chunk order; valid until the next run.
  const std::vector<Logits>& run(const std::vector<Chunk>& chunks);

  // The step's threads, for a draft model's forward passes between steps.
  core::ThreadPool& pool() { return pool_; }
  // The paged KV cache (the disk cache copies blocks' rows in and out between steps).
  PagedKvCache& cache() { return cache_; }
  // Keep every row's final hidden state in run() (MTP drafting needs them).
  void set_want_hidden(bool on) { opt_.want_hidden = on; }
  // The final hidden state (before the norm) of batch row `row` of the last run(): [hidden].
  const float* hidden(int64_t row) const { return out_.hidden.data() + row * w_.args.hidden_size; }

  struct Verified {
    const float* logits;  // [1 + drafts, vocab]: row j is the distribution after drafts [0, j)
    const float* hidden;  // [1 + drafts, hidden]
  };
  // Speculative decoding's verify step: seq's last token and `drafts` at positions n_computed, ...
  // in one forward, every row's logits. Absorbed MLA, as a one-token decode step uses: the kernels
  // give a token the same bits in any batch, so row j has the bits that plain decoding would give
  // the same position. Valid until the next call.
  Verified verify(Sequence& seq, std::span<const int32_t> drafts);
  // MTP module `module` at positions pos0, ... of seq (tokens[i] is the token one ahead of
  // hidden row i): writes the module's cache rows; returns its last row's draft logits and puts its
  // output states in `hidden_out`. Valid until the next call.
  const float* mtp(Sequence& seq, int64_t pos0, std::span<const int32_t> tokens, const std::vector<float>& hidden,
                   int64_t module, std::vector<float>& hidden_out);

 private:
  const model::Weights& w_;
  RankLink* link_;
  core::ThreadPool pool_;
  PagedKvCache cache_;
  model::Batch batch_;
  model::ForwardOptions opt_;
  model::Scratch scratch_;
  model::ForwardOutput out_;
  std::vector<Logits> logits_;
  std::vector<SlotTable> tables_;  // with a link: the slots of the step and their block tables
  std::vector<float> mtp_logits_;
};

}  // namespace whale::engine
