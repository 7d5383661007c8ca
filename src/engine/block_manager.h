// BlockManager: the paged KV cache's bookkeeping. Memory is split into blocks of block_size
// positions; a sequence owns a list of blocks. Full blocks are remembered by a hash chained over
// their tokens (and the previous block's hash), so a later sequence with the same prefix reuses
// them instead of recomputing: reference counts share them, and unreferenced cached blocks are
// evicted least recently used first when memory runs out.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace whale::engine {

class BlockManager {
 public:
  BlockManager(int32_t n_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return n_blocks_; }
  // Blocks that can be handed out now (free ones plus evictable cached ones).
  int32_t available() const { return static_cast<int32_t>(free_.size() + evictable_.size()); }

  // Hash of a full block given the previous block's hash (0 for the first).
  static uint64_t chain_hash(uint64_t prev, std::span<const int32_t> tokens);

  // The longest run of cached full blocks matching the start of `tokens`, taking a reference on
  // each. Returns the blocks; their positions are already computed.
  std::vector<int32_t> match_prefix(std::span<const int32_t> tokens);

  // A fresh block (reference count 1), evicting a cached one if needed; nullopt when none is left.
  std::optional<int32_t> allocate();

  // Marks block `b` as full with the given chain hash so later prefixes can reuse it.
  void register_full(int32_t b, uint64_t hash);

  // Drops one reference; at zero a registered block becomes evictable, others free.
  void release(int32_t b);

  int32_t ref_count(int32_t b) const { return blocks_[static_cast<size_t>(b)].refs; }
  // Counters for metrics: prompt tokens found in the cache vs looked up.
  int64_t hit_tokens() const { return hit_tokens_; }
  int64_t lookup_tokens() const { return lookup_tokens_; }

 private:
  struct Block {
    int32_t refs = 0;
    std::optional<uint64_t> hash;
    std::list<int32_t>::iterator lru;  // position in evictable_ when refs == 0 and hashed
  };
  void take(int32_t b);

  int32_t n_blocks_, block_size_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> evictable_;  // least recently used first
  std::unordered_map<uint64_t, int32_t> cached_;
  int64_t hit_tokens_ = 0, lookup_tokens_ = 0;
};

}  // namespace whale::engine
