// Admission, block allocation and preemption. Decode tokens go first so running sequences keep
// streaming while long prompts are prefilled in chunks beside them.
#include "engine/scheduler.h"

#include <algorithm>

namespace whale::engine {

Scheduler::Scheduler(BlockManager& blocks, int32_t max_seqs, int64_t max_batch_tokens)
    : blocks_(blocks), max_batch_tokens_(max_batch_tokens) {
  for (int32_t s = max_seqs - 1; s >= 0; --s) free_slots_.push_back(s);
}

bool Scheduler::admit(Sequence* seq) {
  if (free_slots_.empty()) return false;
  seq->slot = free_slots_.back();
  free_slots_.pop_back();
  // Reuse cached blocks for the prompt's prefix; keep at least one token to compute for logits.
  const std::span<const int32_t> prefix(seq->tokens.data(), seq->tokens.size() - 1);
  seq->n_computed = blocks_.match_prefix(prefix, seq->block_table);
  if (extend_) extend_(*seq);
  if (seq->usage.completion_tokens == 0) seq->usage.cached_prompt_tokens = std::min(seq->n_computed, seq->n_prompt);
  running_.push_back(seq);
  return true;
}

void Scheduler::release(Sequence* seq) {
  if (seq->slot < 0) return;
  blocks_.free(seq->block_table);
  free_slots_.push_back(seq->slot);
  seq->slot = -1;
}

void Scheduler::preempt(Sequence* seq) {
  release(seq);
  seq->n_computed = 0;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  waiting_.push_front(seq);
}

void Scheduler::remove(Sequence* seq) {
  release(seq);
  running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), seq), waiting_.end());
}

void Scheduler::computed(const std::vector<Chunk>& chunks) {
  for (const Chunk& c : chunks) {
    c.seq->n_computed = c.start + c.n;
    blocks_.seal(c.seq->block_table, c.seq->tokens, c.seq->n_computed);
  }
}

std::vector<Chunk> Scheduler::schedule() {
  std::vector<Chunk> chunks;
  int64_t budget = max_batch_tokens_;
  // 1. Decode: every running sequence with exactly one token to compute.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence* seq = running_[i];
    if (seq->uncomputed() != 1) continue;
    while (!blocks_.grow(seq->block_table, seq->n_computed + 1)) {
      Sequence* victim = running_.back();
      if (victim == seq) break;
      preempt(victim);
    }
    if (seq->slot < 0 || !blocks_.grow(seq->block_table, seq->n_computed + 1)) continue;
    chunks.push_back({seq, seq->n_computed, 1});
    --budget;
  }
  // 2. Prefill chunks: admitted sequences still prefilling, then waiting ones in order.
  auto prefill = [&](Sequence* seq) -> bool {
    const int64_t n = std::min(seq->uncomputed(), budget);
    if (n <= 0) return false;
    // Leave decode-ready sequences (one token) to step 1 of the next round.
    if (!blocks_.grow(seq->block_table, seq->n_computed + n)) {
      // Take what fits in the blocks we could get.
      const int64_t have = static_cast<int64_t>(seq->block_table.size()) * blocks_.block_size() - seq->n_computed;
      if (have <= 0) return false;
      chunks.push_back({seq, seq->n_computed, std::min(n, have)});
      budget -= std::min(n, have);
      return false;
    }
    chunks.push_back({seq, seq->n_computed, n});
    budget -= n;
    return true;
  };
  for (Sequence* seq : std::vector<Sequence*>(running_)) {
    if (budget <= 0) break;
    if (seq->slot >= 0 && seq->uncomputed() > 1) prefill(seq);
  }
  while (budget > 0 && !waiting_.empty()) {
    Sequence* seq = waiting_.front();
    // Admit only when the whole prompt's blocks could be found, so admission does not thrash.
    const int64_t need = (static_cast<int64_t>(seq->tokens.size()) + blocks_.block_size() - 1) / blocks_.block_size();
    if (blocks_.available() < need && !running_.empty()) break;
    if (!admit(seq)) break;
    waiting_.pop_front();
    if (seq->uncomputed() == 1) {  // the prefix cache covered all but the last token
      if (blocks_.grow(seq->block_table, seq->n_computed + 1)) {
        chunks.push_back({seq, seq->n_computed, 1});
        --budget;
      }
      continue;
    }
    if (!prefill(seq)) break;
  }
  return chunks;
}

}  // namespace whale::engine
