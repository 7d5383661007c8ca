// linear(): choose_path picks one of five kernels, the activations are prepared once per call
// (int8 blocks for quantized weights, float_dot.h's layout for bf16/fp8 at avx512), then the rows
// are split across the pool. Kernels: the active level's simd::KernelTable (simd_kernels.h),
// float_dot.h, and AMX (amx.h) for packed prefill.
#include "kernels/linear.h"

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "kernels/activation_quant.h"
#include "kernels/amx.h"
#include "kernels/float_dot.h"
#include "kernels/linear_ref.h"
#include "kernels/packed.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {
namespace {

// The kernels one linear() call can run on.
enum class Path {
  kReference,   // linear_ref: a dtype with no fast kernel
  kRows,        // the level's per-row kernel (KernelTable::matmul) on the stored layout
  kPackedVnni,  // the packed 16-row layout on the level's KernelTable::matmul_packed (avx512 VNNI, avx2)
  kPackedAmx,   // the packed layout on AMX tiles of 16 tokens
  kFloatDot,    // bf16/fp8 rows on float_dot.h's kernels (avx512)
};

bool has_kernel(core::DType t) {
  return simd::uses_int8_activations(t) || t == core::DType::kF32 || t == core::DType::kF16 ||
         t == core::DType::kBF16 || t == core::DType::kF8E4M3;
}

// Which kernel computes rows [row0, row1) of w for T tokens on the level of `k`.
Path choose_path(const WeightView& w, int64_t row0, int64_t row1, int64_t T, const simd::KernelTable& k) {
  const core::DType dt = w.w.dtype();
  if (!has_kernel(dt)) return Path::kReference;
  if (float_dot::enabled(dt, w.block)) return Path::kFloatDot;
  // Packed copies are made at load time for the types packed.h lists when the best level has the packed kernel
  // (packed::packable); the level in use may be lower (WHALE_SIMD, tests).
  const bool has_packed_copy = simd::uses_int8_activations(dt) && w.packed.defined();
  const bool level_has_packed_kernel = static_cast<bool>(k.matmul_packed);
  // The packed kernels compute whole groups of 16 rows; a head's slice need not be one.
  const bool whole_groups = row0 % packed::kRows == 0 && row1 % packed::kRows == 0;
  if (!(has_packed_copy && level_has_packed_kernel && whole_groups)) return Path::kRows;
  // AMX takes 16 tokens per tile, so it pays from one full tile; it gives a token the same bits as
  // the VNNI kernel (packed.h), so batch composition never changes a result.
  const bool prefill_sized = T >= amx::kTile;
  if (prefill_sized && amx::enabled() && amx::supports(dt)) return Path::kPackedAmx;
  return Path::kPackedVnni;
}

// Grow-only per-thread buffers, so steady-state calls allocate nothing.
struct Scratch {
  std::vector<ActBlock> act;
  std::vector<float> row;
  std::vector<uint8_t> prepared;  // float_dot activations
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

// x as int8 blocks, cols/32 per token: once per call, shared by every row and thread (split over
// tokens when there are many). Lives in the calling thread's scratch.
const ActBlock* quantize_tokens(const LinearArgs& a, int64_t cols, const simd::KernelTable& k,
                                core::ThreadPool* pool) {
  const int64_t nb = cols / 32;
  std::vector<ActBlock>& act = scratch().act;
  if (act.size() < static_cast<size_t>(a.T * nb)) act.resize(static_cast<size_t>(a.T * nb));
  ActBlock* out = act.data();
  auto quantize = [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) k.quantize_activations(a.x + t * a.x_stride, cols, out + t * nb);
  };
  if (pool != nullptr && a.T * cols >= 65536) {
    pool->parallel_for(a.T, std::ref(quantize));  // std::ref: the pool's std::function stays inline
  } else {
    quantize(0, a.T, 0);
  }
  return out;
}

// Rows [r0, r1) of `base` (counted from its first row) for T tokens on a per-row kernel (`matmul`
// takes Args with its rows, tokens and pointers set). A chunk of rows (~32 KiB of weights) stays in
// L1/L2 while every group of up to kMaxTokens tokens passes over it, so prefill reads a weight row
// from memory once and from cache for the rest.
template <class Args, int kMaxTokens, class Matmul>
void rows_kernel(const Matmul& matmul, const Args& base, int64_t T, int64_t r0, int64_t r1) {
  const int64_t chunk = std::clamp<int64_t>(32768 / std::max<int64_t>(base.row_bytes, 1), 1, 64);
  for (int64_t r = r0; r < r1; r += chunk) {
    Args m = base;
    m.w = base.w + r * base.row_bytes;
    m.rows = std::min(r1, r + chunk) - r;
    m.row0 = base.row0 + r;
    for (int64_t t = 0; t < T; t += kMaxTokens) {
      m.nt = static_cast<int>(std::min<int64_t>(kMaxTokens, T - t));
      if constexpr (std::is_same_v<Args, simd::MatArgs>) {
        m.x = base.x != nullptr ? base.x + t * base.x_stride : nullptr;
        m.xq = base.xq != nullptr ? base.xq + t * base.x_stride : nullptr;
      } else {
        m.x = base.x + t * base.x_stride;
      }
      m.y = base.y + t * base.y_stride + r;
      matmul(m);
    }
  }
}

// x in float_dot's layout, once per call (in the calling thread's scratch).
const uint8_t* prepare_tokens(const LinearArgs& a, core::DType dt, int64_t cols) {
  const int64_t bytes = float_dot::prepared_bytes(dt, cols);
  std::vector<uint8_t>& buf = scratch().prepared;
  if (buf.size() < static_cast<size_t>(a.T * bytes)) buf.resize(static_cast<size_t>(a.T * bytes));
  for (int64_t t = 0; t < a.T; ++t) float_dot::prepare(dt, a.x + t * a.x_stride, cols, buf.data() + t * bytes);
  return buf.data();
}

}  // namespace

