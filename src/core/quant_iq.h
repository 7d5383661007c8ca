// GGUF's 2-bit and 1.58-bit codebook types iq2_xxs and iq1_s (the experts of the 1.58-bit and 2-bit
// DeepSeek-R1/V3 files): ggml's byte layouts and fixed grids, so such files load as stored. whale
// reads and computes them; it does not write them (their codebook search needs an importance matrix,
// which llama-quantize insists on too).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace whale::core {

// 256 elements in 8 groups of 32. Group g is qs[4g], qs[4g+1] (read as little-endian u32 aux0,
// aux1): byte k of aux0 picks row kIQ2XXSGrid[byte] for elements 8k..8k+7, bits 7k..7k+6 of aux1
// pick their signs (kIQ2XXSSigns, bit j = element j negative), and aux1 >> 28 = s gives the
// group's scale d * (0.5 + s) * 0.25.
struct BlockIQ2_XXS {
  uint16_t d;  // f16
  uint16_t qs[32];
};

// 256 elements in 8 groups of 32. Element 8k+j of group g (k < 4) is grid row
// qs[4g+k] | ((qh[g] >> 3k) & 7) << 8 of kIQ1SGrid, value dl * (grid + delta) with
// dl = d * (2 ((qh[g] >> 12) & 7) + 1) and delta = -1/8 if bit 15 of qh[g] is set, else +1/8.
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[32];
  uint16_t qh[8];
};

static_assert(sizeof(BlockIQ2_XXS) == 66);
static_assert(sizeof(BlockIQ1_S) == 50);

extern const uint64_t kIQ2XXSGrid[256];  // 8 magnitudes in {8, 25, 43}, element j in byte j
extern const uint64_t kIQ1SGrid[2048];   // 8 int8 values in {-1, 0, 1}, element j in byte j
extern const uint8_t kIQ2XXSSigns[128];  // 7-bit index -> 8 sign bits (bit j: element j negative)

bool is_iq_codebook(DType t);

// Group g (0..7) of block `blk` as exact int8 values q[0..31] and a float scale with
// value[j] = q[j] * scale, bit for bit what dequantize_row gives: iq2_xxs q = ±grid, scale =
// d (0.5 + s) / 4; iq1_s q = 8 grid ± 1 (|q| <= 9), scale = dl / 8.
float iq_group(DType t, const void* blk, int g, int8_t* q);

// `n` elements (a whole number of 256-blocks) to floats, as ggml's dequantize_row_iq2_xxs /
// dequantize_row_iq1_s (called by dequantize_row).
void dequantize_row_iq(DType t, const void* src, float* dst, int64_t n);

}  // namespace whale::core
