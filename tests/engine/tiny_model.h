// The engine tests' shared fixture: a tiny random DeepSeek-V3 checkpoint (weights and tokenizer)
// written once per test suite, and the oracle: greedy decoding straight through model::forward.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace whale::engine {

class TinyModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    dir_ = (fs::temp_directory_path() / ("whale_engine_" + std::to_string(::getpid()))).string();
    model::RandomCheckpointOptions o;
    o.progress = false;
    o.weight_std = 0.08f;
    write_random_checkpoint(model::find_preset("tiny-deepseek-v3").args, dir_, o);
    w_ = new model::Weights(model::load_weights(dir_));
    tok_ = new tokenizer::Tokenizer(tokenizer::Tokenizer::from_dir(dir_));
  }
  static void TearDownTestSuite() {
    delete w_;
    delete tok_;
    w_ = nullptr;
    tok_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  // Greedy continuation computed directly with the model on a contiguous cache (no engine).
  static std::vector<int32_t> oracle(const std::vector<int32_t>& prompt, int64_t n) {
    core::ThreadPool pool(1);
    model::ContiguousKvCache cache(w_->args, 1, 256);
    model::Scratch s;
    model::ForwardOutput out;
    model::Batch b;
    for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0);
    std::vector<int32_t> gen;
    model::forward(*w_, b, cache, {}, s, pool, out);
    const int64_t V = w_->args.vocab_size;
    for (int64_t i = 0; i < n; ++i) {
      const float* l = out.logits.data() + (static_cast<int64_t>(out.logits.size()) / V - 1) * V;
      const int32_t t = static_cast<int32_t>(std::max_element(l, l + V) - l);
      gen.push_back(t);
      b = {};
      b.add(t, static_cast<int32_t>(prompt.size() + i), 0);
      model::forward(*w_, b, cache, {}, s, pool, out);
    }
    return gen;
  }

  // A prompt of n tokens starting with BOS-like 256; `seed` makes prompts differ.
  static std::vector<int32_t> prompt_of(int n, int seed) {
    std::vector<int32_t> p = {256};
    for (int i = 1; i < n; ++i) p.push_back(static_cast<int32_t>((i * 37 + seed * 101) % 250 + 1));
    return p;
  }

  static inline std::string dir_;
  static inline model::Weights* w_ = nullptr;
  static inline tokenizer::Tokenizer* tok_ = nullptr;
};

}  // namespace whale::engine
