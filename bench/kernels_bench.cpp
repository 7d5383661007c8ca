// linear() throughput per weight dtype and SIMD level at real layer sizes: decode-shaped (T=1) and
// prefill-shaped (T=64, 512) products, 2 threads, against the single-threaded scalar reference;
// the packed types also packed (AVX-512 VNNI over the 16-row layout, AMX tiles where available, and
// the avx2 level's kernel over the same layout).
// Counters: GFLOP/s (2·rows·cols·T per call) and weight GB/s (bytes of W streamed per call).
// Run: kernels_bench [--benchmark_filter=q8_0] [--benchmark_min_time=0.5s]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/random.h"
#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/attention_work.h"
#include "kernels/cpu_features.h"
#include "kernels/linear.h"
#include "kernels/linear_ref.h"
#include "kernels/packed.h"

namespace {

using whale::core::DType;
using whale::kernels::SimdLevel;
using whale::kernels::WeightView;

// Weights are built once per (dtype, shape) and kept: quantizing 14M values takes seconds.
const WeightView& weight(DType dt, int64_t rows, int64_t cols) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::unique_ptr<WeightView>> cache;
  auto& slot = cache[{dt, rows, cols}];
  if (!slot) {
    slot = std::make_unique<WeightView>();
    WeightView& v = *slot;
    v.w = whale::core::Tensor::empty(dt, whale::core::Shape{rows, cols});
    std::vector<float> row(static_cast<size_t>(cols));
    std::vector<float> all;
    if (dt == DType::kF8E4M3) all.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) row[c] = 0.02f * whale::core::normal01(7, static_cast<uint64_t>(r * cols + c));
      if (!whale::core::can_quantize(dt) && whale::core::dtype_info(dt).is_block_quant) {
        // iq2_xxs / iq1_s (read-only types): random blocks, every byte valid but the f16 scale, set small.
        auto* p = static_cast<uint8_t*>(v.w.raw()) + whale::core::dtype_bytes(dt, r * cols);
        const int64_t n = whale::core::dtype_bytes(dt, cols), bb = whale::core::dtype_info(dt).block_bytes;
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(whale::core::splitmix64(static_cast<uint64_t>(r * n + i)));
        const uint16_t d = whale::core::f32_to_f16(0.002f);
        for (int64_t b = 0; b < n; b += bb) std::memcpy(p + b, &d, 2);
      } else if (dt == DType::kF8E4M3) {
        std::copy(row.begin(), row.end(), all.begin() + r * cols);
      } else {
        whale::core::convert_row(DType::kF32, row.data(), dt,
                                 static_cast<char*>(v.w.raw()) + whale::core::dtype_bytes(dt, r * cols), cols);
      }
    }
    if (dt == DType::kF8E4M3) {
      v.scale_inv = whale::core::Tensor::empty(DType::kF32, whale::core::Shape{(rows + 127) / 128, (cols + 127) / 128});
      whale::core::quantize_fp8_blocks(all.data(), rows, cols, v.w.data<uint8_t>(), v.scale_inv.data<float>());
    }
  }
  return *slot;
}

// The packed copy of weight(dt, rows, cols).
const WeightView& packed_weight(DType dt, int64_t rows, int64_t cols) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::unique_ptr<WeightView>> cache;
  auto& slot = cache[{dt, rows, cols}];
  if (!slot) {
    slot = std::make_unique<WeightView>(weight(dt, rows, cols));
    slot->packed = whale::kernels::packed::pack(*slot);
  }
  return *slot;
}

// "Levels" past avx512: packed weights on the avx512 level with AMX off / on, and on the avx2 level.
constexpr int kPacked = 3, kPackedAmx = 4, kPackedAvx2 = 5;

