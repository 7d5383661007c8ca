// Two passes per head: scores then a weighted sum of values.
#include "kernels/attention.h"

#include "kernels/ops.h"

namespace whale::kernels {

void attend_head(const HeadAttention& a) {
  for (int64_t j = 0; j < a.n; ++j) a.scratch[j] = a.scale * dot(a.q, a.rows[j] + a.k_offset, a.d);
  softmax(a.scratch, a.n);
  for (int64_t i = 0; i < a.dv; ++i) a.out[i] = 0.0f;
  for (int64_t j = 0; j < a.n; ++j) axpy(a.scratch[j], a.rows[j] + a.v_offset, a.out, a.dv);
}

void attend_latent(const LatentAttention& a) {
  for (int64_t j = 0; j < a.n; ++j) {
    const float* row = a.rows[j];
    a.scratch[j] = a.scale * (dot(a.q_lat, row, a.r) + dot(a.q_pe, row + a.r, a.d_rope));
  }
  softmax(a.scratch, a.n);
  for (int64_t i = 0; i < a.r; ++i) a.out_lat[i] = 0.0f;
  for (int64_t j = 0; j < a.n; ++j) axpy(a.scratch[j], a.rows[j], a.out_lat, a.r);
}

}  // namespace whale::kernels
