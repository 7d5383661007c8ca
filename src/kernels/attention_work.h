// AttentionWork: one layer's attention as query sets over cached rows, run in tiles across the
// pool. Reused from layer to layer and step to step, it allocates nothing once it has grown.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/thread_pool.h"

namespace whale::kernels {

// Query sets (each a kernels::Attention over one list of rows, with its query/output pointers and
// lengths kept here), run as tiles of 16 queries across the pool, long and short tiles interleaved
// so causal prefill splits evenly between threads. A tile that sees more than kAttentionChunk rows
// runs as one unit per key chunk (so one decode step at depth uses every thread), its queries'
// chunk states merged afterwards in chunk order (the same bits as attend alone). A set of more
// than one tile transposes its keys once for all its tiles. clear() forgets the sets but keeps
// every buffer.
class AttentionWork {
 public:
  void clear();
  // A new query set over `rows` (the pointers are copied); returns its index for add_query.
  size_t add_set(std::span<const float* const> rows, int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv,
                 float scale);
  // The same over bf16 rows.
  size_t add_set(std::span<const uint16_t* const> rows, int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv,
                 float scale);
  // Query `q` sees the set's rows [0, n) and writes its dv outputs to `out`.
  void add_query(size_t set, const float* q, int64_t n, float* out);
  void run(core::ThreadPool& pool);
  // Bytes held by all buffers (grows only; tests check that steady decoding leaves it unchanged).
  size_t reserved_bytes() const;

 private:
  struct Set {
    std::vector<const float*> rows, q;
    std::vector<const uint16_t*> rows16;  // bf16 rows instead of `rows` when not empty
    std::vector<int64_t> n;
    std::vector<float*> out;
    std::vector<float> kt;  // transposed keys, for sets of more than one tile
    std::vector<float> part;      // chunk states of the queries with several chunks
    std::vector<float*> part_of;  // per query: its states in `part`, or null
    int64_t k_offset = 0, v_offset = 0, d = 0, dv = 0;
    float scale = 0;
    int64_t n_rows() const { return static_cast<int64_t>(rows16.empty() ? rows.size() : rows16.size()); }
  };
  Set& new_set(int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv, float scale);

  std::vector<Set> sets_;  // [0, n_sets_) in use; the rest keep their buffers for later sets
  size_t n_sets_ = 0;
  std::vector<std::pair<size_t, int64_t>> blocks_;  // (set, key block) to transpose
  struct Unit {
    size_t set;
    int64_t i0, c0, c1;  // first query of the tile, key chunks [c0, c1)
  };
  std::vector<Unit> tiles_;
  std::vector<std::pair<size_t, int64_t>> merges_;  // (set, query) whose chunks need merging
};

}  // namespace whale::kernels
