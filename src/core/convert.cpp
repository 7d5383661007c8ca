// Bit-level float conversions (no _Float16 or F16C, so results are the same on every compiler and
// CPU) and convert_row, which routes every pair of float dtypes through f32 in small chunks.
#include "core/convert.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/quant.h"

namespace whale::core {
namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Drops the low `shift` bits of `v` (1 <= shift <= 31), rounding to nearest, ties to even. A carry
// out of the mantissa lands in the exponent field, which is exactly the right rounding there too.
uint32_t shift_round_even(uint32_t v, int shift) {
  const uint32_t q = v >> shift;
  const uint32_t rem = v & ((uint32_t{1} << shift) - 1);
  const uint32_t half = uint32_t{1} << (shift - 1);
  return (rem > half || (rem == half && (q & 1))) ? q + 1 : q;
}

}  // namespace

uint16_t f32_to_f16(float x) {
  const uint32_t u = bits_of(x);
  const auto sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7FFFFFFF;
  if (a > 0x7F800000) return sign | 0x7E00 | static_cast<uint16_t>((a >> 13) & 0x3FF);  // NaN
  if (a >= 0x47800000) return sign | 0x7C00;  // >= 65536 (and inf): inf
  const int e = static_cast<int>(a >> 23);
  if (e >= 113) {  // f16 normal range: rebias 127 -> 15; rounding 65520 up carries into inf
    return sign | static_cast<uint16_t>(shift_round_even(a - (uint32_t{112} << 23), 13));
  }
  // Below 2^-14: subnormal in units of 2^-24, value = m * 2^(e-150). Anything below 2^-25 is 0.
  if (e < 102) return sign;
  const uint32_t m = (a & 0x7FFFFF) | 0x800000;
  return sign | static_cast<uint16_t>(shift_round_even(m, 126 - e));
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1F;
  uint32_t m = h & 0x3FF;
  if (e == 0x1F) return float_of(sign | 0x7F800000 | (m << 13));  // inf or NaN (payload kept)
  if (e != 0) return float_of(sign | ((e + 112) << 23) | (m << 13));
  if (m == 0) return float_of(sign);
  // Subnormal: shift the leading 1 up to the implicit bit, lowering the exponent to match.
  uint32_t exp = 113;
  while ((m & 0x400) == 0) {
    m <<= 1;
    --exp;
  }
  return float_of(sign | (exp << 23) | ((m & 0x3FF) << 13));
}

uint16_t f32_to_bf16(float x) {
  const uint32_t u = bits_of(x);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

float bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint8_t f32_to_f8e4m3(float x, bool saturate) {
  const uint32_t u = bits_of(x);
  const auto sign = static_cast<uint8_t>((u >> 24) & 0x80);
  const uint32_t a = u & 0x7FFFFFFF;
  const uint8_t overflow = saturate ? 0x7E : 0x7F;
  if (a > 0x7F800000) return sign | 0x7F;  // NaN
  if (a == 0x7F800000) return sign | overflow;
  const int e = static_cast<int>(a >> 23);
  uint32_t q;
  if (e >= 121) {  // >= 2^-6, the smallest normal: rebias 127 -> 7, keep 3 mantissa bits
    // Clamp huge inputs first so the rebiased value cannot wrap; anything >= 2^16 overflows anyway.
    if (e >= 143) return sign | overflow;
    q = shift_round_even(a - (uint32_t{120} << 23), 20);
  } else if (e >= 117) {  // subnormal in units of 2^-9: value = m * 2^(e-150)
    q = shift_round_even((a & 0x7FFFFF) | 0x800000, 141 - e);
  } else {
    q = 0;  // below 2^-10 (ties at 2^-10 go to even 0)
  }
  if (q > 0x7E) return sign | overflow;  // rounded past 448 (|x| > 464)
  return sign | static_cast<uint8_t>(q);
}

float f8e4m3_to_f32(uint8_t b) {
  const uint32_t sign = static_cast<uint32_t>(b & 0x80) << 24;
  if ((b & 0x7F) == 0x7F) return float_of(sign | 0x7FC00000);
  const uint32_t e = (b >> 3) & 0xF;
  const uint32_t m = b & 0x7;
  if (e != 0) return float_of(sign | ((e + 120) << 23) | (m << 20));
  // Subnormal m * 2^-9; m * 2^-9 is exact in f32, so build it as an integer times a power of two.
  const float mag = static_cast<float>(m) * float_of(uint32_t{118} << 23);
  return float_of(sign | bits_of(mag));
}

namespace {

bool is_plain_float(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF8E4M3 ||
         t == DType::kF64;
}

void plain_to_f32(DType from, const void* src, float* dst, int64_t n) {
  switch (from) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::kF8E4M3:
      for (int64_t i = 0; i < n; ++i) dst[i] = f8e4m3_to_f32(static_cast<const uint8_t*>(src)[i]);
      return;
    case DType::kF64:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<const double*>(src)[i]);
      return;
    default:
      fail(ErrorKind::kInternal, "plain_to_f32 on ", dtype_name(from));
  }
}

void f32_to_plain(const float* src, DType to, void* dst, int64_t n) {
  switch (to) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return;
    case DType::kF8E4M3:
      for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(dst)[i] = f32_to_f8e4m3(src[i]);
      return;
    case DType::kF64:
      for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = src[i];
      return;
    default:
      fail(ErrorKind::kInternal, "f32_to_plain on ", dtype_name(to));
  }
}

void to_f32(DType from, const void* src, float* dst, int64_t n) {
  if (dtype_info(from).is_block_quant) {
    dequantize_row(from, src, dst, n);
  } else {
    plain_to_f32(from, src, dst, n);
  }
}

void from_f32(const float* src, DType to, void* dst, int64_t n) {
  if (dtype_info(to).is_block_quant) {
    quantize_row(to, src, dst, n);
  } else {
    f32_to_plain(src, to, dst, n);
  }
}

}  // namespace

void convert_row(DType from, const void* src, DType to, void* dst, int64_t n) {
  for (DType t : {from, to}) {
    if (!is_plain_float(t) && !dtype_info(t).is_block_quant) {
      fail(ErrorKind::kUnsupported, "convert_row: cannot convert ", dtype_name(from), " to ",
           dtype_name(to), " (", dtype_name(t), " is not a float type)");
    }
  }
  if (n < 0) fail(ErrorKind::kInvalidArgument, "convert_row: negative element count ", n);
  for (DType t : {from, to}) {
    const int64_t block = dtype_info(t).block_elems;
    if (n % block != 0) {
      fail(ErrorKind::kInvalidArgument, "convert_row: ", n, " elements is not a whole number of ",
           dtype_name(t), " blocks of ", block);
    }
  }
  if (from == to) {  // a byte copy keeps NaN payloads and block bytes exactly
    std::memcpy(dst, src, static_cast<size_t>(dtype_bytes(from, n)));
    return;
  }
  if (from == DType::kF32) return from_f32(static_cast<const float*>(src), to, dst, n);
  if (to == DType::kF32) return to_f32(from, src, static_cast<float*>(dst), n);

  // Neither side is f32: stage through a chunk that is a whole number of every block size.
  constexpr int64_t kChunk = 4096;
  float staged[kChunk];
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t done = 0; done < n; done += kChunk) {
    const int64_t len = std::min(kChunk, n - done);
    to_f32(from, in + dtype_bytes(from, done), staged, len);
    from_f32(staged, to, out + dtype_bytes(to, done), len);
  }
}

}  // namespace whale::core