// level < 0: the scalar reference (linear_ref, one thread), the kernel this work replaced.
void run(benchmark::State& state, DType dt, int64_t rows, int64_t cols, int64_t T, int level) {
  static whale::core::ThreadPool pool(2);
  const WeightView& w = level >= kPacked ? packed_weight(dt, rows, cols) : weight(dt, rows, cols);
  whale::kernels::amx::set_enabled(level == kPackedAmx);
  std::vector<float> x(static_cast<size_t>(T * cols)), y(static_cast<size_t>(T * rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = whale::core::normal01(9, i);
  if (level >= 0) {
    whale::kernels::set_simd_level(static_cast<SimdLevel>(level == kPackedAvx2 ? 1 : level >= kPacked ? 2 : level));
  }
  const whale::kernels::LinearArgs a{.x = x.data(), .T = T, .x_stride = cols, .y = y.data(), .y_stride = rows};
  for (auto _ : state) {
    if (level < 0) {
      whale::kernels::linear_ref(w, a);
    } else {
      whale::kernels::linear(w, a, &pool);
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double calls = static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * cols * T * calls / 1e9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(whale::core::dtype_bytes(dt, rows * cols)) * calls / 1e9, benchmark::Counter::kIsRate);
}

// One layer's attention over a bf16 cache at depth n, as a decode step (T = 1) or a chunk of T
// tokens at the end of the cache sees it: `sets` sets (KV heads) of `q_per_set` queries per token
// (GQA: heads per KV head; MLA absorbed: all heads over the shared latent), keys of d and values of
// dv per row. Each call takes the next of kLayers caches, as a decode step goes from layer to layer
// (together they pass the L3 cache, so the rows come from memory as at real depth). Counters:
// GMAC/s of the score and value products (sets · q · T · n · (d + dv)), GB/s of rows read.
void attention(benchmark::State& state, int64_t sets, int64_t q_per_set, int64_t d, int64_t dv, bool shared_kv,
               int64_t n, int64_t T) {
  static whale::core::ThreadPool pool(2);
  whale::kernels::set_simd_level(whale::kernels::max_simd_level());
  const int64_t width = shared_kv ? d : d + dv;  // MLA: values are the first dv of the key row
  constexpr int64_t kLayers = 8;
  const int64_t layer_values = sets * n * width;
  std::vector<uint16_t> cache(static_cast<size_t>(kLayers * layer_values));
  for (size_t i = 0; i < cache.size(); ++i) {
    const float v = whale::core::normal01(11, i);
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    cache[i] = static_cast<uint16_t>(u >> 16);
  }
  std::vector<float> q(static_cast<size_t>(sets * q_per_set * T * d)),
      out(static_cast<size_t>(sets * q_per_set * T * dv));
  for (size_t i = 0; i < q.size(); ++i) q[i] = whale::core::normal01(13, i);
  std::vector<std::vector<const uint16_t*>> rows(static_cast<size_t>(kLayers * sets));
  for (int64_t l = 0; l < kLayers; ++l) {
    for (int64_t s = 0; s < sets; ++s) {
      for (int64_t j = 0; j < n; ++j) {
        rows[static_cast<size_t>(l * sets + s)].push_back(cache.data() + l * layer_values + (s * n + j) * width);
      }
    }
  }
  whale::kernels::AttentionWork work;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  int64_t layer = 0;
  for (auto _ : state) {
    work.clear();
    for (int64_t s = 0; s < sets; ++s) {
      const size_t set = work.add_set(rows[static_cast<size_t>(layer * sets + s)], 0, shared_kv ? 0 : d, d, dv, scale);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t i = 0; i < q_per_set; ++i) {
          const int64_t k = (s * T + t) * q_per_set + i;
          work.add_query(set, q.data() + k * d, n - T + 1 + t, out.data() + k * dv);
        }
      }
    }
    work.run(pool);
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % kLayers;
  }
  const double macs = static_cast<double>(sets * q_per_set * T) * static_cast<double>(n) * static_cast<double>(d + dv);
  state.counters["GMAC/s"] =
      benchmark::Counter(macs * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(layer_values * 2) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  const DType dtypes[] = {DType::kBF16, DType::kF8E4M3, DType::kQ8_0,  DType::kQ4_0,  DType::kQ4_K,  DType::kQ6_K,
                          DType::kQ2_K, DType::kQ3_K,   DType::kQ5_K,  DType::kQ4_1,  DType::kQ5_0,  DType::kQ5_1,
                          DType::kIQ4_NL, DType::kIQ4_XS, DType::kIQ2_XXS, DType::kIQ1_S};
  // Qwen2-1.5B's MLP up-projection, a DeepSeek-V3 expert's up-projection and its dense layers'
  // (larger than any L3 here: decode speed from memory), as [out, in].
  const std::pair<int64_t, int64_t> shapes[] = {{8960, 1536}, {2048, 7168}, {18432, 7168}};
  const int max_level = static_cast<int>(whale::kernels::max_simd_level());
  for (DType dt : dtypes) {
    for (auto [rows, cols] : shapes) {
      for (int64_t T : {int64_t{1}, int64_t{64}, int64_t{512}}) {
        if (rows == 18432 && T > 1) continue;  // the memory-bound shape: decode only
        std::vector<int> levels;
        for (int level = T == 512 ? 0 : -1; level <= max_level; ++level) levels.push_back(level);
        if (whale::kernels::packed::group_block_bytes(dt) > 0 && max_level >= 1) {
          if (max_level == 2) levels.push_back(kPacked);
          if (max_level == 2 && whale::kernels::amx::available()) levels.push_back(kPackedAmx);
          levels.push_back(kPackedAvx2);
        }
        for (int level : levels) {
          const std::string lname = level < 0             ? "reference"
                                    : level == kPacked    ? "packed-vnni"
                                    : level == kPackedAmx ? "packed-amx"
                                    : level == kPackedAvx2
                                        ? "packed-avx2"
                                        : std::string(whale::kernels::simd_level_name(static_cast<SimdLevel>(level)));
          const std::string name = std::string(whale::core::dtype_name(dt)) + "/" + std::to_string(rows) + "x" +
                                   std::to_string(cols) + "/T" + std::to_string(T) + "/" + lname;
          benchmark::RegisterBenchmark(name.c_str(), run, dt, rows, cols, T, level)->Unit(benchmark::kMillisecond)->UseRealTime();
        }
      }
    }
  }
  // Attention at depth 8192 over a bf16 cache: R1-Distill-Qwen-1.5B (2 KV heads of 6 queries,
  // d = dv = 128) and DeepSeek-V2-Lite's absorbed MLA (16 heads over the 576-wide latent, values
  // its first 512), a decode step and a 64-token chunk.
  for (int64_t T : {int64_t{1}, int64_t{64}}) {
    const std::string t = "/n8192/T" + std::to_string(T);
    benchmark::RegisterBenchmark(("attention/qwen-gqa" + t).c_str(), attention, 2, 6, 128, 128, false, 8192, T)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("attention/mla-v2-lite" + t).c_str(), attention, 1, 16, 576, 512, true, 8192, T)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
