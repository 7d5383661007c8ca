// The tensor table against names and shapes from the released DeepSeek-V3, V2-Lite and R1-Distill
// checkpoints (their model.safetensors.index.json) and llama.cpp's GGUF names.
#include "formats/tensor_table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "core/mapped_file.h"

namespace whale::formats {
namespace {

ModelArgs released(const std::string& name) {
  return parse_model_args(core::read_file(std::string(WHALE_TEST_DATA) + "/configs/" + name + ".json"));
}

std::map<std::string, TensorSpec> by_name(const ModelArgs& a) {
  std::map<std::string, TensorSpec> m;
  for (const TensorSpec& s : tensor_table(a)) EXPECT_TRUE(m.emplace(s.name, s).second) << "duplicate " << s.name;
  return m;
}

TEST(TensorTable, DeepseekV3NamesShapesAndFp8) {
  const auto t = by_name(released("deepseek-v3"));
  const auto& kvb = t.at("model.layers.0.self_attn.kv_b_proj.weight");
  EXPECT_EQ(kvb.shape, (core::Shape{128 * (128 + 128), 512}));
  EXPECT_EQ(kvb.dtype, core::DType::kF8E4M3);
  EXPECT_EQ(kvb.gguf_name, "blk.0.attn_kv_b.weight");
  // 32768 x 512 in 128x128 blocks.
  EXPECT_EQ(t.at("model.layers.0.self_attn.kv_b_proj.weight_scale_inv").shape, (core::Shape{256, 4}));
  EXPECT_EQ(t.at("model.layers.0.self_attn.kv_a_proj_with_mqa.weight").shape, (core::Shape{576, 7168}));
  // 576 rows -> ceil(576/128) = 5 block rows, 7168/128 = 56 block cols.
  EXPECT_EQ(t.at("model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv").shape, (core::Shape{5, 56}));
  EXPECT_EQ(t.at("model.layers.0.self_attn.q_b_proj.weight").shape, (core::Shape{128 * 192, 1536}));
  EXPECT_EQ(t.at("model.layers.0.self_attn.o_proj.weight").shape, (core::Shape{7168, 128 * 128}));
  EXPECT_EQ(t.at("model.layers.2.mlp.down_proj.weight").shape, (core::Shape{7168, 18432}));
  EXPECT_EQ(t.count("model.layers.2.mlp.gate.weight"), 0u);  // layers 0-2 are dense
  EXPECT_EQ(t.at("model.layers.3.mlp.gate.weight").dtype, core::DType::kBF16);
  EXPECT_EQ(t.at("model.layers.3.mlp.gate.e_score_correction_bias").dtype, core::DType::kF32);
  EXPECT_EQ(t.at("model.layers.3.mlp.gate.e_score_correction_bias").gguf_name, "blk.3.exp_probs_b.bias");
  const auto& e = t.at("model.layers.60.mlp.experts.255.down_proj.weight");
  EXPECT_EQ(e.shape, (core::Shape{7168, 2048}));
  EXPECT_EQ(e.expert, 255);
  EXPECT_EQ(e.gguf_name, "blk.60.ffn_down_exps.weight");
  EXPECT_EQ(t.at("model.layers.60.mlp.shared_experts.up_proj.weight").gguf_name, "blk.60.ffn_up_shexp.weight");
  EXPECT_EQ(t.at("model.embed_tokens.weight").dtype, core::DType::kBF16);
  EXPECT_EQ(t.at("lm_head.weight").dtype, core::DType::kBF16);
  EXPECT_EQ(t.at("model.layers.5.input_layernorm.weight").dtype, core::DType::kBF16);
  // The MTP module is layer 61, with its own embedding/head copies and an unquantized eh_proj.
  EXPECT_TRUE(t.at("model.layers.61.eh_proj.weight").mtp);
  EXPECT_EQ(t.at("model.layers.61.eh_proj.weight").shape, (core::Shape{7168, 2 * 7168}));
  EXPECT_EQ(t.at("model.layers.61.eh_proj.weight").dtype, core::DType::kBF16);
  EXPECT_EQ(t.count("model.layers.61.eh_proj.weight_scale_inv"), 0u);
  EXPECT_TRUE(t.count("model.layers.61.enorm.weight"));
  EXPECT_TRUE(t.count("model.layers.61.hnorm.weight"));
  EXPECT_TRUE(t.count("model.layers.61.embed_tokens.weight"));
  EXPECT_TRUE(t.count("model.layers.61.shared_head.norm.weight"));
  EXPECT_TRUE(t.count("model.layers.61.shared_head.head.weight"));
  EXPECT_TRUE(t.count("model.layers.61.mlp.experts.0.gate_proj.weight_scale_inv"));
  EXPECT_EQ(t.count("model.layers.62.input_layernorm.weight"), 0u);
}

TEST(TensorTable, DeepseekV3TensorCountByHand) {
  // Per layer: attention 8 (q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b, o, + input norm) + post norm.
  // FP8 matrices add one scale each: attention has 5 matrices.
  // Dense layer: 9 + 5 scales + mlp 3 + 3 scales = 20. MoE layer: 9 + 5 + gate + bias +
  // 256*3*2 experts (with scales) + 3*2 shared = 1555. MTP adds 6 (embed, enorm, hnorm, eh_proj,
  // shared_head norm and head). Global: embed, norm, head.
  const int64_t dense = 20, moe = 9 + 5 + 2 + 256 * 6 + 6;
  const int64_t expected = 3 + 3 * dense + 58 * moe + (moe + 6);
  EXPECT_EQ(static_cast<int64_t>(tensor_table(released("deepseek-v3")).size()), expected);
}

TEST(TensorTable, DeepseekV2LiteUsesQProj) {
  const auto t = by_name(released("deepseek-v2-lite"));
  EXPECT_EQ(t.at("model.layers.0.self_attn.q_proj.weight").shape, (core::Shape{16 * 192, 2048}));
  EXPECT_EQ(t.at("model.layers.0.self_attn.q_proj.weight").gguf_name, "blk.0.attn_q.weight");
  EXPECT_EQ(t.count("model.layers.0.self_attn.q_a_proj.weight"), 0u);
  EXPECT_EQ(t.count("model.layers.1.mlp.gate.e_score_correction_bias"), 0u);  // softmax routing: no bias
  EXPECT_EQ(t.at("model.layers.1.mlp.shared_experts.gate_proj.weight").shape, (core::Shape{2 * 1408, 2048}));
  EXPECT_EQ(t.at("model.layers.26.mlp.experts.63.up_proj.weight").shape, (core::Shape{1408, 2048}));
  EXPECT_EQ(t.at("model.layers.0.self_attn.q_proj.weight").dtype, core::DType::kBF16);
}

TEST(TensorTable, DenseFamilies) {
  const auto q = by_name(released("r1-distill-qwen-1.5b"));
  EXPECT_EQ(q.at("model.layers.0.self_attn.k_proj.weight").shape, (core::Shape{2 * 128, 1536}));
  EXPECT_EQ(q.at("model.layers.0.self_attn.k_proj.bias").shape, (core::Shape{256}));
  EXPECT_EQ(q.at("model.layers.27.self_attn.q_proj.bias").gguf_name, "blk.27.attn_q.bias");
  EXPECT_EQ(q.at("model.layers.27.mlp.down_proj.weight").shape, (core::Shape{1536, 8960}));
  EXPECT_EQ(q.size(), 3u + 28u * 12u);  // 12 tensors per layer with 3 biases
  const auto l = by_name(released("r1-distill-llama-8b"));
  EXPECT_EQ(l.count("model.layers.0.self_attn.q_proj.bias"), 0u);
  EXPECT_EQ(l.at("model.layers.0.self_attn.v_proj.weight").shape, (core::Shape{8 * 128, 4096}));
  EXPECT_EQ(l.size(), 3u + 32u * 9u);
  ModelArgs tied = released("r1-distill-qwen-1.5b");
  tied.tie_word_embeddings = true;
  EXPECT_EQ(by_name(tied).count("lm_head.weight"), 0u);
}

TEST(TensorTable, ScaleFollowsItsWeight) {
  const std::vector<TensorSpec> t = tensor_table(released("deepseek-v3"));
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].kind != TensorKind::kScaleInv) continue;
    ASSERT_GT(i, 0u);
    EXPECT_EQ(t[i - 1].name.substr(0, t[i - 1].name.size() - 7) + ".weight_scale_inv", t[i].name);
    EXPECT_EQ(t[i - 1].dtype, core::DType::kF8E4M3);
  }
}

