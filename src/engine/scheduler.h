// Scheduler: picks the work of one engine step under a token budget (continuous batching): one
// decode token for every running sequence first, then prefill chunks of admitted and waiting
// sequences in arrival order (chunked prefill), growing block tables through the BlockManager as it
// goes and preempting the newest sequence (to recompute later) when blocks run out.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace whale::engine {

struct Chunk {
  Sequence* seq;
  int64_t start;  // first position computed this step
  int64_t n;      // positions computed this step
};

class Scheduler {
 public:
  Scheduler(BlockManager& blocks, int32_t max_seqs, int64_t max_batch_tokens);

  void add(Sequence* seq) { waiting_.push_back(seq); }
  // The chunks to compute this step (empty when there is nothing to do).
  std::vector<Chunk> schedule();
  // After the model ran `chunks`: their positions have KV, and blocks they filled join the prefix cache.
  void computed(const std::vector<Chunk>& chunks);
  // Releases the sequence's blocks and slot (finished or cancelled).
  void remove(Sequence* seq);
  // Called at admission after the in-memory prefix match: may extend seq's computed prefix (the
  // engine's disk cache), growing its block table by whole blocks.
  void set_prefix_extender(std::function<void(Sequence&)> f) { extend_ = std::move(f); }

  int64_t n_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t n_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  const std::vector<Sequence*>& running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }

 private:
  bool admit(Sequence* seq);
  void preempt(Sequence* seq);
  void release(Sequence* seq);

  BlockManager& blocks_;
  int64_t max_batch_tokens_;
  std::vector<int32_t> free_slots_;
  std::vector<Sequence*> running_;  // admitted, in admission order
  std::deque<Sequence*> waiting_;
  std::function<void(Sequence&)> extend_;
};

}  // namespace whale::engine
