// Scalar reference conversions between f32 and the plain float storage types (f16, bf16, FP8 E4M3FN,
// f64), and convert_row, which moves a row between any two float dtypes including GGUF blocks.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace whale::core {

// IEEE binary16. Round to nearest even, subnormals kept, overflow (|x| >= 65520) -> inf, NaN stays
// NaN (quieted; the top 10 payload bits are kept so quiet f16 NaNs survive a round trip).
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t h);

// bfloat16 = the top half of an f32. Round to nearest even; NaN is quieted, never rounded to inf.
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t h);

// OCP FP8 E4M3FN (torch.float8_e4m3fn, DeepSeek-V3 weights): bias 7, no infinities, NaN = S.1111.111,
// max finite 448, min subnormal 2^-9, -0 kept. Round to nearest even. Without `saturate` it follows
// torch's c10 cast: |x| > 464 and ±inf become NaN (464 itself ties to even 448). With `saturate`,
// finite overflow and ±inf clamp to ±448. NaN -> NaN (0x7F with the input's sign) either way.
uint8_t f32_to_f8e4m3(float x, bool saturate = false);
float f8e4m3_to_f32(uint8_t b);

// Converts `n` elements from `src` (dtype `from`) to `dst` (dtype `to`). Plain types: f32, f16,
// bf16, f8_e4m3 (non-saturating, as torch's .to()), f64; block types (q8_0, q4_0, q2_k..q6_k) go
// through quant.h, so `n` must then be a whole number of blocks. Conversions between two non-f32
// types pass through f32 (so f64 -> f16 rounds twice). Integer and bool dtypes throw kUnsupported.
void convert_row(DType from, const void* src, DType to, void* dst, int64_t n);

}  // namespace whale::core
