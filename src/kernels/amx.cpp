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

// tmm0/1: C (16 x 16 int32), tmm2/3: A (16 tokens x 32 int8), tmm4/5: B (8 x 64 int8); q6_k's
// half blocks: tmm6 A (16 tokens x 16 int8), tmm7 B (4 x 64 int8).
void load_tile_config() {
  TileConfig c;
  for (int t = 0; t < 2; ++t) c.rows[t] = 16, c.colsb[t] = 64;
  for (int t = 2; t < 4; ++t) c.rows[t] = 16, c.colsb[t] = 32;
  for (int t = 4; t < 6; ++t) c.rows[t] = 8, c.colsb[t] = 64;
  c.rows[6] = 16, c.colsb[6] = 16;
  c.rows[7] = 4, c.colsb[7] = 64;
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

// One packed group's B tiles (block k at b + k * b_stride, 8 lines of 64 bytes) and f32 scales
// (q6_k: two per block, one per half; q4_k: m, the f32 mins dmin·m per block).
struct Group {
  const int8_t* b;
  int64_t b_stride;
  const float* d;
  const float* m = nullptr;
};

// Thread-local unpacked copy of a group: nibbles / 6-bit values as signed int8 B tiles, f32 scales.
struct GroupBuffer {
  std::vector<int8_t> b;
  std::vector<float> d, m;
};

// 16 scale bytes as f32.
inline __m512 u8s(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline __m512 i8s(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// q4_k / q6_k groups (packed.h): per super-block, the scales times d (and dmin) in f32 as the
// VNNI kernel forms them, and the values as int8 B tiles (q4_k: the nibbles as they are, q6_k: u - 32).
Group load_group_k(core::DType dt, const uint8_t* g, int64_t nb, GroupBuffer& buf) {
  const bool q6 = dt == core::DType::kQ6_K;
  const size_t scales = static_cast<size_t>(nb * 16 * (q6 ? 2 : 1));
  if (buf.d.size() < scales) buf.d.resize(scales);
  if (!q6 && buf.m.size() < static_cast<size_t>(nb * 16)) buf.m.resize(static_cast<size_t>(nb * 16));
  if (buf.b.size() < static_cast<size_t>(nb * 512)) buf.b.resize(static_cast<size_t>(nb * 512));
  const int64_t sbytes = 8 * packed::group_block_bytes(dt);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3), k32 = _mm512_set1_epi8(32);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * sbytes;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    int8_t* out = buf.b.data() + 512 * 8 * bk;
    if (!q6) {
      const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
      for (int sb = 0; sb < 8; ++sb) {
        _mm512_storeu_ps(buf.d.data() + 16 * (8 * bk + sb), _mm512_mul_ps(dw, u8s(p + 64 + 16 * sb)));
        _mm512_storeu_ps(buf.m.data() + 16 * (8 * bk + sb), _mm512_mul_ps(dm, u8s(p + 192 + 16 * sb)));
      }
      for (int q = 0; q < 4; ++q) {
        for (int c = 0; c < 8; ++c) {
          const __m512i v = _mm512_loadu_si512(p + 320 + 512 * q + 64 * c);
          _mm512_storeu_si512(out + 512 * (2 * q) + 64 * c, _mm512_and_si512(v, m4));
          _mm512_storeu_si512(out + 512 * (2 * q + 1) + 64 * c, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        }
      }
    } else {
      for (int s = 0; s < 16; ++s) {
        _mm512_storeu_ps(buf.d.data() + 16 * (16 * bk + s), _mm512_mul_ps(dw, i8s(p + 64 + 16 * s)));
      }
      for (int q = 0; q < 4; ++q) {
        for (int c = 0; c < 8; ++c) {
          const __m512i v = _mm512_loadu_si512(p + 320 + 512 * q + 64 * c);
          const __m512i hb = _mm512_srli_epi16(_mm512_loadu_si512(p + 2368 + 512 * (q / 2) + 64 * c), 4 * (q & 1));
          const __m512i w0 = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_slli_epi16(_mm512_and_si512(hb, m2), 4));
          const __m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                             _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 2), m2), 4));
          _mm512_storeu_si512(out + 512 * (2 * q) + 64 * c, _mm512_sub_epi8(w0, k32));
          _mm512_storeu_si512(out + 512 * (2 * q + 1) + 64 * c, _mm512_sub_epi8(w1, k32));
        }
      }
    }
  }
  return {buf.b.data(), 512, buf.d.data(), q6 ? nullptr : buf.m.data()};
}

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

