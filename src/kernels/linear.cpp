// linear(): activations prepared once per call (int8 blocks for quantized weights), then rows split
// across the pool in cache-sized chunks, each chunk swept by groups of up to 4 tokens so prefill
// reads a weight row from memory once and from cache for the rest. Kernels: simd_kernels.h.
#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/activation_quant.h"
#include "kernels/amx.h"
#include "kernels/cpu_features.h"
#include "kernels/linear_ref.h"
#include "kernels/simd_kernels.h"
#include "kernels/packed.h"

namespace whale::kernels {
namespace {

using MatmulFn = bool (*)(const simd::MatArgs&);
using AxpyFn = void (*)(float, const float*, float*, int64_t);

MatmulFn matmul_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return simd::matmul_avx512;
    case SimdLevel::kAvx2: return simd::matmul_avx2;
    default: return simd::matmul_scalar;
  }
}

AxpyFn axpy_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return simd::axpy_avx512;
    case SimdLevel::kAvx2: return simd::axpy_avx2;
    default: return simd::axpy_scalar;
  }
}

bool has_kernel(core::DType t) {
  return simd::uses_int8_activations(t) || t == core::DType::kF32 || t == core::DType::kF16 ||
         t == core::DType::kBF16 || t == core::DType::kF8E4M3;
}

// Grow-only per-thread buffers, so steady-state calls allocate nothing.
struct Scratch {
  std::vector<ActBlock> act;
  std::vector<float> row;
  amx::PackedActivations amx_act;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

void check_fp8_scales(const WeightView& w) {
  const int64_t br = (w.rows() + w.block - 1) / w.block, bc = (w.cols() + w.block - 1) / w.block;
  if (!w.scale_inv.defined() || w.scale_inv.ndim() != 2 || w.scale_inv.dtype() != core::DType::kF32 ||
      w.scale_inv.dim(0) < br || w.scale_inv.dim(1) < bc) {
    fail(ErrorKind::kInvalidArgument, "f8_e4m3 weight [", w.rows(), ", ", w.cols(),
         "] needs an f32 scale_inv of at least [", br, ", ", bc, "]");
  }
}

}  // namespace

void linear(const WeightView& w, const LinearArgs& a, core::ThreadPool* pool) {
  const int64_t row1 = a.row1 < 0 ? w.rows() : a.row1;
  if (a.row0 < 0 || row1 > w.rows() || a.row0 > row1) {
    fail(ErrorKind::kInternal, "linear: rows [", a.row0, ", ", row1, ") of a ", w.rows(), "-row weight");
  }
  const core::DType dt = w.w.dtype();
  if (!has_kernel(dt)) return linear_ref(w, a);
  const int64_t cols = w.cols(), n_rows = row1 - a.row0;
  if (n_rows == 0 || a.T <= 0) return;
  const int64_t row_bytes = core::dtype_bytes(dt, cols);

  simd::MatArgs base{.dtype = dt,
                     .w = static_cast<const uint8_t*>(w.w.raw()) + a.row0 * row_bytes,
                     .row_bytes = row_bytes,
                     .rows = 0,
                     .cols = cols,
                     .x = a.x,
                     .x_stride = a.x_stride,
                     .nt = 0,
                     .y = a.y,
                     .y_stride = a.y_stride};
  if (dt == core::DType::kF8E4M3) {
    check_fp8_scales(w);
    base.scale_inv = w.scale_inv.data<float>();
    base.scale_cols = w.scale_inv.dim(1);
    base.block = w.block;
    base.row0 = a.row0;
  }
  // x -> int8 blocks once per token, shared by every row and thread (split over tokens when many).
  const bool int8 = simd::uses_int8_activations(dt);
  const int64_t nb = cols / 32;
  if (int8) {
    std::vector<ActBlock>& act = scratch().act;
    if (act.size() < static_cast<size_t>(a.T * nb)) act.resize(static_cast<size_t>(a.T * nb));
    ActBlock* out = act.data();
    auto quantize = [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t) quantize_activation_row(a.x + t * a.x_stride, cols, out + t * nb);
    };
    if (pool != nullptr && a.T * cols >= 65536) {
      pool->parallel_for(a.T, quantize);
    } else {
      quantize(0, a.T, 0);
    }
    base.x = act.data();
    base.x_stride = nb;
  }

  const MatmulFn fn = matmul_for(simd_level());
  // A chunk of rows (~32 KiB of weights) stays in L1/L2 while every token group passes over it.
  const int64_t chunk = std::clamp<int64_t>(32768 / std::max<int64_t>(row_bytes, 1), 1, 64);
  // Rows [r0, r1) on the SIMD kernels.
  auto simd_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += chunk) {
      simd::MatArgs m = base;
      m.w = base.w + r * row_bytes;
      m.rows = std::min(r1, r + chunk) - r;
      m.row0 = base.row0 + r;
      for (int64_t t = 0; t < a.T; t += simd::kMaxTokens) {
        m.nt = static_cast<int>(std::min<int64_t>(simd::kMaxTokens, a.T - t));
        m.x = int8 ? static_cast<const void*>(static_cast<const ActBlock*>(base.x) + t * base.x_stride)
                   : static_cast<const void*>(a.x + t * a.x_stride);
        m.y = a.y + t * a.y_stride + r;
        fn(m);
      }
    }
  };
  // Packed q8_0/q4_0 (whole 16-row groups): AMX tiles for prefill-sized calls, else VNNI. Both
  // give a token the same bits (packed.h), so batch composition never changes a result.
  const bool use_packed = int8 && w.packed.defined() && simd_level() == SimdLevel::kAvx512 &&
                          a.row0 % packed::kRows == 0 && row1 % packed::kRows == 0;
  const bool use_amx = use_packed && a.T >= amx::kTile && amx::enabled();
  if (use_amx) amx::pack_activations(static_cast<const ActBlock*>(base.x), nb, a.T, nb, scratch().amx_act);
  const amx::PackedActivations& amx_act = scratch().amx_act;
  // The packed groups of rows [row0, row1); b, e below count groups from there.
  const uint8_t* pw = use_packed ? static_cast<const uint8_t*>(w.packed.raw()) +
                                       a.row0 / packed::kRows * nb * packed::group_block_bytes(dt)
                                 : nullptr;
  auto body = [&](int64_t b, int64_t e, int) {
    if (!use_packed) return simd_rows(b, e);
    if (use_amx) return amx::matmul(dt, pw, b, e, amx_act, a.y, a.y_stride);
    packed::matmul_vnni(dt, pw, nb, b, e, static_cast<const ActBlock*>(base.x), nb, a.T, a.y, a.y_stride);
  };
  const int64_t units = use_packed ? n_rows / packed::kRows : n_rows;
  // Small problems run inline: waking threads costs more than the work.
  if (pool == nullptr || n_rows * cols * a.T < 32768) {
    body(0, units, 0);
  } else {
    pool->parallel_for(units, body);
  }
}

void linear_transposed(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y) {
  const int64_t cols = w.cols();
  std::vector<float>& row = scratch().row;
  if (row.size() < static_cast<size_t>(cols)) row.resize(static_cast<size_t>(cols));
  const AxpyFn axpy = axpy_for(simd_level());
  for (int64_t c = 0; c < cols; ++c) y[c] = 0.0f;
  for (int64_t r = row0; r < row1; ++r) {
    dequantize_weight_row(w, r, row.data());
    axpy(x[r - row0], row.data(), y, cols);
  }
}

}  // namespace whale::kernels
