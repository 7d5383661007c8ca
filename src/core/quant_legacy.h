// GGUF's 32-element legacy types q4_1, q5_0, q5_1 and the non-linear iq4_nl / iq4_xs: byte layouts
// identical to ggml's, so the fallback tensors of llama.cpp's K-quant files load as stored.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace whale::core {

// value[j] = (qs[j] & 15) * d + m and value[j + 16] = (qs[j] >> 4) * d + m, for j < 16.
struct BlockQ4_1 {
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qs[16];
};

// 5-bit q = low nibble as in q4_0 plus bit j of qh (a little-endian u32) as bit 4 of element j;
// value = (q - 16) * d.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};

// q5_0's 5-bit q without the offset: value = q * d + m.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};

// value[j] = d * kIQ4NLValues[nibble j], nibbles ordered as q4_0's.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};

// 8 sub-blocks of 32, each an iq4_nl block (16 bytes of qs) with scale d * (ls - 32): the 6-bit ls
// of sub-block s has its low 4 bits in scales_l[s / 2] (low nibble for even s) and its top 2 bits
// at bit 2s of scales_h.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};

static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);

// ggml's kvalues_iq4nl: the 16 levels of the non-linear 4-bit types (denser near zero).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The signed 6-bit scale (ls - 32, in [-32, 31]) of iq4_xs sub-block `s` (0..7).
inline int iq4_xs_scale(const BlockIQ4_XS& b, int s) {
  const int lo = (b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF;
  const int hi = (b.scales_h >> (2 * s)) & 3;
  return (lo | (hi << 4)) - 32;
}

// The 32 bits of a q5 block's qh as one integer (bit j = bit 4 of element j).
inline uint32_t q5_high_bits(const uint8_t* qh) {
  return static_cast<uint32_t>(qh[0]) | (static_cast<uint32_t>(qh[1]) << 8) |
         (static_cast<uint32_t>(qh[2]) << 16) | (static_cast<uint32_t>(qh[3]) << 24);
}

// True for the five dtypes this file encodes.
bool is_legacy_quant(DType t);

// `n` floats <-> n/block_elems blocks of a legacy type (called by quantize_row / dequantize_row).
// q4_1, q5_0, q5_1 match ggml's quantize_row_*_ref byte for byte. iq4_nl and iq4_xs follow ggml's
// search without an importance matrix (quantize_iq4_nl / quantize_iq4_xs: weights x^2, 7 tries
// each side of the max). Throws kInvalidArgument when `n` is not a whole number of blocks.
void quantize_row_legacy(DType t, const float* src, void* dst, int64_t n);
void dequantize_row_legacy(DType t, const void* src, float* dst, int64_t n);

}  // namespace whale::core
