// BlockManager: the paged KV cache's bookkeeping, alone: it hands out blocks of block_size positions
// into a sequence's block table, frees them, and runs the prefix cache over them. A full block is
// keyed by a hash chained over its tokens and the previous block's hash, and keeps its tokens: a
// later sequence whose prompt starts the same way reuses it (a hit compares the token ids, so a hash
// collision misses). Reference counts share blocks; cached blocks no sequence holds are evicted
// least recently used first when memory runs out.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace whale::engine {

// Block ids of one sequence: entry i holds positions [i * block_size, (i + 1) * block_size).
using BlockTable = std::vector<int32_t>;

class BlockManager {
 public:
  // Hash of a full block's tokens given the previous block's hash (0 for the first block).
  using HashFn = uint64_t (*)(uint64_t prev, std::span<const int32_t> tokens);
  static uint64_t chain_hash(uint64_t prev, std::span<const int32_t> tokens);

  // `hash` is injectable so tests can force collisions.
  BlockManager(int32_t n_blocks, int32_t block_size, HashFn hash = chain_hash);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return n_blocks_; }
  // Blocks that can be handed out now (free ones plus evictable cached ones).
  int32_t available() const { return static_cast<int32_t>(free_.size() + evictable_.size()); }
  int32_t ref_count(int32_t b) const { return blocks_[static_cast<size_t>(b)].refs; }

  // Fills the empty `table` with the cached blocks holding the longest run of full blocks that
  // starts `tokens`, taking a reference on each; returns the positions they cover (computed).
  int64_t match_prefix(std::span<const int32_t> tokens, BlockTable& table);
  // Appends fresh blocks until `table` covers `positions`, evicting cached blocks if needed; false
  // when memory runs out (the blocks it did get stay in the table).
  bool grow(BlockTable& table, int64_t positions);
  // After tokens[0, n_computed) have KV: the blocks they fill become full and join the prefix cache.
  void seal(const BlockTable& table, std::span<const int32_t> tokens, int64_t n_computed);
  // Frees the blocks at the end of `table` that hold no position below `positions` (speculative
  // decoding grows the table for its drafts and gives back what the rejected ones took). Those
  // blocks were never sealed: a sealed block is full of computed positions.
  void shrink(BlockTable& table, int64_t positions);
  // Drops the table's references (a cached block becomes evictable, others free) and clears it.
  void free(BlockTable& table);

 private:
  struct Block {
    int32_t refs = 0;
    bool sealed = false;  // full: hash and tokens_ are set
    bool cached = false;  // cached_[hash] is this block
    uint64_t hash = 0;
    std::list<int32_t>::iterator lru;  // position in evictable_ while refs == 0 and cached
  };
  std::span<const int32_t> tokens_of(int32_t b) const;
  void take(int32_t b);

  int32_t n_blocks_, block_size_;
  HashFn hash_;
  std::vector<Block> blocks_;
  std::vector<int32_t> tokens_;  // [n_blocks][block_size]: a sealed block's tokens
  std::vector<int32_t> free_;
  std::list<int32_t> evictable_;  // least recently used first
  std::unordered_map<uint64_t, int32_t> cached_;
};

}  // namespace whale::engine
