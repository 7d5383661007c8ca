// `whale bench MODEL --spec mtp|off [--spec-k N] [--spec-oracle P]`: speculative decoding against
// plain decoding in the same run, through the engine (greedy, random prompt ids).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.h"

namespace whale::cli {

struct SpecBenchOptions {
  std::string spec = "mtp";  // mtp, draft (with `draft`) or off (off: the oracle drafts alone)
  const model::Weights* draft = nullptr;
  int32_t k = 1;
  double oracle = -1;        // >= 0: drafts replay the plain greedy continuation, each right with this probability
  int64_t prompt = 64, gen = 128;
  int reps = 3, threads = 0;
  std::string kv_type = "bf16", quant = "keep";
};

// "mean ± sd" (sample sd) with two decimals, as llama-bench prints rates (bench.cpp).
std::string mean_sd(const std::vector<double>& v);

void bench_speculative(const model::Weights& w, const SpecBenchOptions& o);

}  // namespace whale::cli
