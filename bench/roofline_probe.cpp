// The physical limits a speed row is measured against (issue 14): a STREAM-style read bandwidth
// probe and compute peaks (int8 dot products with vpdpbusd, f32 FMA, bf16 dot products), each on
// N threads with independent accumulators, plus the core clock measured by a dependent add chain,
// so each peak is also given per (scalar) cycle; AVX-512 code may run at a lower clock than the
// scalar chain, which shows as fewer operations per cycle than the published throughput.
// Output: one JSON object. Usage: roofline_probe [--threads 2] [--mib 1024] [--seconds 1]
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs fn(thread) on n threads that start together; returns the wall time of the slowest.
template <class Fn>
double run_threads(int n, Fn fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  Clock::time_point t0;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      fn(i);
    });
  }
  while (ready.load() < n) {
  }
  t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  return seconds_since(t0);
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

bool has_flag(const char* flag) {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("flags", 0) == 0) return (line + " ").find(std::string(" ") + flag + " ") != std::string::npos;
  }
  return false;
}

// Sum of a buffer's 64-bit words with 8 independent AVX2 accumulators (AVX2 loads already saturate
// memory; the sum keeps the loads from being optimised away).
__attribute__((target("avx2"))) uint64_t read_sum(const uint8_t* p, size_t n) {
  __m256i acc[8];
  for (auto& a : acc) a = _mm256_setzero_si256();
  for (size_t i = 0; i + 256 <= n; i += 256) {
    for (int k = 0; k < 8; ++k) {
      acc[k] = _mm256_add_epi64(acc[k], _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
    }
  }
  for (int k = 1; k < 8; ++k) acc[0] = _mm256_add_epi64(acc[0], acc[k]);
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), acc[0]);
  return out[0] + out[1] + out[2] + out[3];
}

// Cycles per second from a chain of dependent register adds, one cycle each on x86 cores (an add of
// an immediate would not do: Golden Cove folds chains of those at rename).
double clock_hz(double secs) {
  uint64_t iters = 0, x = 1, one = 1;
  const auto t0 = Clock::now();
  double t = 0;
  do {
    for (int i = 0; i < 1000000; ++i) {
      asm volatile(
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
          : "+r"(x)
          : "r"(one));
    }
    iters += 8000000;
    t = seconds_since(t0);
  } while (t < secs);
  return static_cast<double>(iters) / t;
}

// The loops below keep 12 (8) accumulators in named registers: an array would live on the stack,
// and the store/reload in every iteration (the asm barrier's operands) halves the measured peak.
#define WHALE_ACC12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define WHALE_ACC8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
// An empty asm that claims to read and write a0..a11 in zmm registers: the loop cannot be folded.
#define WHALE_PIN12                                                                                      \
  asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8), \
               "+v"(a9), "+v"(a10), "+v"(a11))

// vpdpbusd on 12 independent zmm accumulators: 64 int8 multiply-adds each.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t vnni512_loop(int64_t iters) {
#define DECL(k) __m512i a##k = _mm512_set1_epi32(k);
  WHALE_ACC12(DECL)
#undef DECL
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(k) a##k = _mm512_dpbusd_epi32(a##k, u, s);
    WHALE_ACC12(STEP)
#undef STEP
    WHALE_PIN12;
  }
#define SUM(k) a0 = k ? _mm512_add_epi32(a0, a##k) : a0;
  WHALE_ACC12(SUM)
#undef SUM
  return _mm512_reduce_add_epi32(a0);
}
constexpr double kVnni512Macs = 12 * 64;

// AVX2 without VNNI: vpmaddubsw + vpmaddwd (the haswell path), 32 int8 multiply-adds per pair.
__attribute__((target("avx2"))) int64_t avx2_int8_loop(int64_t iters) {
#define DECL(k) __m256i a##k = _mm256_set1_epi32(k);
  WHALE_ACC8(DECL)
#undef DECL
  const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(k) a##k = _mm256_add_epi32(a##k, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
    WHALE_ACC8(STEP)
#undef STEP
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
  }
#define SUM(k) a0 = k ? _mm256_add_epi32(a0, a##k) : a0;
  WHALE_ACC8(SUM)
#undef SUM
  return _mm256_extract_epi32(a0, 0);
}
constexpr double kAvx2Int8Macs = 8 * 32;

// f32 FMA on 12 independent zmm accumulators: 16 multiply-adds each.
__attribute__((target("avx512f"))) float fma512_loop(int64_t iters) {
#define DECL(k) __m512 a##k = _mm512_set1_ps(static_cast<float>(k));
  WHALE_ACC12(DECL)
#undef DECL
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, m, c);
    WHALE_ACC12(STEP)
