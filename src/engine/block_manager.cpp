// Free list + hash map + LRU list; every operation is O(1) per block (plus a block's tokens).
#include "engine/block_manager.h"

#include <algorithm>

#include "core/error.h"

namespace whale::engine {

BlockManager::BlockManager(int32_t n_blocks, int32_t block_size, HashFn hash)
    : n_blocks_(n_blocks), block_size_(block_size), hash_(hash), blocks_(static_cast<size_t>(std::max(n_blocks, 0))) {
  if (n_blocks <= 0 || block_size <= 0) fail(ErrorKind::kInvalidArgument, "the KV cache needs blocks of positions");
  tokens_.resize(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

uint64_t BlockManager::chain_hash(uint64_t prev, std::span<const int32_t> tokens) {
  uint64_t h = prev ^ 0x9E3779B97F4A7C15ull;
  for (int32_t t : tokens) {
    h ^= static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
  }
  return h ^ (h >> 31);
}

std::span<const int32_t> BlockManager::tokens_of(int32_t b) const {
  return {tokens_.data() + static_cast<size_t>(b) * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_)};
}

void BlockManager::take(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.refs == 0 && blk.cached) evictable_.erase(blk.lru);
  ++blk.refs;
}

int64_t BlockManager::match_prefix(std::span<const int32_t> tokens, BlockTable& table) {
  if (!table.empty()) fail(ErrorKind::kInternal, "prefix lookup into a block table that already has blocks");
  const size_t bs = static_cast<size_t>(block_size_);
  uint64_t h = 0;
  for (size_t i = 0; i < tokens.size() / bs; ++i) {
    const std::span<const int32_t> block = tokens.subspan(i * bs, bs);
    h = hash_(h, block);
    auto it = cached_.find(h);
    if (it == cached_.end() || !std::ranges::equal(tokens_of(it->second), block)) break;
    take(it->second);
    table.push_back(it->second);
  }
  return static_cast<int64_t>(table.size()) * block_size_;
}

bool BlockManager::grow(BlockTable& table, int64_t positions) {
  while (static_cast<int64_t>(table.size()) * block_size_ < positions) {
    int32_t b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else if (!evictable_.empty()) {
      b = evictable_.front();
      evictable_.pop_front();
      cached_.erase(blocks_[static_cast<size_t>(b)].hash);
    } else {
      return false;
    }
    blocks_[static_cast<size_t>(b)] = Block{.refs = 1};
    table.push_back(b);
  }
  return true;
}

void BlockManager::seal(const BlockTable& table, std::span<const int32_t> tokens, int64_t n_computed) {
  const size_t bs = static_cast<size_t>(block_size_);
  const size_t full = std::min(table.size(), static_cast<size_t>(n_computed) / bs);
  // Blocks are sealed in order, so the unsealed ones are a tail: walk back to its start.
  size_t i = full;
  while (i > 0 && !blocks_[static_cast<size_t>(table[i - 1])].sealed) --i;
  for (; i < full; ++i) {
    const int32_t b = table[i];
    Block& blk = blocks_[static_cast<size_t>(b)];
    const std::span<const int32_t> block = tokens.subspan(i * bs, bs);
    blk.hash = hash_(i == 0 ? 0 : blocks_[static_cast<size_t>(table[i - 1])].hash, block);
    blk.sealed = true;
    std::ranges::copy(block, tokens_.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(b) * bs));
    // An identical block (or a colliding one) already cached keeps its place; this one still
    // carries its hash so the chain continues through it.
    if (cached_.emplace(blk.hash, b).second) blk.cached = true;
  }
}

void BlockManager::shrink(BlockTable& table, int64_t positions) {
  const size_t keep = static_cast<size_t>((std::max<int64_t>(positions, 0) + block_size_ - 1) / block_size_);
  while (table.size() > keep) {
    const int32_t b = table.back();
    Block& blk = blocks_[static_cast<size_t>(b)];
    if (blk.sealed || blk.refs != 1) fail(ErrorKind::kInternal, "KV block ", b, " is shared or sealed: cannot shrink it");
    blk = Block{};
    free_.push_back(b);
    table.pop_back();
  }
}

void BlockManager::free(BlockTable& table) {
  for (int32_t b : table) {
    Block& blk = blocks_[static_cast<size_t>(b)];
    if (blk.refs <= 0) fail(ErrorKind::kInternal, "KV block ", b, " released more often than taken");
    if (--blk.refs > 0) continue;
    if (blk.cached) {
      evictable_.push_back(b);
      blk.lru = std::prev(evictable_.end());
    } else {
      free_.push_back(b);
    }
  }
  table.clear();
}

}  // namespace whale::engine
