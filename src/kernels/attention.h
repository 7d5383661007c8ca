// Attention of many queries over one list of cached rows (one sequence's cache, for one KV head
// or the shared MLA latent). The cache is a list of row pointers (one per past position), so any
// layout (contiguous, paged) feeds it without copies.
#pragma once

#include <cstdint>

namespace whale::kernels {

// Query i (of nq) sees rows [0, n[i]) (causal): score_ij = scale · q_i·k_j with k_j = rows[j] +
// k_offset (d values); out_i = Σ_j softmax_j(score_i) · v_j with v_j = rows[j] + v_offset (dv).
// Queries are taken 8 at a time so each key and value row is read once per 8 queries (the query
// heads of a GQA group, MLA's heads over the latent, a prefill's tokens), with an online softmax
// over blocks of 64 rows at fixed positions. A query's result depends only on its own inputs,
// not on which other queries share its call.
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
};
void attend(const Attention& a);

}  // namespace whale::kernels
