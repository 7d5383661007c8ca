// linear() throughput per weight dtype and SIMD level at real layer sizes: decode-shaped (T=1) and
// prefill-shaped (T=64, 512) products, 2 threads, against the single-threaded scalar reference;
// q8_0/q4_0 also packed (AVX-512 VNNI over the 16-row layout, and AMX tiles where available).
// Counters: GFLOP/s (2·rows·cols·T per call) and weight GB/s (bytes of W streamed per call).
// Run: kernels_bench [--benchmark_filter=q8_0] [--benchmark_min_time=0.5s]
#include <benchmark/benchmark.h>

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
#include "kernels/cpu_features.h"
#include "kernels/packed.h"
#include "kernels/linear.h"
#include "kernels/linear_ref.h"

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
      if (dt == DType::kF8E4M3) {
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

constexpr int kPacked = 3, kPackedAmx = 4;  // "levels" past avx512: packed weights, AMX off / on

// level < 0: the scalar reference (linear_ref, one thread), the kernel this work replaced.
void run(benchmark::State& state, DType dt, int64_t rows, int64_t cols, int64_t T, int level) {
  static whale::core::ThreadPool pool(2);
  const WeightView& w = level >= kPacked ? packed_weight(dt, rows, cols) : weight(dt, rows, cols);
  whale::kernels::amx::set_enabled(level == kPackedAmx);
  std::vector<float> x(static_cast<size_t>(T * cols)), y(static_cast<size_t>(T * rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = whale::core::normal01(9, i);
  if (level >= 0) whale::kernels::set_simd_level(static_cast<SimdLevel>(level >= kPacked ? 2 : level));
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

}  // namespace

int main(int argc, char** argv) {
  const DType dtypes[] = {DType::kBF16, DType::kF8E4M3, DType::kQ8_0,  DType::kQ4_0,  DType::kQ4_K,  DType::kQ6_K,
                          DType::kQ2_K, DType::kQ3_K,   DType::kQ5_K,  DType::kQ4_1,  DType::kQ5_0,  DType::kQ5_1,
                          DType::kIQ4_NL, DType::kIQ4_XS};
  // Qwen2-1.5B's MLP up-projection, a DeepSeek-V3 expert's up-projection and its dense layers'
  // (larger than any L3 here: decode speed from memory), as [out, in].
  const std::pair<int64_t, int64_t> shapes[] = {{8960, 1536}, {2048, 7168}, {18432, 7168}};
  const int max_level = static_cast<int>(whale::kernels::max_simd_level());
  for (DType dt : dtypes) {
    for (auto [rows, cols] : shapes) {
      for (int64_t T : {int64_t{1}, int64_t{64}, int64_t{512}}) {
        if (rows == 18432 && T > 1) continue;  // the memory-bound shape: decode only
        const bool packable = whale::kernels::packed::group_block_bytes(dt) > 0 && max_level == 2;
        const int top = !packable ? max_level : whale::kernels::amx::available() ? kPackedAmx : kPacked;
        for (int level = T == 512 ? 0 : -1; level <= top; ++level) {
          const std::string lname = level < 0              ? "reference"
                                    : level == kPacked     ? "packed-vnni"
                                    : level == kPackedAmx  ? "packed-amx"
                                                           : std::string(whale::kernels::simd_level_name(static_cast<SimdLevel>(level)));
          const std::string name = std::string(whale::core::dtype_name(dt)) + "/" + std::to_string(rows) + "x" +
                                   std::to_string(cols) + "/T" + std::to_string(T) + "/" + lname;
          benchmark::RegisterBenchmark(name.c_str(), run, dt, rows, cols, T, level)->Unit(benchmark::kMillisecond)->UseRealTime();
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
