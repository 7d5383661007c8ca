// bind_weights walks the tensor table and puts each entry in the field its role names: every tensor
// of every tiny family lands in exactly one field, and the tricky neighbours (q_a/q_b, k/v bias,
// routed/shared experts, the MTP head) land where Hugging Face's names say, spelled out by hand here.
#include "model/tensor_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "formats/tensor_table.h"
#include "model/architecture.h"
#include "model/memory_weights.h"
#include "model/presets.h"

namespace whale::model {
namespace {

// Every table tensor as f32 filled with its own id (1, 2, ...), so a bound field tells which
// tensor it holds.
struct Tagged {
  std::map<std::string, core::Tensor> tensors;
  std::map<std::string, float> id;
};

Tagged tagged(const formats::ModelArgs& a) {
  Tagged t;
  float next = 1.0f;
  for (const formats::TensorSpec& s : formats::tensor_table(a)) {
    core::Tensor v = core::Tensor::empty(core::DType::kF32, s.shape);
    for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] = next;
    t.tensors.emplace(s.name, v);
    t.id.emplace(s.name, next);
    next += 1.0f;
  }
  return t;
}

float id_of(const WeightView& v) { return v.w.raw() ? v.w.data<float>()[0] : 0.0f; }
float id_of(const std::vector<float>& v) { return v.empty() ? 0.0f : v[0]; }

// The ids of every field of w, walked by hand (independently of the binder's role switch).
std::vector<float> all_ids(const Weights& w) {
  std::vector<float> ids;
  const auto add = [&](const auto& f) {
    if (const float i = id_of(f); i != 0.0f) ids.push_back(i);
  };
  const auto mlp = [&](const MlpWeights& m) { add(m.gate), add(m.up), add(m.down); };
  add(w.embed), add(w.lm_head), add(w.final_norm);
  for (const LayerWeights& L : w.layers) {
    add(L.attn_norm), add(L.ffn_norm);
    add(L.mla.q_a), add(L.mla.q_b), add(L.mla.q), add(L.mla.q_a_norm), add(L.mla.kv_a), add(L.mla.kv_b), add(L.mla.o);
    add(L.mla.kv_a_norm), add(L.mla.uk_t), add(L.mla.uv);
    add(L.gqa.q), add(L.gqa.k), add(L.gqa.v), add(L.gqa.o), add(L.gqa.q_bias), add(L.gqa.k_bias), add(L.gqa.v_bias);
    mlp(L.mlp);
    add(L.moe.router), add(L.moe.router_bias);
    for (const MlpWeights& e : L.moe.experts) mlp(e);
    mlp(L.moe.shared);
    add(L.mtp.embed), add(L.mtp.eh_proj), add(L.mtp.head), add(L.mtp.enorm), add(L.mtp.hnorm), add(L.mtp.head_norm);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(BindWeights, EveryTableTensorLandsInExactlyOneField) {
  for (const char* preset : {"tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-deepseek-v2-lite", "tiny-qwen2", "tiny-llama"}) {
    const formats::ModelArgs a = find_preset(preset).args;
    ASSERT_FALSE(a.tie_word_embeddings) << preset;
    Tagged t = tagged(a);
    const Weights w = weights_from_tensors(a, t.tensors);
    std::vector<float> want;
    for (float i = 1.0f; i <= static_cast<float>(t.id.size()); i += 1.0f) want.push_back(i);
    EXPECT_EQ(all_ids(w), want) << preset;
    EXPECT_EQ(w.arch, &architecture(a)) << preset;
    EXPECT_EQ(static_cast<int64_t>(w.layers.size()), kv_layers(a)) << preset;
  }
}

TEST(BindWeights, DeepseekNeighboursLandWhereTheirNamesSay) {
  const formats::ModelArgs a = find_preset("tiny-deepseek-v3").args;
  ASSERT_GT(a.num_nextn_predict_layers, 0);
  ASSERT_GT(a.q_lora_rank, 0);
  ASSERT_GT(a.n_shared_experts, 0);
  Tagged t = tagged(a);
  const Weights w = weights_from_tensors(a, t.tensors);
  const int64_t moe = a.first_k_dense_replace;  // the first MoE layer
  const auto& L = w.layers[static_cast<size_t>(moe)];
  const std::string p = "model.layers." + std::to_string(moe) + ".";
  EXPECT_EQ(id_of(L.mla.q_a), t.id.at(p + "self_attn.q_a_proj.weight"));
  EXPECT_EQ(id_of(L.mla.q_b), t.id.at(p + "self_attn.q_b_proj.weight"));
  EXPECT_EQ(id_of(L.mla.q_a_norm), t.id.at(p + "self_attn.q_a_layernorm.weight"));
  EXPECT_EQ(id_of(L.mla.kv_a_norm), t.id.at(p + "self_attn.kv_a_layernorm.weight"));
  EXPECT_EQ(id_of(L.mla.kv_b), t.id.at(p + "self_attn.kv_b_proj.weight"));
  EXPECT_EQ(id_of(L.attn_norm), t.id.at(p + "input_layernorm.weight"));
  EXPECT_EQ(id_of(L.ffn_norm), t.id.at(p + "post_attention_layernorm.weight"));
  EXPECT_TRUE(L.is_moe);
  EXPECT_EQ(id_of(L.moe.router), t.id.at(p + "mlp.gate.weight"));
  EXPECT_EQ(id_of(L.moe.router_bias), t.id.at(p + "mlp.gate.e_score_correction_bias"));
  EXPECT_EQ(id_of(L.moe.experts[1].up), t.id.at(p + "mlp.experts.1.up_proj.weight"));
  EXPECT_EQ(id_of(L.moe.experts[1].down), t.id.at(p + "mlp.experts.1.down_proj.weight"));
  EXPECT_TRUE(L.moe.has_shared);
  EXPECT_EQ(id_of(L.moe.shared.up), t.id.at(p + "mlp.shared_experts.up_proj.weight"));
  EXPECT_EQ(id_of(w.layers[0].mlp.gate), t.id.at("model.layers.0.mlp.gate_proj.weight"));
  const std::string m = "model.layers." + std::to_string(a.num_hidden_layers) + ".";
  const auto& M = w.layers[static_cast<size_t>(a.num_hidden_layers)].mtp;
  EXPECT_EQ(id_of(M.embed), t.id.at(m + "embed_tokens.weight"));
  EXPECT_EQ(id_of(M.enorm), t.id.at(m + "enorm.weight"));
  EXPECT_EQ(id_of(M.hnorm), t.id.at(m + "hnorm.weight"));
  EXPECT_EQ(id_of(M.eh_proj), t.id.at(m + "eh_proj.weight"));
  EXPECT_EQ(id_of(M.head_norm), t.id.at(m + "shared_head.norm.weight"));
  EXPECT_EQ(id_of(M.head), t.id.at(m + "shared_head.head.weight"));
  EXPECT_EQ(id_of(w.lm_head), t.id.at("lm_head.weight"));
  EXPECT_EQ(id_of(w.final_norm), t.id.at("model.norm.weight"));
}

TEST(BindWeights, QwenBiasesAndTiedHead) {
  formats::ModelArgs a = find_preset("tiny-qwen2").args;
  ASSERT_TRUE(a.attention_bias);
  Tagged t = tagged(a);
  const Weights w = weights_from_tensors(a, t.tensors);
  const auto& g = w.layers[1].gqa;
  EXPECT_EQ(id_of(g.k), t.id.at("model.layers.1.self_attn.k_proj.weight"));
  EXPECT_EQ(id_of(g.v), t.id.at("model.layers.1.self_attn.v_proj.weight"));
  EXPECT_EQ(id_of(g.q_bias), t.id.at("model.layers.1.self_attn.q_proj.bias"));
  EXPECT_EQ(id_of(g.k_bias), t.id.at("model.layers.1.self_attn.k_proj.bias"));
  EXPECT_EQ(id_of(g.v_bias), t.id.at("model.layers.1.self_attn.v_proj.bias"));
  EXPECT_EQ(id_of(g.o), t.id.at("model.layers.1.self_attn.o_proj.weight"));
  EXPECT_FALSE(w.layers[1].is_moe);
  EXPECT_EQ(id_of(w.layers[1].mlp.down), t.id.at("model.layers.1.mlp.down_proj.weight"));

  // Tied: the table has no lm_head, and the head is the embedding itself.
  a.tie_word_embeddings = true;
  Tagged tied = tagged(a);
  ASSERT_EQ(tied.id.count("lm_head.weight"), 0u);
  const Weights wt = weights_from_tensors(a, tied.tensors);
  EXPECT_EQ(wt.lm_head.w.raw(), wt.embed.w.raw());
  EXPECT_EQ(id_of(wt.embed), tied.id.at("model.embed_tokens.weight"));
}

}  // namespace
}  // namespace whale::model
