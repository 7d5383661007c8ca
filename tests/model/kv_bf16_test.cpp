// The bf16 KV cache (the default): rows rounded once to nearest even at write, half the bytes of
// f32; a forward pass over it stays close to the f32 cache's, greedy tokens of the tiny presets do
// not move, and a position gets the same bits in prefill, decode and either MLA path's own mode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/convert.h"
#include "core/error.h"
#include "model/forward.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

namespace whale::model {
namespace {

namespace fs = std::filesystem;
using core::DType;

TEST(KvCache, Bf16StoreRoundsToNearestEvenAndLoadWidens) {
  const formats::ModelArgs a = find_preset("tiny-qwen2").args;
  ContiguousKvCache b16(a, 2, 5), f32(a, 2, 5, DType::kF32);
  EXPECT_EQ(b16.dtype(), DType::kBF16);
  EXPECT_EQ(f32.bytes(), 2 * b16.bytes());
  EXPECT_EQ(b16.bytes(), kv_layers(a) * 2 * 5 * kv_row_width(a) * 2);
  // 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7: ties to the even 1. 1 + 3·2^-8 ties up to
  // 1 + 2^-6; 1 + 2^-8 + 2^-20 is past halfway: up to 1 + 2^-7.
  const float x[4] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -3.0f};
  const float want[4] = {1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -3.0f};
  b16.store(1, 1, 4, 7, x, 4);
  f32.store(1, 1, 4, 7, x, 4);
  float back[4];
  b16.load(1, 1, 4, 7, back, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(back[i], want[i]) << i;
    EXPECT_EQ(b16.row_bf16(1, 1, 4)[7 + i], core::f32_to_bf16(x[i])) << i;
    EXPECT_EQ(f32.row(1, 1, 4)[7 + i], x[i]) << i;  // f32 keeps every bit
  }
  EXPECT_THROW(b16.row(0, 0, 0), Error);  // the typed view of the other type is an error
  EXPECT_THROW(f32.row_bf16(0, 0, 0), Error);
}

TEST(KvCache, TypeNames) {
  EXPECT_EQ(kv_type_from_name("bf16"), DType::kBF16);
  EXPECT_EQ(kv_type_from_name("f32"), DType::kF32);
  try {
    kv_type_from_name("f16");
    FAIL() << "f16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16, f32"), std::string::npos) << e.what();
  }
}

class KvBf16Test : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("whale_kv16_" + GetParam() + "_" + std::to_string(::getpid()))).string();
    RandomCheckpointOptions o;
    o.progress = false;
    o.weight_std = 0.08f;  // as forward_test: attention patterns that are not flat
    write_random_checkpoint(find_preset(GetParam()).args, dir_, o);
    w_ = load_weights(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Logits of every position: one prefill, or token by token.
  std::vector<float> logits(const std::vector<int32_t>& tokens, DType kv, MlaMode mla, bool step) {
    return logits_with(w_, tokens, kv, mla, step);
  }
  std::vector<float> logits_with(const Weights& w, const std::vector<int32_t>& tokens, DType kv, MlaMode mla,
                                 bool step) {
    ContiguousKvCache cache(w.args, 1, 64, kv);
    ForwardOutput out;
    std::vector<float> all;
    for (size_t i = 0; i < tokens.size();) {
      Batch b;
      for (size_t e = step ? i + 1 : tokens.size(); i < e; ++i) b.add(tokens[i], static_cast<int32_t>(i), 0);
      forward(w, b, cache, {.mla = mla}, scratch_, pool_, out);
      all.insert(all.end(), out.logits.begin(), out.logits.end());
    }
    return all;
  }

  // Greedy continuation of `prompt` for n tokens (prefill, then absorbed-MLA decode as the engine does).
  std::vector<int32_t> greedy(const std::vector<int32_t>& prompt, int n, DType kv) {
    ContiguousKvCache cache(w_.args, 1, 64, kv);
    ForwardOutput out;
    Batch b;
    for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0);
    const int32_t last = static_cast<int32_t>(prompt.size()) - 1;
    forward(w_, b, cache, {.mla = MlaMode::kNaive, .logit_rows = {last}}, scratch_, pool_, out);
    std::vector<int32_t> toks;
    for (int s = 0; s < n; ++s) {
      const int32_t t = static_cast<int32_t>(std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin());
      toks.push_back(t);
      Batch d;
      d.add(t, static_cast<int32_t>(prompt.size() + s), 0);
      forward(w_, d, cache, {.mla = MlaMode::kAbsorbed}, scratch_, pool_, out);
    }
    return toks;
  }

  std::string dir_;
  Weights w_;
  Scratch scratch_;
  core::ThreadPool pool_{2};
  const std::vector<int32_t> tokens_ = {256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 7};
};

