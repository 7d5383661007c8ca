// AMX int8 tile products over packed q8_0/q4_0 weights (see amx.h, packed.h). A packed group of 16
// rows is already in tdpbssd's B layout (B[k/4][4n + k%4] = W[n][k], one 8x64-byte tile per
// 32-element block): q8_0 tiles load straight from it, q4_0 nibbles are unpacked to signed int8
// once per group and call. Every tile of 16 tokens (the last one zero-padded) runs over the blocks:
// A = the tokens' int8 block (packed contiguously), C = 16x16 exact int32 products, and AVX-512
// adds C · d_w · d_x to 16 f32 accumulators (one per token, 16 rows wide), exactly the operations
// of packed.cpp's VNNI kernel.
#include "kernels/amx.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define WHALE_AMX_BUILD 1
#endif

namespace whale::kernels::amx {

#ifdef WHALE_AMX_BUILD
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,amx-tile,amx-int8")
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {

constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an XSAVE feature's state
constexpr int kXfeatureXtiledata = 18;

// ldtilecfg's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// tmm0/1: C (16 x 16 int32), tmm2/3: A (16 tokens x 32 int8), tmm4/5: B (8 x 64 int8).
void load_tile_config() {
  TileConfig c;
  for (int t = 0; t < 2; ++t) c.rows[t] = 16, c.colsb[t] = 64;
  for (int t = 2; t < 4; ++t) c.rows[t] = 16, c.colsb[t] = 32;
  for (int t = 4; t < 6; ++t) c.rows[t] = 8, c.colsb[t] = 64;
  // GCC 12's _tile_loadconfig tells the compiler it reads 8 bytes, so without this barrier the
  // stores to the rest of the struct can be dropped (and the tiles stay unconfigured: SIGILL).
  __asm__ volatile("" : : "r"(&c) : "memory");
  _tile_loadconfig(&c);
}

// One 16x16x32 product checked against plain integer arithmetic.
bool self_test() {
  load_tile_config();
  alignas(64) int8_t a[16 * 32], b[8 * 64];
  alignas(64) int32_t c[256];
  for (int i = 0; i < 512; ++i) a[i] = static_cast<int8_t>((i * 7) % 255 - 127), b[i] = static_cast<int8_t>((i * 13) % 251 - 125);
  _tile_zero(0);
  _tile_loadd(2, a, 32);
  _tile_loadd(4, b, 64);
  _tile_dpbssd(0, 2, 4);
  _tile_stored(0, c, 64);
  _tile_release();
  for (int m = 0; m < 16; ++m) {
    for (int n = 0; n < 16; ++n) {
      int32_t s = 0;
      for (int k = 0; k < 32; ++k) s += a[m * 32 + k] * b[(k / 4) * 64 + n * 4 + k % 4];
      if (s != c[m * 16 + n]) return false;
    }
  }
  return true;
}

bool probe() {
  if (!cpu_features().amx_int8) return false;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(self_test() ? 0 : 1);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::atomic<bool>& enabled_slot() {
  static std::atomic<bool> slot{[] {
    const char* env = std::getenv("WHALE_AMX");
    return !(env != nullptr && std::strcmp(env, "0") == 0) && available();
  }()};
  return slot;
}

// One packed group's B tiles (block k at b + k * b_stride, 8 lines of 64 bytes) and f32 scales.
struct Group {
  const int8_t* b;
  int64_t b_stride;
  const float* d;
};

// Thread-local unpacked copy of a group: q4_0's nibbles as signed int8 B tiles, f32 scales.
struct GroupBuffer {
  std::vector<int8_t> b;
  std::vector<float> d;
};

Group load_group(core::DType dt, const uint8_t* g, int64_t nb, GroupBuffer& buf) {
  if (buf.d.size() < static_cast<size_t>(nb * 16)) buf.d.resize(static_cast<size_t>(nb * 16));
  const int64_t gb = packed::group_block_bytes(dt);
  for (int64_t k = 0; k < nb; ++k) {
    _mm512_storeu_ps(buf.d.data() + 16 * k, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + k * gb))));
  }
  if (dt == core::DType::kQ8_0) return {reinterpret_cast<const int8_t*>(g + 64), gb, buf.d.data()};
  if (buf.b.size() < static_cast<size_t>(nb * 512)) buf.b.resize(static_cast<size_t>(nb * 512));
  const __m512i m4 = _mm512_set1_epi8(0x0F), k8 = _mm512_set1_epi8(8);
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * gb + 32;
    int8_t* out = buf.b.data() + 512 * k;
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(p + 64 * c);
      _mm512_storeu_si512(out + 64 * c, _mm512_sub_epi8(_mm512_and_si512(v, m4), k8));
      _mm512_storeu_si512(out + 64 * (c + 4), _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), k8));
    }
  }
  return {buf.b.data(), 512, buf.d.data()};
}

// acc[m] += C[m][0..15] · d_w[0..15] · d_x[m] for the 16 tokens of the tile.
inline void scale_add(const int32_t* c, const float* dw, const float* dx, __m512* acc) {
  const __m512 w = _mm512_loadu_ps(dw);
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    const __m512 s = _mm512_mul_ps(w, _mm512_set1_ps(dx[m]));
    acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m)), s, acc[m]);
  }
}

