// The scalar level's kernel table: portable kernels for CPUs without AVX2 (and the oracle the SIMD
// kernels are tested against). Float weights are decoded to f32 once per row; block-quantized rows
// are decoded to int8 with a scale per 16 elements (and a min per 32 for q4_k), then dotted
// exactly in int32 per block (q2_k's mins per 16 elements take Σ xq per 16).
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/quant_k.h"
#include "core/quant_iq.h"
#include "core/quant_legacy.h"
#include "kernels/attention_impl.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels::simd {
namespace {

using core::DType;

struct RowScratch {
  std::vector<float> f;
  std::vector<int8_t> q;
  std::vector<float> scale16, min32;
  std::vector<float> min16;  // q2_k only (empty otherwise)
};

// The k-quants of quant_k.h into RowScratch's form (core's dequantizers define the layouts).
void decode_kquant_row(DType dt, const uint8_t* wr, int64_t cols, RowScratch& s) {
  int8_t* q = s.q.data();
  for (int64_t bk = 0; bk < cols / 256; ++bk, q += 256) {
    float* sc = s.scale16.data() + 16 * bk;
    if (dt == DType::kQ5_K) {
      const auto& blk = reinterpret_cast<const core::BlockQ5_K*>(wr)[bk];
      const float d = core::f16_to_f32(blk.d), dmin = core::f16_to_f32(blk.dmin);
      for (int j = 0; j < 8; ++j) {
        uint8_t scale, m;
        core::q4_k_scale_min(j, blk.scales, &scale, &m);
        sc[2 * j] = sc[2 * j + 1] = d * scale;
        s.min32[8 * bk + j] = dmin * m;
        for (int l = 0; l < 32; ++l) {
          const uint8_t byte = blk.qs[32 * (j / 2) + l];
          q[32 * j + l] = static_cast<int8_t>((j % 2 == 0 ? byte & 15 : byte >> 4) | (((blk.qh[l] >> j) & 1) << 4));
        }
      }
      continue;
    }
    // q2_k and q3_k: 2 low bits of element e at shift 2 * ((e % 128) / 32) of qs[32 * (e / 128) + e % 32].
    const uint8_t* qs = dt == DType::kQ2_K ? reinterpret_cast<const core::BlockQ2_K*>(wr)[bk].qs
                                           : reinterpret_cast<const core::BlockQ3_K*>(wr)[bk].qs;
    for (int e = 0; e < 256; ++e) {
      q[e] = static_cast<int8_t>((qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
    }
    if (dt == DType::kQ2_K) {
      const auto& blk = reinterpret_cast<const core::BlockQ2_K*>(wr)[bk];
      const float d = core::f16_to_f32(blk.d), dmin = core::f16_to_f32(blk.dmin);
      for (int j = 0; j < 16; ++j) {
        sc[j] = d * (blk.scales[j] & 15);
        s.min16[16 * bk + j] = dmin * (blk.scales[j] >> 4);
      }
    } else {
      const auto& blk = reinterpret_cast<const core::BlockQ3_K*>(wr)[bk];
      const float d = core::f16_to_f32(blk.d);
      for (int j = 0; j < 16; ++j) sc[j] = d * core::q3_k_scale(j, blk.scales);
      for (int e = 0; e < 256; ++e) {
        if (!((blk.hmask[e % 32] >> (e / 32)) & 1)) q[e] = static_cast<int8_t>(q[e] - 4);
      }
    }
  }
}

void decode_float_row(const MatArgs& a, const uint8_t* wr, int64_t row, float* out) {
  if (a.dtype == DType::kF8E4M3) {
    const float* s = a.scale_inv + ((a.row0 + row) / a.block) * a.scale_cols;
    for (int64_t c0 = 0; c0 < a.cols; c0 += a.block) {
      const int64_t c1 = c0 + a.block < a.cols ? c0 + a.block : a.cols;
      for (int64_t c = c0; c < c1; ++c) out[c] = core::f8e4m3_to_f32(wr[c]) * s[c0 / a.block];
    }
    return;
  }
  core::convert_row(a.dtype, wr, DType::kF32, out, a.cols);
}

// The legacy 32-element types and iq4_xs in decode_int_row's form: q5 high bits joined to the
// nibbles, q4_1/q5_1's +m as a min32 of -m, iq4 nibbles looked up in kIQ4NLValues.
void decode_legacy_row(DType dt, const uint8_t* wr, int64_t cols, int8_t* q, float* sc, float* mn) {
  auto nibbles = [](const uint8_t* qs, int8_t* out, uint32_t high) {
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<int8_t>((qs[j] & 15) | (((high >> j) & 1) << 4));
      out[j + 16] = static_cast<int8_t>((qs[j] >> 4) | (((high >> (j + 16)) & 1) << 4));
    }
  };
  auto lookup = [](int8_t* v) {
    for (int j = 0; j < 32; ++j) v[j] = core::kIQ4NLValues[v[j]];
  };
  for (int64_t b = 0; b < cols / 32; ++b) {
    int8_t* v = q + 32 * b;
    float d = 0.0f;
    if (dt == DType::kQ4_1) {
      const auto& blk = reinterpret_cast<const core::BlockQ4_1*>(wr)[b];
      nibbles(blk.qs, v, 0);
      d = core::f16_to_f32(blk.d), mn[b] = -core::f16_to_f32(blk.m);
    } else if (dt == DType::kQ5_0) {
      const auto& blk = reinterpret_cast<const core::BlockQ5_0*>(wr)[b];
      nibbles(blk.qs, v, core::q5_high_bits(blk.qh));
      for (int j = 0; j < 32; ++j) v[j] = static_cast<int8_t>(v[j] - 16);
      d = core::f16_to_f32(blk.d);
    } else if (dt == DType::kQ5_1) {
      const auto& blk = reinterpret_cast<const core::BlockQ5_1*>(wr)[b];
      nibbles(blk.qs, v, core::q5_high_bits(blk.qh));
      d = core::f16_to_f32(blk.d), mn[b] = -core::f16_to_f32(blk.m);
    } else if (dt == DType::kIQ4_NL) {
      const auto& blk = reinterpret_cast<const core::BlockIQ4_NL*>(wr)[b];
      nibbles(blk.qs, v, 0);
      lookup(v);
      d = core::f16_to_f32(blk.d);
    } else {  // iq4_xs: sub-block b % 8 of super-block b / 8
      const auto& blk = reinterpret_cast<const core::BlockIQ4_XS*>(wr)[b / 8];
      nibbles(blk.qs + 16 * (b % 8), v, 0);
      lookup(v);
      d = core::f16_to_f32(blk.d) * static_cast<float>(core::iq4_xs_scale(blk, static_cast<int>(b % 8)));
    }
    sc[2 * b] = sc[2 * b + 1] = d;
  }
}

// value[j] = q[j] * scale16[j / 16] - min32[j / 32]
void decode_int_row(DType dt, const uint8_t* wr, int64_t cols, RowScratch& s) {
  int8_t* q = s.q.data();
  float* sc = s.scale16.data();
  float* mn = s.min32.data();
  for (int64_t b = 0; b < cols / 32; ++b) mn[b] = 0.0f;
  if (dt == DType::kQ2_K || dt == DType::kQ3_K || dt == DType::kQ5_K) {
    decode_kquant_row(dt, wr, cols, s);
  } else if (core::is_legacy_quant(dt)) {
    decode_legacy_row(dt, wr, cols, q, sc, mn);
  } else if (core::is_iq_codebook(dt)) {
    const int64_t bytes = core::dtype_info(dt).block_bytes;
    for (int64_t b = 0; b < cols / 32; ++b) {
      sc[2 * b] = sc[2 * b + 1] = core::iq_group(dt, wr + (b / 8) * bytes, static_cast<int>(b % 8), q + 32 * b);
    }
  } else if (dt == DType::kQ8_0 || dt == DType::kQ4_0) {
    for (int64_t b = 0; b < cols / 32; ++b) {
      float d;
      if (dt == DType::kQ8_0) {
        const auto& blk = reinterpret_cast<const core::BlockQ8_0*>(wr)[b];
        d = core::f16_to_f32(blk.d);
        for (int j = 0; j < 32; ++j) q[32 * b + j] = blk.qs[j];
      } else {
        const auto& blk = reinterpret_cast<const core::BlockQ4_0*>(wr)[b];
        d = core::f16_to_f32(blk.d);
        for (int j = 0; j < 16; ++j) {
          q[32 * b + j] = static_cast<int8_t>((blk.qs[j] & 15) - 8);
          q[32 * b + j + 16] = static_cast<int8_t>((blk.qs[j] >> 4) - 8);
        }
      }
      sc[2 * b] = sc[2 * b + 1] = d;
    }
  } else if (dt == DType::kQ4_K) {
    for (int64_t bk = 0; bk < cols / 256; ++bk) {
      const auto& blk = reinterpret_cast<const core::BlockQ4_K*>(wr)[bk];
      const float d = core::f16_to_f32(blk.d), dmin = core::f16_to_f32(blk.dmin);
      for (int s = 0; s < 8; ++s) {
        uint8_t scale, m;
        core::q4_k_scale_min(s, blk.scales, &scale, &m);
        const int64_t b = 8 * bk + s;
        sc[2 * b] = sc[2 * b + 1] = d * scale;
        mn[b] = dmin * m;
        const uint8_t* qs = blk.qs + 32 * (s / 2);
        for (int j = 0; j < 32; ++j) q[32 * b + j] = static_cast<int8_t>(s % 2 == 0 ? qs[j] & 15 : qs[j] >> 4);
      }
    }
  } else {  // q6_k
    for (int64_t bk = 0; bk < cols / 256; ++bk) {
      const auto& blk = reinterpret_cast<const core::BlockQ6_K*>(wr)[bk];
      const float d = core::f16_to_f32(blk.d);
      for (int i = 0; i < 16; ++i) sc[16 * bk + i] = d * blk.scales[i];
      // Element e of the half lives in group k = e / 32 (see simd_impl.h); scales are already in
      // element order (scale i covers elements 16i..16i+15).
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = blk.ql + 64 * h;
        const uint8_t* qh = blk.qh + 32 * h;
        int8_t* out = q + 256 * bk + 128 * h;
        for (int l = 0; l < 32; ++l) {
          out[l] = static_cast<int8_t>(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
          out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
          out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
      }
    }
  }
}

float dot_int_row(const RowScratch& s, const ActBlock* x, int64_t cols, bool min16) {
  float acc = 0.0f;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const int8_t* q = s.q.data() + 32 * b;
    int32_t lo = 0, hi = 0;
    for (int j = 0; j < 16; ++j) lo += q[j] * x[b].qs[j];
    for (int j = 16; j < 32; ++j) hi += q[j] * x[b].qs[j];
    float m = s.min32[b] * static_cast<float>(x[b].sum);
    if (min16) {
      int32_t sum_lo = 0, sum_hi = 0;
      for (int j = 0; j < 16; ++j) sum_lo += x[b].qs[j], sum_hi += x[b].qs[j + 16];
      m = s.min16[2 * b] * static_cast<float>(sum_lo) + s.min16[2 * b + 1] * static_cast<float>(sum_hi);
    }
    acc += x[b].d * (s.scale16[2 * b] * static_cast<float>(lo) + s.scale16[2 * b + 1] * static_cast<float>(hi) - m);
  }
  return acc;
}

bool matmul_scalar(const MatArgs& a) {
  thread_local RowScratch s;
  const bool int8 = uses_int8_activations(a.dtype);
  if (!int8 && a.dtype != DType::kF32 && a.dtype != DType::kF16 && a.dtype != DType::kBF16 &&
      a.dtype != DType::kF8E4M3) {
    return false;
  }
  const size_t cols = static_cast<size_t>(a.cols);
  if (int8) {
    if (s.q.size() < cols) s.q.resize(cols), s.scale16.resize(cols / 16), s.min32.resize(cols / 32);
    if (a.dtype == DType::kQ2_K && s.min16.size() < cols / 16) s.min16.resize(cols / 16);
  } else if (s.f.size() < cols) {
    s.f.resize(cols);
  }
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint8_t* wr = a.w + i * a.row_bytes;
    if (int8) {
      decode_int_row(a.dtype, wr, a.cols, s);
      for (int t = 0; t < a.nt; ++t) {
        a.y[t * a.y_stride + i] = dot_int_row(s, a.xq + t * a.x_stride, a.cols, a.dtype == DType::kQ2_K);
      }
    } else {
      decode_float_row(a, wr, i, s.f.data());
      for (int t = 0; t < a.nt; ++t) {
        const float* x = a.x + t * a.x_stride;
        float acc = 0.0f;
        for (int64_t c = 0; c < a.cols; ++c) acc += x[c] * s.f[static_cast<size_t>(c)];
        a.y[t * a.y_stride + i] = acc;
      }
    }
  }
  return true;
}

void axpy_scalar(float s, const float* x, float* y, int64_t n) {
  for (int64_t c = 0; c < n; ++c) y[c] += s * x[c];
}

float dot_scalar(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t c = 0; c < n; ++c) acc += a[c] * b[c];
  return acc;
}

