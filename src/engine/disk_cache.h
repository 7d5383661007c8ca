// DiskCache: the prefix cache's second level, on disk, outliving the process. One file per full KV
// block of a prompt prefix, named by the block's chain hash, holding a header (format, model
// fingerprint, a second independent prefix hash, the block's tokens, a checksum) and the block's rows;
// written atomically (temp + rename), evicted least recently used by total size. A file that fails
// any check (another model, truncated, corrupted) is a miss, deleted, and warned about once.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/weights.h"

namespace whale::engine {

// What must match for a block's rows to be reusable: the weights' content, the KV layout and dtype.
struct KvFormat {
  uint64_t model_id = 0;  // model_fingerprint()
  uint32_t kv_dtype = 0;  // core::DType of the rows
  uint32_t block_size = 0;
  uint32_t layers = 0;
  uint32_t row_width = 0;
  uint32_t row_bytes = 0;
  bool operator==(const KvFormat&) const = default;
};

// A 64-bit hash of the model's identity: its config fields that shape the KV rows and, for every
// weight tensor, its dtype, shape and 16 evenly spread 64-byte samples of its bytes (every norm and
// bias in full). A path, size or mtime is not used: a re-written checkpoint with other values differs.
uint64_t model_fingerprint(const model::Weights& w);

// The prefix's second hash, independent of BlockManager::chain_hash (FNV-1a over the token bytes,
// chained): a file must match both, so a collision needs two 64-bit collisions at once.
uint64_t check_hash(uint64_t prev, std::span<const int32_t> tokens);

// 64-bit checksum of bytes (multiply-rotate over 8-byte words): any single changed word changes it.
uint64_t checksum64(const void* data, size_t n, uint64_t seed = 0);

// "20G", "512M", "1.5G", "4096" (bytes); K/M/G/T are powers of 1024. whale::Error on anything else.
int64_t parse_byte_size(std::string_view text);

struct DiskCacheStats {
  int64_t hits = 0, misses = 0, writes = 0, evictions = 0;
  int64_t foreign = 0;         // files written by another model or KV format
  int64_t corrupt = 0;         // truncated, bad checksum or header, other tokens
  int64_t write_failures = 0;  // a full disk, a missing or unwritable directory
  int64_t files = 0, bytes = 0;
};

class DiskCache {
 public:
  // Creates `dir` if needed, indexes the *.kv files there (oldest modification first), removes
  // left-over temp files and evicts down to `max_bytes`.
  DiskCache(std::string dir, int64_t max_bytes, KvFormat format);

  // Is there a file for this chain hash (not yet checked)?
  bool contains(uint64_t chain) const { return index_.count(chain) != 0; }
  // Fills `rows` ([layers][block_size][row_bytes]) from the block's file when it holds exactly this
  // block (format, both hashes, tokens, checksum); false otherwise (a bad file is deleted).
  bool load(uint64_t chain, uint64_t check, std::span<const int32_t> tokens, std::span<uint8_t> rows);
  // Writes the block's file (temp + rename), then evicts the least recently used files over the limit.
  void store(uint64_t chain, uint64_t check, std::span<const int32_t> tokens, std::span<const uint8_t> rows);

  const DiskCacheStats& stats() const { return stats_; }
  const KvFormat& format() const { return format_; }
  int64_t block_bytes() const;  // rows bytes of one block

 private:
  struct Entry {
    int64_t bytes;
    std::list<uint64_t>::iterator lru;
  };
  std::string path_of(uint64_t chain) const;
  void add(uint64_t chain, int64_t bytes);  // newest
  void drop(uint64_t chain);                // delete the file and forget it
  void evict();
  void reject(uint64_t chain, bool foreign, const std::string& why);

  std::string dir_;
  int64_t max_bytes_;
  KvFormat format_;
  std::unordered_map<uint64_t, Entry> index_;
  std::list<uint64_t> lru_;  // least recently used first
  DiskCacheStats stats_;
  bool warned_foreign_ = false, warned_corrupt_ = false, warned_write_ = false;
};

}  // namespace whale::engine
