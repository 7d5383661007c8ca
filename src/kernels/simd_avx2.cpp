// The avx2 level's kernel table (AVX2 + FMA + F16C): 8-wide f32 FMA for float weights, int8
// products via maddubs/madd. Compiled for that target by pragma so the rest of whale stays portable.
// CPUs with AVX-VNNI take simd_avx2vnni.cpp's table at this level instead (the same bits).
#include "kernels/simd_kernels.h"

#if WHALE_SIMD_X86
#include <immintrin.h>

#include <cstdint>

#include "core/quant.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#include "kernels/attention_impl.h"
#include "kernels/packed_impl_avx2.h"
#include "kernels/simd_impl.h"
#include "kernels/simd_impl_k.h"
#include "kernels/simd_impl_legacy.h"
#include "kernels/simd_impl_iq.h"
#include "kernels/simd_isa_avx2.h"

namespace whale::kernels::simd {

constinit const KernelTable kAvx2Kernels{
    .level = SimdLevel::kAvx2,
    .lanes = IsaAvx2::kW,
    .matmul = matmul_impl<IsaAvx2>,
    .quantize_activations = quantize_activations_scalar,  // exact either way; AVX-512 has its own
    .matmul_packed = matmul_packed_avx2<IsaAvx2>,
    .axpy = axpy_impl<IsaAvx2>,
    .dot = dot_impl<IsaAvx2>,
    .exp_sum = exp_sum_impl<IsaAvx2>,
    .silu_mul = silu_mul_impl<IsaAvx2>,
    .attend = attend_impl<IsaAvx2>,
    .transpose_keys = transpose_impl<IsaAvx2>,
    .transpose_keys_bf16 = transpose_impl<IsaAvx2, uint16_t>,
};

}  // namespace whale::kernels::simd
#pragma GCC pop_options

#endif