#undef STEP
    WHALE_PIN12;
  }
#define SUM(k) a0 = k ? _mm512_add_ps(a0, a##k) : a0;
  WHALE_ACC12(SUM)
#undef SUM
  return _mm512_reduce_add_ps(a0);
}
constexpr double kFma512Macs = 12 * 16;

// vdpbf16ps on 12 independent zmm accumulators: 32 bf16 multiply-adds each.
__attribute__((target("avx512f,avx512bf16"))) float bf16_loop(int64_t iters) {
#define DECL(k) __m512 a##k = _mm512_set1_ps(static_cast<float>(k));
  WHALE_ACC12(DECL)
#undef DECL
  const __m512bh u = (__m512bh)_mm512_set1_epi16(0x3f80), s = (__m512bh)_mm512_set1_epi16(0x3a83);
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(k) a##k = _mm512_dpbf16_ps(a##k, u, s);
    WHALE_ACC12(STEP)
#undef STEP
    WHALE_PIN12;
  }
#define SUM(k) a0 = k ? _mm512_add_ps(a0, a##k) : a0;
  WHALE_ACC12(SUM)
#undef SUM
  return _mm512_reduce_add_ps(a0);
}
constexpr double kBf16Macs = 12 * 32;

// Multiply-adds per second of `loop` on n threads: iterations sized by a short calibration.
template <class Loop>
double peak(int threads, double secs, double macs_per_iter, Loop loop) {
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    volatile auto sink = loop(iters);
    (void)sink;
    if (seconds_since(t0) > secs / 10) break;
    iters *= 2;
  }
  iters *= 10;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double t = run_threads(threads, [&](int) {
      volatile auto sink = loop(iters);
      (void)sink;
    });
    best = std::max(best, macs_per_iter * static_cast<double>(iters) * threads / t);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  size_t mib = 1024;
  double secs = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::max(1, std::atoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--mib") == 0) {
      mib = static_cast<size_t>(std::max(64, std::atoi(argv[i + 1])));
    } else if (std::strcmp(argv[i], "--seconds") == 0) {
      secs = std::max(0.1, std::atof(argv[i + 1]));
    } else {
      std::fprintf(stderr, "roofline_probe: unknown option %s (known: --threads, --mib, --seconds)\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "roofline_probe: option %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (!__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr, "roofline_probe: needs an x86-64 CPU with AVX2\n");
    return 1;
  }
  // Read bandwidth: each thread streams its own half (first-touched by itself), best of 5 passes.
  const size_t bytes = mib << 20, per = bytes / threads / 256 * 256;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(size_t{2} << 20, bytes));
  if (buf == nullptr) {
    std::fprintf(stderr, "roofline_probe: cannot allocate %zu MiB\n", mib);
    return 1;
  }
  madvise(buf, bytes, MADV_HUGEPAGE);
  run_threads(threads, [&](int t) { std::memset(buf + t * per, t + 1, per); });
  std::atomic<uint64_t> sink{0};
  double read_gbs = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t = run_threads(threads, [&](int i) { sink += read_sum(buf + i * per, per); });
    read_gbs = std::max(read_gbs, static_cast<double>(per) * threads / t / 1e9);
  }
  std::free(buf);

  const double hz = clock_hz(secs / 2);
  const bool vnni512 = has_flag("avx512_vnni") && has_flag("avx512bw");
  const bool bf16 = has_flag("avx512_bf16");
  std::printf("{\"cpu\": \"%s\", \"amx\": %s, \"threads\": %d, \"read_GBps\": %.2f, \"scalar_clock_GHz\": %.3f", cpu_model().c_str(),
              has_flag("amx_int8") ? "true" : "false", threads, read_gbs, hz / 1e9);
  auto report = [&](const char* name, double macs) {
    std::printf(", \"%s_GMACps\": %.1f, \"%s_MACs_per_cycle_per_thread\": %.1f", name, macs / 1e9, name,
                macs / hz / threads);
  };
  report("int8_avx2_maddubs", peak(threads, secs, kAvx2Int8Macs, avx2_int8_loop));
  if (vnni512) report("int8_avx512_vnni", peak(threads, secs, kVnni512Macs, vnni512_loop));
  if (has_flag("avx512f")) report("f32_avx512_fma", peak(threads, secs, kFma512Macs, fma512_loop));
  if (bf16) report("bf16_avx512_dot", peak(threads, secs, kBf16Macs, bf16_loop));
  std::printf("}\n");
  return sink.load() == 42 ? 3 : 0;  // never 42 in practice: keeps the reads observable
}