// bf16 rows (8 significant bits) move the logits by a small fraction of their size: on average by
// under 1% of the mean |logit|, at most by 5% of the largest (a near-tie in an MoE router can flip
// one expert of one token); and the two caches really differ (else bf16 would have been ignored).
// Against the f32 cache's naive path: the bf16 cache on the naive path and, for MLA, on the
// absorbed path, whose latent attention (keys of r + d_rope, values of r) takes the AVX-512 BF16
// kernel where the CPU has it (queries and weights in bf16 too: attention_bf16.h).
TEST_P(KvBf16Test, CloseToTheF32Cache) {
  const std::vector<float> f = logits(tokens_, DType::kF32, MlaMode::kNaive, false);
  std::vector<MlaMode> modes = {MlaMode::kNaive};
  if (w_.args.is_deepseek()) modes.push_back(MlaMode::kAbsorbed);
  for (const MlaMode mode : modes) {
    const std::vector<float> h = logits(tokens_, DType::kBF16, mode, false);
    ASSERT_EQ(f.size(), h.size());
    double spread = 0, diff = 0, mean_abs = 0, mean_diff = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      spread = std::max(spread, std::fabs(double(f[i])));
      diff = std::max(diff, std::fabs(double(f[i]) - h[i]));
      mean_abs += std::fabs(double(f[i])) / static_cast<double>(f.size());
      mean_diff += std::fabs(double(f[i]) - h[i]) / static_cast<double>(f.size());
    }
    const char* path = mode == MlaMode::kNaive ? "naive" : "absorbed";
    EXPECT_GT(diff, 0.0) << "the bf16 cache gave the f32 cache's logits exactly (" << path << ")";
    EXPECT_LT(mean_diff, 0.01 * mean_abs) << "mean |logit| " << mean_abs << " (" << path << ")";
    EXPECT_LT(diff, 0.05 * spread) << "spread " << spread << " (" << path << ")";
    std::printf("bf16 vs f32 KV (%s): mean |diff| %.3g (mean |logit| %.3g), max %.3g (max |logit| %.3g)\n", path,
                mean_diff, mean_abs, diff, spread);
  }
}

TEST_P(KvBf16Test, GreedyTokensMatchTheF32Cache) {
  const std::vector<int32_t> prompt(tokens_.begin(), tokens_.begin() + 6);
  EXPECT_EQ(greedy(prompt, 20, DType::kBF16), greedy(prompt, 20, DType::kF32));
}

// A position's logits are the same bits whether it was prefilled or decoded (each MLA path in its
// own mode) over the bf16 cache, with weights whose kernels are batch-invariant (q8_0, packed.h).
TEST_P(KvBf16Test, PrefillAndDecodeGiveTheSameBits) {
  const Weights q = load_weights(dir_, {.quant = DType::kQ8_0});
  EXPECT_EQ(logits_with(q, tokens_, DType::kBF16, MlaMode::kNaive, false),
            logits_with(q, tokens_, DType::kBF16, MlaMode::kNaive, true));
  if (q.args.is_deepseek()) {
    EXPECT_EQ(logits_with(q, tokens_, DType::kBF16, MlaMode::kAbsorbed, false),
              logits_with(q, tokens_, DType::kBF16, MlaMode::kAbsorbed, true));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, KvBf16Test,
                         ::testing::Values("tiny-deepseek-v3", "tiny-deepseek-v2-lite", "tiny-qwen2", "tiny-llama"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace whale::model