// The binder keys fields by (role, layer, expert): no two tensors may share one, and the roles of
// look-alike names must differ as the names do.
TEST(TensorTable, RolesNameOneFieldEach) {
  for (const char* config : {"deepseek-v3", "deepseek-v2-lite", "r1-distill-qwen-1.5b", "r1-distill-llama-8b"}) {
    std::set<std::tuple<TensorRole, int64_t, int64_t>> seen;
    for (const TensorSpec& s : tensor_table(released(config))) {
      if (s.role == TensorRole::kScaleInv) continue;
      EXPECT_TRUE(seen.emplace(s.role, s.layer, s.expert).second) << config << ": " << s.name;
    }
  }
  const auto v3 = by_name(released("deepseek-v3"));
  EXPECT_EQ(v3.at("model.layers.3.self_attn.q_a_proj.weight").role, TensorRole::kMlaQA);
  EXPECT_EQ(v3.at("model.layers.3.self_attn.q_b_proj.weight").role, TensorRole::kMlaQB);
  EXPECT_EQ(v3.at("model.layers.3.self_attn.kv_b_proj.weight").role, TensorRole::kMlaKvB);
  EXPECT_EQ(v3.at("model.layers.3.self_attn.kv_b_proj.weight_scale_inv").role, TensorRole::kScaleInv);
  EXPECT_EQ(v3.at("model.layers.2.mlp.up_proj.weight").role, TensorRole::kMlpUp);
  EXPECT_EQ(v3.at("model.layers.3.mlp.shared_experts.up_proj.weight").role, TensorRole::kSharedUp);
  EXPECT_EQ(v3.at("model.layers.3.mlp.experts.7.up_proj.weight").role, TensorRole::kExpertUp);
  EXPECT_EQ(v3.at("model.layers.3.mlp.experts.7.up_proj.weight").expert, 7);
  EXPECT_EQ(v3.at("model.layers.3.mlp.gate.weight").role, TensorRole::kRouter);
  EXPECT_EQ(v3.at("model.layers.3.mlp.gate.e_score_correction_bias").role, TensorRole::kRouterBias);
  EXPECT_EQ(v3.at("model.layers.61.embed_tokens.weight").role, TensorRole::kMtpEmbed);
  EXPECT_EQ(v3.at("model.layers.61.embed_tokens.weight").kind, TensorKind::kEmbedding);
  EXPECT_EQ(v3.at("model.layers.61.shared_head.head.weight").role, TensorRole::kMtpHead);
  EXPECT_EQ(v3.at("model.layers.61.shared_head.head.weight").kind, TensorKind::kOutput);
  EXPECT_EQ(v3.at("model.layers.61.eh_proj.weight").kind, TensorKind::kLinear);
  EXPECT_EQ(v3.at("lm_head.weight").role, TensorRole::kLmHead);
  EXPECT_EQ(v3.at("model.norm.weight").role, TensorRole::kFinalNorm);
  const auto qwen = by_name(released("r1-distill-qwen-1.5b"));
  EXPECT_EQ(qwen.at("model.layers.0.self_attn.q_proj.weight").role, TensorRole::kGqaQ);
  EXPECT_EQ(qwen.at("model.layers.0.self_attn.k_proj.bias").role, TensorRole::kGqaKBias);
  EXPECT_EQ(qwen.at("model.layers.0.self_attn.k_proj.bias").kind, TensorKind::kBias);
  EXPECT_EQ(qwen.at("model.layers.0.self_attn.v_proj.weight").role, TensorRole::kGqaV);
  EXPECT_EQ(by_name(released("deepseek-v2-lite")).at("model.layers.0.self_attn.q_proj.weight").role, TensorRole::kMlaQ);
}

}  // namespace
}  // namespace whale::formats
