// Run-time CPU feature detection and the SIMD level the kernels use: the best the CPU and OS allow,
// lowered by WHALE_SIMD=scalar|avx2|avx512 or set_simd_level (tests run every path on one machine).
// A level is a table of kernels (simd_kernels.h); setting the level selects its table.
#pragma once

#include <string_view>

namespace whale::kernels {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool avx512vbmi = false;  // vpermi2b: float_dot.h's fp8 byte tables
  bool avx_vnni = false;
  bool amx_int8 = false, amx_bf16 = false;  // amx_int8: prefill tiles (amx.h); amx_bf16 unused
};

// Detected once (cpuid + xgetbv, so registers the OS does not save count as absent).
const CpuFeatures& cpu_features();

// kAvx2 needs avx2+fma+f16c; kAvx512 needs those plus avx512 f/bw/vl/vnni.
enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

SimdLevel max_simd_level();     // what this CPU supports
SimdLevel simd_level();         // what the kernels use now
// Uses min(level, max_simd_level()) and its kernel table; returns the level in effect. Not for use
// during a matmul.
SimdLevel set_simd_level(SimdLevel level);
std::string_view simd_level_name(SimdLevel level);

}  // namespace whale::kernels
