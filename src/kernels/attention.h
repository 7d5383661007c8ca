// Attention of one query over cached rows. The cache is a list of row pointers (one per past
// position), so any cache layout (contiguous, paged) can feed it without copies.
#pragma once

#include <cstdint>

namespace whale::kernels {

// Standard attention for one head: scores_j = scale · q·k_j over k_j = rows[j] + k_offset (dim d),
// softmax, out = Σ p_j · (rows[j] + v_offset) (dim dv). `scratch` holds n floats.
struct HeadAttention {
  const float* q;
  int64_t d;
  const float* const* rows;
  int64_t n;
  int64_t k_offset;
  int64_t v_offset;
  int64_t dv;
  float scale;
  float* out;
  float* scratch;
};
void attend_head(const HeadAttention& a);

// MLA absorbed attention for one head over latent rows [c_kv (r) | k_pe (d_rope)]:
// score_j = scale · (q_lat·c_kv_j + q_pe·k_pe_j); out_lat = Σ p_j c_kv_j (r values).
struct LatentAttention {
  const float* q_lat;  // [r]
  const float* q_pe;   // [d_rope]
  int64_t r;
  int64_t d_rope;
  const float* const* rows;
  int64_t n;
  float scale;
  float* out_lat;  // [r]
  float* scratch;  // [n]
};
void attend_latent(const LatentAttention& a);

}  // namespace whale::kernels