// One tile of 16 tokens (its packed activations: nb blocks of 512 bytes, nb x 16 scales) times
// one packed group of 16 rows, written to y. Blocks go in runs of kRun: the tile products of a
// run first (two C tiles alternating, results stored to L1), then the f32 scaling of the run.
void tile(const Group& p, int64_t nb, const int8_t* xq, const float* xd, float* y, int64_t y_stride, int64_t valid) {
  constexpr int64_t kRun = 8;
  alignas(64) int32_t c[kRun][256];
  __m512 acc[16];  // stays in registers: every loop over it is fully unrolled
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  const int8_t* b = p.b;
  const int64_t bs = p.b_stride;
  for (int64_t k0 = 0; k0 < nb; k0 += kRun) {
    const int64_t n = nb - k0 < kRun ? nb - k0 : kRun;
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + bs * k, 64);
      _tile_loadd(3, xq + 512 * (k + 1), 32);
      _tile_loadd(5, b + bs * (k + 1), 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, c[j], 64);
      _tile_stored(1, c[j + 1], 64);
    }
    if (j < n) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + bs * k, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, c[j], 64);
    }
    for (j = 0; j < n; ++j) scale_add(c[j], p.d + 16 * (k0 + j), xd + 16 * (k0 + j), acc);
  }
  if (valid == 16) {
#pragma GCC unroll 16
    for (int m = 0; m < 16; ++m) _mm512_storeu_ps(y + m * y_stride, acc[m]);
  } else {
    alignas(64) float rows[16][16];
#pragma GCC unroll 16
    for (int m = 0; m < 16; ++m) _mm512_store_ps(rows[m], acc[m]);
    for (int64_t m = 0; m < valid; ++m) std::memcpy(y + m * y_stride, rows[m], sizeof rows[m]);
  }
}

}  // namespace

bool available() {
  static const bool ok = probe();
  return ok;
}

void pack_activations(const ActBlock* x, int64_t x_stride, int64_t T, int64_t nb, PackedActivations& out) {
  out.tiles = (T + kTile - 1) / kTile;
  out.nb = nb;
  out.T = T;
  const size_t need = static_cast<size_t>(out.tiles * kTile * nb);
  if (out.q.size() < need * 32) out.q.resize(need * 32);
  if (out.d.size() < need) out.d.resize(need);
  for (int64_t t = 0; t < out.tiles * kTile; ++t) {
    const int64_t tile = t / kTile, m = t % kTile;
    for (int64_t k = 0; k < nb; ++k) {
      int8_t* q = out.q.data() + (tile * nb + k) * 512 + m * 32;
      float& d = out.d[static_cast<size_t>((tile * nb + k) * 16 + m)];
      if (t < T) {
        const ActBlock& a = x[t * x_stride + k];
        std::memcpy(q, a.qs, 32);
        d = a.d;
      } else {  // padding rows of the last tile: zeros, never stored
        std::memset(q, 0, 32);
        d = 0.0f;
      }
    }
  }
}

void matmul(core::DType dt, const uint8_t* packed_w, int64_t g0, int64_t g1, const PackedActivations& x, float* y,
            int64_t y_stride) {
  // Up to kGroups row groups share each token tile, so its activations come from L1/L2 for all.
  constexpr int64_t kGroups = 4;
  thread_local GroupBuffer buffers[kGroups];
  load_tile_config();
  const int64_t nb = x.nb, gb = packed::group_block_bytes(dt);
  for (int64_t r0 = g0; r0 < g1; r0 += kGroups) {
    const int64_t groups = std::min<int64_t>(kGroups, g1 - r0);
    Group grp[kGroups];
    for (int64_t g = 0; g < groups; ++g) grp[g] = load_group(dt, packed_w + (r0 + g) * nb * gb, nb, buffers[g]);
    for (int64_t t = 0; t < x.tiles; ++t) {
      const int8_t* xq = x.q.data() + t * nb * 512;
      const float* xd = x.d.data() + t * nb * 16;
      const int64_t valid = std::min<int64_t>(kTile, x.T - t * kTile);
      for (int64_t g = 0; g < groups; ++g) {
        tile(grp[g], nb, xq, xd, y + t * kTile * y_stride + (r0 + g) * kTile, y_stride, valid);
      }
    }
  }
}

#pragma GCC pop_options

#else  // no AMX build: never available

namespace {
std::atomic<bool>& enabled_slot() {
  static std::atomic<bool> slot{false};
  return slot;
}
}  // namespace

bool available() { return false; }
void pack_activations(const ActBlock*, int64_t, int64_t, int64_t, PackedActivations&) {}
void matmul(core::DType, const uint8_t*, int64_t, int64_t, const PackedActivations&, float*, int64_t) {}

#endif

bool enabled() { return enabled_slot().load(std::memory_order_relaxed) && simd_level() == SimdLevel::kAvx512; }

bool set_enabled(bool on) {
  enabled_slot().store(on && available(), std::memory_order_relaxed);
  return enabled();
}

}  // namespace whale::kernels::amx
