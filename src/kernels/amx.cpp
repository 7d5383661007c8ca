// AMX int8 tile products for q8_0/q4_0 weights (see amx.h). Per group of 16 weight rows the
// weights are repacked once per call into tdpbssd's B layout (B[k/4][4n + k%4] = W[n][k], one
// 8x64-byte tile per 32-element block, q4_0 unpacked to signed int8) with the 16 block scales as
// f32; then every tile of 16 tokens runs over the blocks: A = the tokens' int8 block (16 rows of 32
// bytes, read in place from the ActBlocks), C = 16x16 int32 products, and AVX-512 adds
// C · d_w · d_x to 16 f32 accumulators (one per token, 16 rows wide). Two C tiles alternate so
// the tile unit and the vector unit overlap.
#include "kernels/amx.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/quant.h"
#include "kernels/cpu_features.h"

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

// Repacked weights of one 16-row group: nb tiles of 512 bytes, then nb x 16 scales.
struct Packed {
  std::vector<int8_t> b;
  std::vector<float> d;
};

// 4 bytes at base + n * row_bytes for rows n < 16, as the 16 int32 lanes.
inline __m512i gather_rows(const uint8_t* base, __m512i offsets) {
  return _mm512_i32gather_epi32(offsets, base, 1);
}

inline __m512 gather_scales(const uint8_t* base, __m512i offsets) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gather_rows(base, offsets)));
}

void pack(core::DType dt, const uint8_t* w, int64_t row_bytes, int64_t nb, Packed& p) {
  if (p.b.size() < static_cast<size_t>(nb * 512)) p.b.resize(static_cast<size_t>(nb * 512));
  if (p.d.size() < static_cast<size_t>(nb * 16)) p.d.resize(static_cast<size_t>(nb * 16));
  const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int32_t>(row_bytes)));
  int8_t* out = p.b.data();
  if (dt == core::DType::kQ8_0) {
    for (int64_t b = 0; b < nb; ++b, out += 512) {
      const uint8_t* blk = w + b * static_cast<int64_t>(sizeof(core::BlockQ8_0));
      _mm512_storeu_ps(p.d.data() + 16 * b, gather_scales(blk, offsets));
      for (int r = 0; r < 8; ++r) _mm512_storeu_si512(out + 64 * r, gather_rows(blk + 2 + 4 * r, offsets));
    }
  } else {  // q4_0: byte j holds elements j (low nibble) and j + 16 (high), each stored as value + 8
    const __m512i m4 = _mm512_set1_epi8(0x0F), k8 = _mm512_set1_epi8(8);
    for (int64_t b = 0; b < nb; ++b, out += 512) {
      const uint8_t* blk = w + b * static_cast<int64_t>(sizeof(core::BlockQ4_0));
      _mm512_storeu_ps(p.d.data() + 16 * b, gather_scales(blk, offsets));
      for (int g = 0; g < 4; ++g) {
        const __m512i q = gather_rows(blk + 2 + 4 * g, offsets);
        _mm512_storeu_si512(out + 64 * g, _mm512_sub_epi8(_mm512_and_si512(q, m4), k8));
        _mm512_storeu_si512(out + 64 * (g + 4), _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), k8));
      }
    }
  }
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
void tile(const Packed& p, int64_t nb, const int8_t* xq, const float* xd, float* y, int64_t y_stride) {
  constexpr int64_t kRun = 8;
  alignas(64) int32_t c[kRun][256];
  __m512 acc[16];  // stays in registers: every loop over it is fully unrolled
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  const int8_t* b = p.b.data();
  for (int64_t k0 = 0; k0 < nb; k0 += kRun) {
    const int64_t n = nb - k0 < kRun ? nb - k0 : kRun;
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + 512 * k, 64);
      _tile_loadd(3, xq + 512 * (k + 1), 32);
      _tile_loadd(5, b + 512 * (k + 1), 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, c[j], 64);
      _tile_stored(1, c[j + 1], 64);
    }
    if (j < n) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + 512 * k, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, c[j], 64);
    }
    for (j = 0; j < n; ++j) scale_add(c[j], p.d.data() + 16 * (k0 + j), xd + 16 * (k0 + j), acc);
  }
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) _mm512_storeu_ps(y + m * y_stride, acc[m]);
}

}  // namespace

bool available() {
  static const bool ok = probe();
  return ok;
}

void pack_activations(const ActBlock* x, int64_t x_stride, int64_t T, int64_t nb, PackedActivations& out) {
  out.tiles = T / kTile;
  out.nb = nb;
  if (out.q.size() < static_cast<size_t>(T * nb * 32)) out.q.resize(static_cast<size_t>(T * nb * 32));
  if (out.d.size() < static_cast<size_t>(T * nb)) out.d.resize(static_cast<size_t>(T * nb));
  for (int64_t t = 0; t < out.tiles * kTile; ++t) {
    const int64_t tile = t / kTile, m = t % kTile;
    for (int64_t k = 0; k < nb; ++k) {
      const ActBlock& a = x[t * x_stride + k];
      std::memcpy(out.q.data() + (tile * nb + k) * 512 + m * 32, a.qs, 32);
      out.d[static_cast<size_t>((tile * nb + k) * 16 + m)] = a.d;
    }
  }
}

void matmul(core::DType dt, const uint8_t* w, int64_t row_bytes, int64_t rows, const PackedActivations& x, float* y,
            int64_t y_stride) {
  // Up to kGroups packed row groups (~kGroups x 16 x cols bytes, L2-sized) share each token tile,
  // so a tile's activations come from L1/L2 for all of them.
  constexpr int64_t kGroups = 4;
  thread_local Packed packed[kGroups];
  load_tile_config();
  const int64_t nb = x.nb;
  for (int64_t r0 = 0; r0 < rows; r0 += kGroups * kTile) {
    const int64_t groups = std::min<int64_t>(kGroups, (rows - r0) / kTile);
    for (int64_t g = 0; g < groups; ++g) pack(dt, w + (r0 + g * kTile) * row_bytes, row_bytes, nb, packed[g]);
    for (int64_t t = 0; t < x.tiles; ++t) {
      const int8_t* xq = x.q.data() + t * nb * 512;
      const float* xd = x.d.data() + t * nb * 16;
      for (int64_t g = 0; g < groups; ++g) tile(packed[g], nb, xq, xd, y + t * kTile * y_stride + r0 + g * kTile, y_stride);
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

bool supports(core::DType t) { return t == core::DType::kQ8_0 || t == core::DType::kQ4_0; }

}  // namespace whale::kernels::amx
