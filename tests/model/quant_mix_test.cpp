// llama-quantize's per-tensor mix rules against hand-computed plans (the full cross-check against
// llama-quantize itself is tests/llamacpp/quant_mix.sh): use_more_bits layers, output and tied
// embeddings, block fallbacks, MoE layers from names, the 70B and 8-expert special cases.
#include "model/quant_mix.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "../error_of.h"

namespace whale::model {
namespace {

// A dense model: per layer attn_norm, q, k, v, output, ffn gate/up/down (rows of `hidden`/`ff`).
std::vector<MixTensor> dense(int layers, int64_t hidden, int64_t kv, int64_t ff, bool output) {
  std::vector<MixTensor> t = {{"token_embd.weight", core::Shape{512, hidden}, "f32"}};
  if (output) t.push_back({"output.weight", core::Shape{512, hidden}, "f32"});
  t.push_back({"output_norm.weight", core::Shape{hidden}, "f32"});
  for (int i = 0; i < layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", core::Shape{hidden}, "f32"});
    t.push_back({b + "attn_q.weight", core::Shape{hidden, hidden}, "f16"});
    t.push_back({b + "attn_k.weight", core::Shape{kv, hidden}, "f16"});
    t.push_back({b + "attn_v.weight", core::Shape{kv, hidden}, "f16"});
    t.push_back({b + "attn_output.weight", core::Shape{hidden, hidden}, "f16"});
    t.push_back({b + "ffn_gate.weight", core::Shape{ff, hidden}, "f16"});
    t.push_back({b + "ffn_up.weight", core::Shape{ff, hidden}, "f16"});
    t.push_back({b + "ffn_down.weight", core::Shape{hidden, ff}, "f16"});
  }
  return t;
}

std::map<std::string, std::string> plan(const char* mix, const MixModel& m, const std::vector<MixTensor>& t) {
  const std::vector<std::string> types = plan_quant_mix(*find_quant_mix(mix), m, t);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < t.size(); ++i) out[t[i].name] = types[i];
  return out;
}

TEST(QuantMix, Q4KMGivesUseMoreBitsLayersQ6KInAnEightLayerModel) {
  const MixModel m{"qwen2", 8, 12, 2, 0};
  const auto p = plan("Q4_K_M", m, dense(8, 1536, 256, 8960, true));
  // use_more_bits(i, 8): i < 1, i >= 7, or (i - 1) % 3 == 2 -> layers 0, 3, 6, 7.
  for (int i = 0; i < 8; ++i) {
    const bool more = i == 0 || i == 3 || i == 6 || i == 7;
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(p.at(b + "attn_v.weight"), more ? "q6_K" : "q4_K") << i;
    EXPECT_EQ(p.at(b + "ffn_down.weight"), more ? "q6_K" : "q4_K") << i;
    EXPECT_EQ(p.at(b + "attn_q.weight"), "q4_K");
    EXPECT_EQ(p.at(b + "ffn_up.weight"), "q4_K");
    EXPECT_EQ(p.at(b + "attn_norm.weight"), "f32");
  }
  EXPECT_EQ(p.at("output.weight"), "q6_K");
  EXPECT_EQ(p.at("token_embd.weight"), "q4_K");  // not tied: the mix's own type
}

TEST(QuantMix, RowsThatAreNotWholeBlocksFallBack) {
  const MixModel m{"llama", 2, 4, 2, 0};
  // Rows of 64: q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, q3_K/q2_K -> q4_0; output -> q8_0.
  auto p = plan("Q4_K_S", m, dense(2, 64, 32, 160, true));
  EXPECT_EQ(p.at("blk.1.attn_q.weight"), "q5_0");
  EXPECT_EQ(p.at("blk.1.ffn_down.weight"), "q5_0");  // rows of 160 = 5 blocks of 32
  EXPECT_EQ(p.at("output.weight"), "q8_0");
  EXPECT_EQ(plan("Q5_K_S", m, dense(2, 64, 32, 160, true)).at("blk.1.attn_q.weight"), "q5_1");
  EXPECT_EQ(plan("Q6_K", m, dense(2, 64, 32, 160, true)).at("blk.1.attn_q.weight"), "q8_0");
  EXPECT_EQ(plan("Q3_K_S", m, dense(2, 64, 32, 160, true)).at("blk.1.attn_q.weight"), "q4_0");
  // Rows of 48 are not whole 32-blocks either: f16.
  p = plan("Q4_K_M", m, dense(2, 48, 48, 96, true));
  EXPECT_EQ(p.at("blk.0.attn_q.weight"), "f16");
  EXPECT_EQ(p.at("blk.0.ffn_down.weight"), "q5_0");  // rows of 96 = 3 blocks of 32
}

TEST(QuantMix, TiedEmbeddingsTakeTheOutputRule) {
  const MixModel m{"qwen2", 2, 12, 2, 0};
  EXPECT_EQ(plan("Q4_K_M", m, dense(2, 256, 256, 512, false)).at("token_embd.weight"), "q6_K");
  EXPECT_EQ(plan("Q8_0", m, dense(2, 256, 256, 512, false)).at("token_embd.weight"), "q8_0");
  EXPECT_EQ(plan("Q4_0", m, dense(2, 256, 256, 512, true)).at("output.weight"), "q6_K");
  EXPECT_EQ(plan("Q4_0", m, dense(2, 256, 256, 512, true)).at("token_embd.weight"), "q4_0");
}

TEST(QuantMix, Q3KMAndQ2KRules) {
  const MixModel m{"llama", 16, 32, 8, 0};  // n_gqa 4
  const auto p = plan("Q3_K_M", m, dense(16, 256, 256, 512, true));
  EXPECT_EQ(p.at("blk.0.attn_v.weight"), "q5_K");  // the first two attn_v
  EXPECT_EQ(p.at("blk.1.attn_v.weight"), "q5_K");
  EXPECT_EQ(p.at("blk.2.attn_v.weight"), "q4_K");
  EXPECT_EQ(p.at("blk.0.ffn_down.weight"), "q5_K");  // i < n/16
  EXPECT_EQ(p.at("blk.1.ffn_down.weight"), "q4_K");
  EXPECT_EQ(p.at("blk.5.attn_output.weight"), "q4_K");
  EXPECT_EQ(p.at("blk.5.attn_q.weight"), "q3_K");
  const auto q2 = plan("Q2_K", m, dense(16, 256, 256, 512, true));
  EXPECT_EQ(q2.at("blk.5.attn_v.weight"), "q4_K");  // n_gqa >= 4
  EXPECT_EQ(q2.at("blk.5.ffn_down.weight"), "q3_K");
  EXPECT_EQ(q2.at("blk.5.attn_output.weight"), "q3_K");
  EXPECT_EQ(q2.at("blk.5.ffn_up.weight"), "q2_K");
  EXPECT_EQ(plan("Q2_K", MixModel{"llama", 16, 32, 32, 0}, dense(16, 256, 256, 512, true)).at("blk.5.attn_v.weight"),
            "q3_K");
}

TEST(QuantMix, SeventyBModelsGiveAttnVFiveBits) {
  // llama.cpp's LLM_TYPE_70B: qwen2 with 80 layers, llama with 80 layers and GQA.
  EXPECT_EQ(plan("Q3_K_M", MixModel{"qwen2", 80, 12, 2, 0}, dense(80, 256, 256, 512, true)).at("blk.9.attn_v.weight"), "q5_K");
  EXPECT_EQ(plan("Q3_K_M", MixModel{"llama", 80, 64, 64, 0}, dense(80, 256, 256, 512, true)).at("blk.9.attn_v.weight"), "q4_K");
  EXPECT_EQ(plan("Q3_K_M", MixModel{"qwen2", 79, 12, 2, 0}, dense(79, 256, 256, 512, true)).at("blk.9.attn_v.weight"), "q4_K");
}

TEST(QuantMix, ExpertsTakeTheirLayerFromTheNameAndRoutersAndNormsStay) {
  // 8 layers, listed backwards: MoE models read the layer of ffn_down from the name.
  std::vector<MixTensor> t = {{"token_embd.weight", core::Shape{512, 256}, "f32"},
                              {"output.weight", core::Shape{512, 256}, "f32"}};
  for (int i = 7; i >= 0; --i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "ffn_down_exps.weight", core::Shape{16, 256, 512}, "f16"});
    t.push_back({b + "ffn_gate_inp.weight", core::Shape{16, 256}, "f32"});
    t.push_back({b + "attn_kv_a_norm.weight", core::Shape{256}, "f32"});
    t.push_back({b + "attn_k_b.weight", core::Shape{16, 512, 128}, "f16"});
  }
  const auto p = plan("Q4_K_M", MixModel{"deepseek2", 8, 16, 1, 16}, t);
  EXPECT_EQ(p.at("blk.0.ffn_down_exps.weight"), "q6_K");
  EXPECT_EQ(p.at("blk.1.ffn_down_exps.weight"), "q4_K");
  EXPECT_EQ(p.at("blk.3.ffn_down_exps.weight"), "q6_K");
  EXPECT_EQ(p.at("blk.7.ffn_down_exps.weight"), "q6_K");
  EXPECT_EQ(p.at("blk.2.ffn_gate_inp.weight"), "f32");
  EXPECT_EQ(p.at("blk.2.attn_kv_a_norm.weight"), "f32");
  EXPECT_EQ(p.at("blk.2.attn_k_b.weight"), "q5_0");  // rows of qk_nope_head_dim 128
  // 8 experts: attn_output gets q5_K in Q4_K_M.
  std::vector<MixTensor> e = {{"blk.0.attn_output.weight", core::Shape{256, 256}, "f16"},
                              {"blk.0.attn_k.weight", core::Shape{256, 256}, "f16"}};
  const auto p8 = plan("Q4_K_M", MixModel{"llama", 1, 8, 8, 8}, e);
  EXPECT_EQ(p8.at("blk.0.attn_output.weight"), "q5_K");
  EXPECT_EQ(p8.at("blk.0.attn_k.weight"), "q8_0");
  // An expert tensor whose name has no layer below block_count is an error naming it.
  std::vector<MixTensor> bad = {{"blk.9.ffn_down_exps.weight", core::Shape{16, 256, 512}, "f16"}};
  EXPECT_NE(testing::error_of([&] { plan("Q4_K_M", MixModel{"deepseek2", 8, 16, 1, 16}, bad); }).find("blk.9.ffn_down_exps"),
            std::string::npos);
}

TEST(QuantMix, NamesAreLlamaQuantizes) {
  EXPECT_EQ(find_quant_mix("Q4_K_M")->file_type, 15u);
  EXPECT_EQ(find_quant_mix("Q4_K_M")->default_type, "q4_K");
  EXPECT_EQ(find_quant_mix("Q6_K")->file_type, 18u);
  EXPECT_EQ(find_quant_mix("q4_k_m"), nullptr);  // lower case names stay single types
  EXPECT_EQ(ggml_block_elems("q5_0"), 32);
  EXPECT_EQ(ggml_block_elems("iq4_xs"), 256);
  EXPECT_EQ(ggml_block_elems("nope"), 0);
}

}  // namespace
}  // namespace whale::model
