// Intel AMX (int8 tiles) for prefill-sized products with packed q8_0/q4_0/q4_k/q6_k weights (packed.h): 16
// tokens x 16 weight rows per tile product, one 32-element block per tdpbssd, each block's int32
// result scaled in f32 with AVX-512. Used by linear() when enabled() and a call has >= kTile
// tokens; see docs/kernels.md.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "kernels/activation_quant.h"

namespace whale::kernels::amx {

inline constexpr int64_t kTile = 16;

// The CPU has AMX-TILE and AMX-INT8, the kernel granted the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM) and a tile product run in a forked child gave the right answer (AMX has
// faulted on some VMs; a crash there costs nothing). Probed once.
bool available();
// available(), the SIMD level is avx512, and neither WHALE_AMX=0 nor set_enabled(false) turned it off.
bool enabled();
// The packed types the tiles take (q8_0, q4_0, q4_k, q6_k); the other packed layouts run on VNNI only.
inline bool supports(core::DType dt) {
  return dt == core::DType::kQ8_0 || dt == core::DType::kQ4_0 || dt == core::DType::kQ4_K || dt == core::DType::kQ6_K;
}
// For tests and benchmarks; returns whether AMX is in use afterwards (false if unavailable).
bool set_enabled(bool on);

// Activations in tile order: for tile t (tokens 16t..16t+15) and block k, the 16 tokens' int8
// values as 512 contiguous bytes and their 16 scales, so a tile load reads 8 whole cache lines.
struct PackedActivations {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<float> s;  // d · Σq per block, same order as d (q4_k's mins)
  int64_t tiles = 0, nb = 0, T = 0;
};
// x (T rows of nb ActBlocks, x_stride apart), the last tile padded with zeros. Grow-only.
void pack_activations(const ActBlock* x, int64_t x_stride, int64_t T, int64_t nb, PackedActivations& out);

// y[t * y_stride + i] = Σ_c W[i][c] x[t][c] for the x.T tokens and rows i of packed groups
// [g0, g1) (i counted from group 0). Runs on the calling thread (callers split groups).
void matmul(core::DType dt, const uint8_t* packed_w, int64_t g0, int64_t g1, const PackedActivations& x, float* y,
            int64_t y_stride);

}  // namespace whale::kernels::amx
