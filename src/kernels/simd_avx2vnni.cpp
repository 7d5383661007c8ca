// The avx2 level's kernel table on CPUs with AVX-VNNI (Alder Lake and later, Zen 5): the avx2
// table's kernels with each 32-pair int8 product as one ymm `vpdpbusd` instead of maddubs + madd +
// add. Exact either way (maddubs cannot saturate here: |u| <= 128, |s| <= 127), so both tables give
// the same bits; table_for(kAvx2) picks this one where the CPU has it, unless WHALE_AVX_VNNI=0.
#include "kernels/simd_kernels.h"

#if WHALE_SIMD_X86
#include <immintrin.h>

#include <cstdint>

#include "core/quant.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#include "kernels/attention_impl.h"
#include "kernels/packed_impl_avx2.h"
#include "kernels/simd_impl.h"
#include "kernels/simd_impl_k.h"
#include "kernels/simd_impl_legacy.h"
#include "kernels/simd_impl_iq.h"
#include "kernels/simd_isa_avx2.h"

namespace whale::kernels::simd {
namespace {

struct IsaAvx2Vnni : IsaAvx2 {
  static constexpr bool kWideU8 = true;
  static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
};

}  // namespace

constinit const KernelTable kAvx2VnniKernels{
    .level = SimdLevel::kAvx2,
    .lanes = IsaAvx2Vnni::kW,
    .matmul = matmul_impl<IsaAvx2Vnni>,
    .quantize_activations = quantize_activations_scalar,
    .matmul_packed = matmul_packed_avx2<IsaAvx2Vnni>,
    .axpy = axpy_impl<IsaAvx2Vnni>,
    .dot = dot_impl<IsaAvx2Vnni>,
    .exp_sum = exp_sum_impl<IsaAvx2Vnni>,
    .silu_mul = silu_mul_impl<IsaAvx2Vnni>,
    .attend = attend_impl<IsaAvx2Vnni>,
    .transpose_keys = transpose_impl<IsaAvx2Vnni>,
    .transpose_keys_bf16 = transpose_impl<IsaAvx2Vnni, uint16_t>,
};

}  // namespace whale::kernels::simd
#pragma GCC pop_options

#endif