// One lane: the attention kernel's portable form (blocks of one key).
struct IsaScalar {
  using F = float;
  static constexpr int64_t kW = 1;
  static F zero() { return 0.0f; }
  static F set1(float v) { return v; }
  static F loadf(const float* p) { return *p; }
  static void storef(float* p, F v) { *p = v; }
  static F fma(F a, F b, F c) { return std::fma(a, b, c); }
  static F mul(F a, F b) { return a * b; }
  static F add(F a, F b) { return a + b; }
  static float hsum(F v) { return v; }
  static float hmax(F v) { return v; }
  static F exp_neg(F v) { return std::exp(v); }
};

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float exp_sum_scalar(float* x, int64_t n, float m) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - m));
  return sum;
}

}  // namespace

void quantize_activations_scalar(const float* x, int64_t n, ActBlock* out) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::lround(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q > 127 ? 127 : (q < -127 ? -127 : q));
      sum += out[b].qs[j];
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

constinit const KernelTable kScalarKernels{
    .level = SimdLevel::kScalar,
    .lanes = IsaScalar::kW,
    .matmul = matmul_scalar,
    .quantize_activations = quantize_activations_scalar,
    .matmul_packed = nullptr,
    .axpy = axpy_scalar,
    .dot = dot_scalar,
    .exp_sum = exp_sum_scalar,
    .silu_mul = silu_mul_scalar,
    .attend = attend_impl<IsaScalar>,
    .transpose_keys = transpose_impl<IsaScalar>,
    .transpose_keys_bf16 = transpose_impl<IsaScalar, uint16_t>,
};

}  // namespace whale::kernels::simd