// acc[m] -= dmin·m[0..15] · (d_x · Σx)[m]: q4_k's mins, as packed.cpp's group_q4_k.
inline void min_add(const float* dm, const float* xs, __m512* acc) {
  const __m512 w = _mm512_loadu_ps(dm);
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_fnmadd_ps(w, _mm512_set1_ps(xs[m]), acc[m]);
}

// Where a tile call finds blocks [k0, k0 + n) of its group, as a Group indexed from block k0.
// Unpacked: the whole group unpacked once per call of matmul, for all its tiles of tokens.
struct Unpacked {
  Group p;
  int64_t d_per_block;  // f32 scales per block: 16, q6_k 32
  Group operator()(int64_t k0, int64_t) const {
    return {p.b + p.b_stride * k0, p.b_stride, p.d + d_per_block * k0, p.m != nullptr ? p.m + 16 * k0 : nullptr};
  }
};

// Streamed: for one or two tiles of tokens (a decode step of 16-32 streams) there is too little to
// share an unpacked group over, so each run of blocks is unpacked (k-quants: a super-block of 8 at a
// time) into a buffer that stays in L1, just before its products: the packed bytes are read in
// order, and the unpacking overlaps the tile unit's work instead of a group-sized round trip through
// L2 (with two tiles, each unpacks the run again). The same values reach the same instructions, so
// the bits do not change.
struct Streamed {
  core::DType dt;
  const uint8_t* g;  // the packed group
  int64_t gb;        // packed bytes per block
  GroupBuffer* buf;
  mutable Group super_block{};
  static constexpr int64_t kAhead = 2048;

  Group operator()(int64_t k0, int64_t n) const {
    // The tile unit's work leaves the out-of-order window no room to run ahead to the next bytes:
    // fetch them a fixed distance ahead (into the next group at the end of this one).
    const char* c = reinterpret_cast<const char*>(g);
    for (int64_t o = k0 * gb + kAhead, e = (k0 + n) * gb + kAhead; o < e; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
    if (dt == core::DType::kQ4_K || dt == core::DType::kQ6_K) {
      if (k0 % 8 == 0) super_block = load_group_k(dt, g + k0 * gb, 8, *buf);
      return Unpacked{super_block, dt == core::DType::kQ6_K ? 32 : 16}(k0 % 8, n);
    }
    return load_group(dt, g + k0 * gb, n, *buf);
  }
};

// tile() for q4_k (one product per block, then its scale and min) and q6_k (one product per half
// block on tmm6/7, each scaled by its own half's scale): the order of packed.cpp's kernels.
template <class Src>
void tile_k(core::DType dt, const Src& src, int64_t nb, const int8_t* xq, const float* xd, const float* xs, float* y,
            int64_t y_stride, int64_t valid) {
  constexpr int64_t kRun = 4;
  alignas(64) int32_t c[2 * kRun][256];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  const bool q6 = dt == core::DType::kQ6_K;
  for (int64_t k0 = 0; k0 < nb; k0 += kRun) {
    const int64_t n = nb - k0 < kRun ? nb - k0 : kRun;
    const Group r = src(k0, n);
    if (q6) {
      for (int64_t j = 0; j < n; ++j) {
        const int64_t k = k0 + j;
        _tile_zero(0);
        _tile_zero(1);
        _tile_loadd(6, xq + 512 * k, 32);
        _tile_loadd(7, r.b + 512 * j, 64);
        _tile_dpbssd(0, 6, 7);
        _tile_loadd(6, xq + 512 * k + 16, 32);
        _tile_loadd(7, r.b + 512 * j + 256, 64);
        _tile_dpbssd(1, 6, 7);
        _tile_stored(0, c[2 * j], 64);
        _tile_stored(1, c[2 * j + 1], 64);
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t k = k0 + j;
        scale_add(c[2 * j], r.d + 32 * j, xd + 16 * k, acc);
        scale_add(c[2 * j + 1], r.d + 32 * j + 16, xd + 16 * k, acc);
      }
      continue;
    }
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, r.b + 512 * j, 64);
      _tile_loadd(3, xq + 512 * (k + 1), 32);
      _tile_loadd(5, r.b + 512 * (j + 1), 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, c[j], 64);
      _tile_stored(1, c[j + 1], 64);
    }
    if (j < n) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, r.b + 512 * j, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, c[j], 64);
    }
    for (j = 0; j < n; ++j) {
      scale_add(c[j], r.d + 16 * j, xd + 16 * (k0 + j), acc);
      min_add(r.m + 16 * j, xs + 16 * (k0 + j), acc);
    }
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

