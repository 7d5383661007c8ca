// token_cost against the matrix sizes written out by hand from each preset's config.
#include <gtest/gtest.h>

#include "core/dtype.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/roofline.h"

namespace whale::model {
namespace {

Weights load(const char* preset) {
  const std::string dir = ::testing::TempDir() + "/whale_roofline_" + preset;
  RandomCheckpointOptions o;
  o.progress = false;
  write_random_checkpoint(find_preset(preset).args, dir, o);
  return load_weights(dir);
}

TEST(TokenCost, DenseGqaCountsEveryMatrixAndTheHead) {
  const Weights w = load("tiny-qwen2");
  const auto& a = w.args;
  const int64_t q = a.num_attention_heads * a.head_dim, kv = a.num_key_value_heads * a.head_dim;
  const int64_t layer = a.hidden_size * (q + 2 * kv) + q * a.hidden_size + 3 * a.hidden_size * a.intermediate_size;
  const int64_t macs = a.num_hidden_layers * layer + a.vocab_size * a.hidden_size;
  const TokenCost c = token_cost(w);
  EXPECT_EQ(c.weight_macs, macs);
  // Every matrix of a random checkpoint has one dtype (f32 for the tiny presets).
  EXPECT_EQ(c.weight_bytes, core::dtype_bytes(w.lm_head.w.dtype(), macs));
}

TEST(TokenCost, MoeCountsTopKRoutedExpertsAndTheSharedOnes) {
  const Weights w = load("tiny-deepseek-v3");
  const auto& a = w.args;
  ASSERT_GT(a.q_lora_rank, 0);
  const int64_t H = a.num_attention_heads, D = a.hidden_size;
  const int64_t mla = a.q_lora_rank * D + H * a.qk_head_dim() * a.q_lora_rank + (a.kv_lora_rank + a.qk_rope_head_dim) * D +
                      H * (a.qk_nope_head_dim + a.v_head_dim) * a.kv_lora_rank + D * H * a.v_head_dim;
  const int64_t expert = 3 * D * a.moe_intermediate_size;
  int64_t macs = a.vocab_size * D;
  for (int64_t i = 0; i < a.num_hidden_layers; ++i) {
    macs += mla;
    macs += a.is_moe_layer(i) ? a.n_routed_experts * D + a.n_shared_experts * expert + a.num_experts_per_tok * expert
                              : 3 * D * a.intermediate_size;
  }
  const TokenCost c = token_cost(w);
  // The routed share is k/n of the experts' sum, rounded per expert.
  EXPECT_NEAR(static_cast<double>(c.weight_macs), static_cast<double>(macs), static_cast<double>(a.n_routed_experts * a.num_hidden_layers));
  EXPECT_GT(a.num_nextn_predict_layers, 0);  // and the MTP module is left out
}

}  // namespace
}  // namespace whale::model
