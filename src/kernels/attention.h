// Attention of many queries over one list of cached rows (one sequence's cache, for one KV head
// or the shared MLA latent). The cache is a list of row pointers (one per past position), so any
// layout (contiguous, paged) feeds it without copies; rows are f32 or bf16 (read as stored, widened
// to f32 in registers: the arithmetic is f32 either way), except that bf16 rows on CPUs with
// AVX512-BF16 take attention_bf16.h's kernel (bf16 queries and weights, vdpbf16ps).
#pragma once

#include <cstdint>

namespace whale::kernels {

// Query i (of nq) sees rows [0, n[i]) (causal): score_ij = scale · q_i·k_j with k_j = rows[j] +
// k_offset (d values); out_i = Σ_j softmax_j(score_i) · v_j with v_j = rows[j] + v_offset (dv).
// Queries are taken 16 at a time so each key and value row is read once per 16 queries (the query
// heads of a GQA group, MLA's heads over the latent, a prefill's tokens); keys go in blocks of
// attention_block() rows at fixed positions, transposed so the scores of a block are FMAs across
// lanes, with an online softmax per block. A query's result depends only on its own inputs, not
// on which other queries share its call nor on whether `kt` was given (attention_impl.h).
struct Attention {
  const float* const* q;   // query i: q[i] (d values)
  const int64_t* n;        // rows seen by query i, each in [1, number of rows]
  int64_t nq;
  const float* const* rows;
  int64_t k_offset;
  int64_t v_offset;
  int64_t d;
  int64_t dv;
  float scale;
  float* const* out;       // out_i: out[i] (dv values)
  // optional: the rows' keys transposed ahead, shared by many calls: transpose_keys's layout, or
  // attention_bf16::transpose's (as float*) for bf16 rows that kernel takes
  const float* kt = nullptr;
  const uint16_t* const* rows16 = nullptr;  // bf16 rows: when set, used instead of `rows`
  // Key chunks (kAttentionChunk rows each) to compute: [chunk0, chunk1). A query with more than one
  // chunk gets each chunk's online-softmax state [m, l, o (dv values)] at partial[i] + c·(dv + 2)
  // instead of a result, and merge_chunks makes the result. Left at their defaults, attend does
  // all chunks and the merge itself.
  int64_t chunk0 = 0, chunk1 = INT64_MAX;
  float* const* partial = nullptr;
};
void attend(const Attention& a);

// Keys are attended in chunks of this many rows, each with its own online softmax, then merged
// in chunk order: a query's bits depend only on its own inputs, while the chunks of one long
// query (a decode step at depth) can run on different threads.
inline constexpr int64_t kAttentionChunk = 256;
// Chunks of a query that sees n rows.
inline int64_t attention_chunks(int64_t n) { return (n + kAttentionChunk - 1) / kAttentionChunk; }
// out = the attention result from the states of a query's `chunks` chunks (partial as above).
void merge_chunks(const float* partial, int64_t chunks, int64_t dv, float* out);

// Keys per block on the current SIMD level (16, 8 or 1).
int64_t attention_block();
// Blocks [b0, b1) of rows' keys transposed (block b = rows b·W.. at kt + b·W·d, kt[c·W + j]),
// for the rows' n_rows keys; size the buffer ceil(n_rows / W) · W · d.
void transpose_keys(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt);
// The same for bf16 rows (the transposed keys are f32, exactly the rows' values).
void transpose_keys(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt);

}  // namespace whale::kernels
