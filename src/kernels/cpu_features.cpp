// cpuid/xgetbv probing, the WHALE_SIMD override and the active kernel table. The table pointer
// lives in an atomic so reading it on every call costs nothing and tests can switch levels between
// calls.
#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/simd_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define WHALE_X86 1
#endif

namespace whale::kernels {
namespace {

#ifdef WHALE_X86
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef WHALE_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_os = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_os = (xcr0 & 0xE6) == 0xE6;   // plus opmask, ZMM_Hi256, Hi16_ZMM
  const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned b7 = b, c7 = c, d7 = d;
  __cpuid_count(7, 1, a, b, c, d);
  const unsigned a71 = a;
  if (ymm_os) {
    f.avx2 = (b7 >> 5) & 1;
    f.fma = fma;
    f.f16c = f16c;
    f.avx_vnni = (a71 >> 4) & 1;
  }
  if (ymm_os && zmm_os) {
    f.avx512f = (b7 >> 16) & 1;
    f.avx512bw = (b7 >> 30) & 1;
    f.avx512vl = (b7 >> 31) & 1;
    f.avx512vnni = (c7 >> 11) & 1;
    f.avx512bf16 = (a71 >> 5) & 1;
    f.avx512vbmi = (c7 >> 1) & 1;
  }
  const bool amx_os = (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  f.amx_int8 = amx_os && ((d7 >> 25) & 1);
  f.amx_bf16 = amx_os && ((d7 >> 22) & 1);
#endif
  return f;
}

SimdLevel detect_max() {
  if (!WHALE_SIMD_X86) return SimdLevel::kScalar;  // no kernels built for the x86 levels
  const CpuFeatures& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return SimdLevel::kScalar;
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) return SimdLevel::kAvx512;
  return SimdLevel::kAvx2;
}

SimdLevel initial_level() {
  SimdLevel level = max_simd_level();
  if (const char* env = std::getenv("WHALE_SIMD")) {
    SimdLevel want = level;
    if (std::strcmp(env, "scalar") == 0) want = SimdLevel::kScalar;
    if (std::strcmp(env, "avx2") == 0) want = SimdLevel::kAvx2;
    if (std::strcmp(env, "avx512") == 0) want = SimdLevel::kAvx512;
    if (want < level) level = want;
  }
  return level;
}

std::atomic<const simd::KernelTable*>& table_slot() {
  static std::atomic<const simd::KernelTable*> slot{&simd::table_for(initial_level())};
  return slot;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

SimdLevel max_simd_level() {
  static const SimdLevel m = detect_max();
  return m;
}

SimdLevel simd_level() { return simd::active().level; }

SimdLevel set_simd_level(SimdLevel level) {
  const simd::KernelTable& t = simd::table_for(level);
  table_slot().store(&t, std::memory_order_relaxed);
  return t.level;
}

namespace simd {

bool avx2_uses_vnni() {
  static const bool on = [] {
    const char* env = std::getenv("WHALE_AVX_VNNI");
    return WHALE_SIMD_X86 && cpu_features().avx_vnni && !(env != nullptr && std::strcmp(env, "0") == 0);
  }();
  return on;
}

const KernelTable& table_for(SimdLevel level) {
  if (level > max_simd_level()) level = max_simd_level();
#if WHALE_SIMD_X86
  if (level == SimdLevel::kAvx512) return kAvx512Kernels;
  if (level == SimdLevel::kAvx2) return avx2_uses_vnni() ? kAvx2VnniKernels : kAvx2Kernels;
#endif
  return kScalarKernels;
}

const KernelTable& active() { return *table_slot().load(std::memory_order_relaxed); }

}  // namespace simd

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace whale::kernels
