// Free list + hash map + LRU list; every operation is O(1) per block.
#include "engine/block_manager.h"

#include "core/error.h"

namespace whale::engine {

BlockManager::BlockManager(int32_t n_blocks, int32_t block_size)
    : n_blocks_(n_blocks), block_size_(block_size), blocks_(static_cast<size_t>(n_blocks)) {
  if (n_blocks <= 0 || block_size <= 0) fail(ErrorKind::kInvalidArgument, "the KV cache needs blocks of positions");
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

void BlockManager::take(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.refs == 0 && blk.hash) evictable_.erase(blk.lru);
  ++blk.refs;
}

std::vector<int32_t> BlockManager::match_prefix(std::span<const int32_t> tokens) {
  std::vector<int32_t> out;
  uint64_t h = 0;
  const size_t full = tokens.size() / static_cast<size_t>(block_size_);
  for (size_t i = 0; i < full; ++i) {
    h = chain_hash(h, tokens.subspan(i * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_)));
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    take(it->second);
    out.push_back(it->second);
  }
  lookup_tokens_ += static_cast<int64_t>(tokens.size());
  hit_tokens_ += static_cast<int64_t>(out.size()) * block_size_;
  return out;
}

std::optional<int32_t> BlockManager::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!evictable_.empty()) {
    b = evictable_.front();
    evictable_.pop_front();
    Block& blk = blocks_[static_cast<size_t>(b)];
    cached_.erase(*blk.hash);
    blk.hash.reset();
  } else {
    return std::nullopt;
  }
  blocks_[static_cast<size_t>(b)].refs = 1;
  return b;
}

void BlockManager::register_full(int32_t b, uint64_t hash) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.hash) return;
  if (cached_.count(hash)) return;  // an identical block is already cached: keep that one
  blk.hash = hash;
  cached_[hash] = b;
}

void BlockManager::release(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.refs <= 0) fail(ErrorKind::kInternal, "KV block ", b, " released more often than taken");
  if (--blk.refs > 0) return;
  if (blk.hash) {
    evictable_.push_back(b);
    blk.lru = std::prev(evictable_.end());
  } else {
    free_.push_back(b);
  }
}

}  // namespace whale::engine