void linear(const WeightView& w, const LinearArgs& a, core::ThreadPool* pool) {
  const int64_t row1 = a.row1 < 0 ? w.rows() : a.row1;
  if (a.row0 < 0 || row1 > w.rows() || a.row0 > row1) {
    fail(ErrorKind::kInternal, "linear: rows [", a.row0, ", ", row1, ") of a ", w.rows(), "-row weight");
  }
  const simd::KernelTable& k = simd::active();
  const Path path = choose_path(w, a.row0, row1, a.T, k);
  if (path == Path::kReference) return linear_ref(w, a);
  const core::DType dt = w.w.dtype();
  const int64_t cols = w.cols(), n_rows = row1 - a.row0, nb = cols / 32;
  if (n_rows == 0 || a.T <= 0) return;
  if (dt == core::DType::kF8E4M3) check_fp8_scales(w);
  const ActBlock* xq = simd::uses_int8_activations(dt) ? quantize_tokens(a, cols, k, pool) : nullptr;

  // The work in units the pool splits: rows, or packed groups of 16 rows.
  auto run = [&](int64_t units, const auto& body) {
    // Small problems run inline: waking threads costs more than the work.
    if (pool == nullptr || n_rows * cols * a.T < 32768) {
      body(0, units, 0);
    } else {
      pool->parallel_for(units, std::cref(body));  // no heap copy of the lambda per call
    }
  };
  // The per-row kernels' arguments (float_dot::Args or simd::MatArgs) past the activations.
  const int64_t row_bytes = core::dtype_bytes(dt, cols);
  const auto rows_args = [&](auto args) {
    args.dtype = dt;
    args.w = static_cast<const uint8_t*>(w.w.raw()) + a.row0 * row_bytes;
    args.row_bytes = row_bytes;
    args.cols = cols;
    args.y = a.y;
    args.y_stride = a.y_stride;
    args.row0 = a.row0;
    if (dt == core::DType::kF8E4M3) {
      args.scale_inv = w.scale_inv.data<float>();
      args.scale_cols = w.scale_inv.dim(1);
      args.block = w.block;
    }
    return args;
  };
  if (path == Path::kFloatDot) {
    const float_dot::Args base =
        rows_args(float_dot::Args{.x = prepare_tokens(a, dt, cols), .x_stride = float_dot::prepared_bytes(dt, cols)});
    return run(n_rows, [&](int64_t b, int64_t e, int) {
      rows_kernel<float_dot::Args, float_dot::kMaxTokens>(float_dot::matmul, base, a.T, b, e);
    });
  }
  if (path == Path::kRows) {
    const simd::MatArgs base = rows_args(
        simd::MatArgs{.x = xq != nullptr ? nullptr : a.x, .xq = xq, .x_stride = xq != nullptr ? nb : a.x_stride});
    return run(n_rows, [&](int64_t b, int64_t e, int) {
      rows_kernel<simd::MatArgs, simd::kMaxTokens>(k.matmul, base, a.T, b, e);
    });
  }
  // The packed groups of rows [row0, row1); the units below count groups from there.
  const uint8_t* pw =
      static_cast<const uint8_t*>(w.packed.raw()) + a.row0 / packed::kRows * nb * packed::group_block_bytes(dt);
  const int64_t groups = n_rows / packed::kRows;
  if (path == Path::kPackedAmx) {
    amx::pack_activations(xq, nb, a.T, nb, scratch().amx_act);
    const amx::PackedActivations& x = scratch().amx_act;
    return run(groups, [&](int64_t b, int64_t e, int) { amx::matmul(dt, pw, b, e, x, a.y, a.y_stride); });
  }
  run(groups, [&](int64_t b, int64_t e, int) { k.matmul_packed(dt, pw, nb, b, e, xq, nb, a.T, a.y, a.y_stride); });
}

void linear_transposed(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y) {
  const int64_t cols = w.cols();
  std::vector<float>& row = scratch().row;
  if (row.size() < static_cast<size_t>(cols)) row.resize(static_cast<size_t>(cols));
  const simd::KernelTable& k = simd::active();
  for (int64_t c = 0; c < cols; ++c) y[c] = 0.0f;
  for (int64_t r = row0; r < row1; ++r) {
    dequantize_weight_row(w, r, row.data());
    k.axpy(x[r - row0], row.data(), y, cols);
  }
}

}  // namespace whale::kernels
