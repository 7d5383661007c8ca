// Tiled attention with an online softmax (running max m, sum l, unnormalised output o per query):
// per block of kKeys rows, the scores of the tile's queries (each key row loaded once), then
// e^(s - m) on the SIMD exp, then the weighted values (each value row loaded once).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul_kernels.h"

namespace whale::kernels {
namespace {

constexpr int64_t kQueries = 8;
constexpr int64_t kKeys = 64;

struct Fns {
  float (*dot)(const float*, const float*, int64_t);
  void (*axpy)(float, const float*, float*, int64_t);
  float (*exp_sum)(float*, int64_t, float);
};

Fns fns() {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return {simd::dot_avx512, simd::axpy_avx512, simd::exp_sum_avx512};
    case SimdLevel::kAvx2: return {simd::dot_avx2, simd::axpy_avx2, simd::exp_sum_avx2};
    default: return {simd::dot_scalar, simd::axpy_scalar, simd::exp_sum_scalar};
  }
}

}  // namespace

void attend(const Attention& a) {
  const Fns f = fns();
  thread_local std::vector<float> o_buf;
  if (o_buf.size() < static_cast<size_t>(kQueries * a.dv)) o_buf.resize(static_cast<size_t>(kQueries * a.dv));
  float s[kQueries][kKeys];
  float m[kQueries], l[kQueries];
  for (int64_t i0 = 0; i0 < a.nq; i0 += kQueries) {
    const int64_t nt = std::min(kQueries, a.nq - i0);
    const float* q[kQueries];
    int64_t n[kQueries], nmax = 0;
    float* o[kQueries];
    for (int64_t i = 0; i < nt; ++i) {
      q[i] = a.q[i0 + i];
      n[i] = a.n[i0 + i];
      nmax = std::max(nmax, n[i]);
      o[i] = o_buf.data() + i * a.dv;
      std::fill(o[i], o[i] + a.dv, 0.0f);
      m[i] = -std::numeric_limits<float>::infinity();
      l[i] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < nmax; j0 += kKeys) {
      const int64_t j1 = std::min(j0 + kKeys, nmax);
      for (int64_t j = j0; j < j1; ++j) {
        const float* k = a.rows[j] + a.k_offset;
        for (int64_t i = 0; i < nt; ++i) {
          if (j < n[i]) s[i][j - j0] = a.scale * f.dot(q[i], k, a.d);
        }
      }
      for (int64_t i = 0; i < nt; ++i) {
        const int64_t c = std::min(j1, n[i]) - j0;
        if (c <= 0) continue;
        const float bm = *std::max_element(s[i], s[i] + c);
        if (bm > m[i]) {
          const float alpha = std::exp(m[i] - bm);  // 0 on the first block (m = -inf)
          if (l[i] > 0.0f) {
            for (int64_t e = 0; e < a.dv; ++e) o[i][e] *= alpha;
          }
          l[i] *= alpha;
          m[i] = bm;
        }
        l[i] += f.exp_sum(s[i], c, m[i]);
      }
      for (int64_t j = j0; j < j1; ++j) {
        const float* v = a.rows[j] + a.v_offset;
        for (int64_t i = 0; i < nt; ++i) {
          if (j < n[i]) f.axpy(s[i][j - j0], v, o[i], a.dv);
        }
      }
    }
    for (int64_t i = 0; i < nt; ++i) {
      float* out = a.out[i0 + i];
      const float inv = 1.0f / l[i];
      for (int64_t e = 0; e < a.dv; ++e) out[e] = o[i][e] * inv;
    }
  }
}

}  // namespace whale::kernels