// One tile of 16 tokens (its packed activations: nb blocks of 512 bytes, nb x 16 scales) times
// one packed group of 16 rows, written to y. Blocks go in runs of kRun: the tile products of a
// run first (two C tiles alternating, results stored to L1), then the f32 scaling of the run.
template <class Src>
void tile(const Src& src, int64_t nb, const int8_t* xq, const float* xd, float* y, int64_t y_stride, int64_t valid) {
  constexpr int64_t kRun = 8;
  alignas(64) int32_t c[kRun][256];
  __m512 acc[16];  // stays in registers: every loop over it is fully unrolled
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < nb; k0 += kRun) {
    const int64_t n = nb - k0 < kRun ? nb - k0 : kRun;
    const Group r = src(k0, n);
    const int8_t* b = r.b;
    const int64_t bs = r.b_stride;
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + bs * j, 64);
      _tile_loadd(3, xq + 512 * (k + 1), 32);
      _tile_loadd(5, b + bs * (j + 1), 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, c[j], 64);
      _tile_stored(1, c[j + 1], 64);
    }
    if (j < n) {
      const int64_t k = k0 + j;
      _tile_zero(0);
      _tile_loadd(2, xq + 512 * k, 32);
      _tile_loadd(4, b + bs * j, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, c[j], 64);
    }
    for (j = 0; j < n; ++j) scale_add(c[j], r.d + 16 * j, xd + 16 * (k0 + j), acc);
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
  if (out.s.size() < need) out.s.resize(need);
  for (int64_t t = 0; t < out.tiles * kTile; ++t) {
    const int64_t tile = t / kTile, m = t % kTile;
    for (int64_t k = 0; k < nb; ++k) {
      int8_t* q = out.q.data() + (tile * nb + k) * 512 + m * 32;
      const size_t i = static_cast<size_t>((tile * nb + k) * 16 + m);
      if (t < T) {
        const ActBlock& a = x[t * x_stride + k];
        std::memcpy(q, a.qs, 32);
        out.d[i] = a.d;
        out.s[i] = a.d * static_cast<float>(a.sum);
      } else {  // padding rows of the last tile: zeros, never stored
        std::memset(q, 0, 32);
        out.d[i] = out.s[i] = 0.0f;
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
  const bool k_quant = dt == core::DType::kQ4_K || dt == core::DType::kQ6_K;
  if (x.tiles <= 2) {
    for (int64_t g = g0; g < g1; ++g) {
      for (int64_t t = 0; t < x.tiles; ++t) {
        const Streamed src{dt, packed_w + g * nb * gb, gb, &buffers[0]};
        const int8_t* xq = x.q.data() + t * nb * 512;
        const float* xd = x.d.data() + t * nb * 16;
        float* yt = y + t * kTile * y_stride + g * kTile;
        const int64_t valid = std::min<int64_t>(kTile, x.T - t * kTile);
        if (k_quant) {
          tile_k(dt, src, nb, xq, xd, x.s.data() + t * nb * 16, yt, y_stride, valid);
        } else {
          tile(src, nb, xq, xd, yt, y_stride, valid);
        }
      }
    }
    return;
  }
  for (int64_t r0 = g0; r0 < g1; r0 += kGroups) {
    const int64_t groups = std::min<int64_t>(kGroups, g1 - r0);
    Group grp[kGroups];
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t* pg = packed_w + (r0 + g) * nb * gb;
      grp[g] = k_quant ? load_group_k(dt, pg, nb, buffers[g]) : load_group(dt, pg, nb, buffers[g]);
    }
    for (int64_t t = 0; t < x.tiles; ++t) {
      const int8_t* xq = x.q.data() + t * nb * 512;
      const float* xd = x.d.data() + t * nb * 16;
      const int64_t valid = std::min<int64_t>(kTile, x.T - t * kTile);
      for (int64_t g = 0; g < groups; ++g) {
        float* yg = y + t * kTile * y_stride + (r0 + g) * kTile;
        if (k_quant) {
          tile_k(dt, Unpacked{grp[g], dt == core::DType::kQ6_K ? 32 : 16}, nb, xq, xd, x.s.data() + t * nb * 16, yg,
                 y_stride, valid);
        } else {
          tile(Unpacked{grp[g], 16}, nb, xq, xd, yg, y_stride, valid);
        }
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
