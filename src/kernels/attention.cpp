// kernels::attend and its key transposes on the active level's kernels (attention_impl.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention_bf16.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {

namespace {
void attend_chunks(const Attention& a) {
  if (a.rows16 != nullptr && attention_bf16::enabled(a.d, a.dv)) return attention_bf16::attend(a);
  simd::active().attend(a, a.kt);
}
}  // namespace

void attend(const Attention& a) {
  int64_t most = 0;  // chunks of the longest query
  for (int64_t i = 0; i < a.nq; ++i) most = std::max(most, attention_chunks(a.n[i]));
  if (a.partial != nullptr || most <= 1) return attend_chunks(a);
  // Long queries: all chunks here, then the merge, as AttentionWork does across threads.
  thread_local std::vector<float> part;
  thread_local std::vector<float*> ptr;
  part.resize(static_cast<size_t>(a.nq * most * (a.dv + 2)));
  ptr.resize(static_cast<size_t>(a.nq));
  for (int64_t i = 0; i < a.nq; ++i) ptr[static_cast<size_t>(i)] = part.data() + i * most * (a.dv + 2);
  Attention b = a;
  b.partial = ptr.data();
  attend_chunks(b);
  for (int64_t i = 0; i < a.nq; ++i) {
    const int64_t c = attention_chunks(a.n[i]);
    if (c > 1) merge_chunks(ptr[static_cast<size_t>(i)], c, a.dv, a.out[i]);
  }
}

void merge_chunks(const float* partial, int64_t chunks, int64_t dv, float* out) {
  float m = partial[0];
  for (int64_t c = 1; c < chunks; ++c) m = std::max(m, partial[c * (dv + 2)]);
  float l = 0.0f;
  for (int64_t e = 0; e < dv; ++e) out[e] = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) {  // in chunk order, so the bits do not depend on who ran which
    const float* p = partial + c * (dv + 2);
    const float w = std::exp(p[0] - m);
    l += p[1] * w;
    for (int64_t e = 0; e < dv; ++e) out[e] += p[2 + e] * w;
  }
  const float inv = 1.0f / l;
  for (int64_t e = 0; e < dv; ++e) out[e] *= inv;
}

int64_t attention_block() { return simd::active().lanes; }

void transpose_keys(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  simd::active().transpose_keys(rows, n_rows, k_offset, d, b0, b1, kt);
}

void transpose_keys(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  simd::active().transpose_keys_bf16(rows, n_rows, k_offset, d, b0, b1, kt);
}

}  // namespace whale::kernels
