// Attention of many queries over one list of cached rows (one sequence's cache, for one KV head
// or the shared MLA latent). The cache is a list of row pointers (one per past position), so any
// layout (contiguous, paged) feeds it without copies; rows are f32 or bf16 (read as stored, widened
// to f32 in registers: the arithmetic is f32 either way).
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
  const float* kt = nullptr;  // optional: transpose_keys of these rows, shared by many calls
  const uint16_t* const* rows16 = nullptr;  // bf16 rows: when set, used instead of `rows`
};
void attend(const Attention& a);

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
