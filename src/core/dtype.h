// The element types whale stores tensors in: plain floats and ints, FP8 E4M3 (scaled per
// 128x128 block by a separate tensor), and GGUF's block-quantized types (scale inside the block).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace whale::core {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // raw e4m3 bytes; the block scales live in a sibling f32 tensor (`*_scale_inv`)
  kQ8_0,    // GGUF: 32 elements = f16 scale + 32 int8
  kQ4_0,    // GGUF: 32 elements = f16 scale + 16 bytes of nibbles
  kQ4_K,    // GGUF: 256 elements = 144 bytes
  kQ6_K,    // GGUF: 256 elements = 210 bytes
  kF64,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
  kQ2_K,  // GGUF: 256 elements = 84 bytes
  kQ3_K,  // GGUF: 256 elements = 110 bytes
  kQ5_K,  // GGUF: 256 elements = 176 bytes
  kQ4_1,    // GGUF: 32 elements = f16 scale + f16 min + 16 bytes of nibbles
  kQ5_0,    // GGUF: 32 elements = f16 scale + 4 bytes of 5th bits + 16 bytes of nibbles
  kQ5_1,    // GGUF: 32 elements = f16 scale + f16 min + 4 bytes of 5th bits + 16 bytes of nibbles
  kIQ4_NL,  // GGUF: 32 elements = f16 scale + 16 bytes of indices into a fixed 16-value table
  kIQ4_XS,  // GGUF: 256 elements = 136 bytes (iq4_nl's table, a 6-bit scale per 32)
  kIQ2_XXS, // GGUF: 256 elements = 66 bytes (8-value rows of a 256-row grid, signs, a 4-bit scale per 32)
  kIQ1_S,   // GGUF: 256 elements = 50 bytes (8-value rows of a 2048-row {-1,0,1} grid, a 3-bit scale per 32)
};

struct DTypeInfo {
  std::string_view name;  // whale's lower-case name: "f32", "bf16", "f8_e4m3", "q4_k", ...
  int64_t block_elems;    // elements per block (1 for non-block types)
  int64_t block_bytes;    // bytes per block
  bool is_float;          // holds real numbers (includes fp8 and block-quantized types)
  bool is_block_quant;    // GGUF block type: rows must be a whole number of blocks
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes for `n_elems` elements stored contiguously; throws whale::Error when `n_elems` is not a
// whole number of blocks or the size overflows.
int64_t dtype_bytes(DType t, int64_t n_elems);

}  // namespace whale::core
