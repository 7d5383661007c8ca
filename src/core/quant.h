// Block quantization: GGUF's q8_0, q4_0, q4_k, q6_k (byte layouts identical to llama.cpp's ggml so
// whale's GGUF files interchange with it) and DeepSeek-V3's FP8 weights with 128x128 block scales.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace whale::core {

inline constexpr int64_t kQK8_0 = 32;
inline constexpr int64_t kQK4_0 = 32;
inline constexpr int64_t kQK_K = 256;  // super-block of the k-quants

// value[j] = qs[j] * d, d an f16.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// value[j] = ((qs[j] & 15) - 8) * d and value[j + 16] = ((qs[j] >> 4) - 8) * d, for j < 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// 8 sub-blocks of 32; sub-block s has a 6-bit scale sc and min m (packed in `scales`, see
// q4_k_scale_min) and value = d * sc * q - dmin * m with 4-bit q. Each 32 bytes of qs hold two
// sub-blocks: sub-block 2k in the low nibbles, 2k+1 in the high nibbles.
struct BlockQ4_K {
  uint16_t d;     // f16 scale of the 6-bit scales
  uint16_t dmin;  // f16 scale of the 6-bit mins
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16; value = d * scales[s] * (q - 32) with 6-bit q split into 4 low bits (ql) and
// 2 high bits (qh). Per half of 128: ql[l] holds elements l (low) and l+64 (high), ql[l+32] holds
// l+32 and l+96; qh[l] holds the high bits of l, l+32, l+64, l+96 at shifts 0, 2, 4, 6.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of sub-block `j` (0..7) from a q4_k `scales` array (ggml's
// get_scale_min_k4): j < 4 sit in the low 6 bits of bytes j and j+4; j >= 4 take their low 4 bits
// from byte j+4 and their top 2 bits from the spare top bits of bytes j-4 (scale) and j (min).
void q4_k_scale_min(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m);

// `n` floats <-> n/block_elems blocks of `t` (q8_0, q4_0, q4_k, q6_k, quant_k.h's q2_k, q3_k,
// q5_k, or a quant_legacy.h type). Throws kInvalidArgument when `n` is negative or not a whole
// number of blocks, kUnsupported for other dtypes. q8_0, q4_0 (and the legacy types) match ggml's
// reference quantizers byte for byte; the k-quants follow ggml's reference search
// (make_qkx2_quants / make_qx_quants) in its float operation order and give its bytes
// (tests/core/quant_k_oracle.py).
void quantize_row(DType t, const float* src, void* dst, int64_t n);
// Whether quantize_row can write t (a block type other than the read-only iq2_xxs and iq1_s).
bool can_quantize(DType t);
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// DeepSeek-V3 FP8 weights: `q` is [rows, cols] e4m3 bytes, `scale_inv` is f32
// [ceil(rows/block), ceil(cols/block)], weight[r][c] = f8(q[r][c]) * scale_inv[r/block][c/block];
// edge blocks are partial. Quantizing sets scale_inv = amax/448 (rounded once, as DeepSeek's
// act_quant does) so the block's largest magnitude lands on 448, or 1 for an all-zero block, and
// q = f8(w / scale_inv) saturating. Non-finite weights are not meaningful input (amax becomes
// inf/NaN). Throws kInvalidArgument for negative sizes or block < 1.
void quantize_fp8_blocks(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv,
                         int64_t block = 128);
void dequantize_fp8_blocks(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols,
                           float* out, int64_t block = 128);

}  // namespace whale::core
