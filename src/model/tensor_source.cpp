// Binding by Hugging Face names in the model's layer order.
#include "model/tensor_source.h"

#include "core/thread_pool.h"
#include "kernels/packed.h"

namespace whale::model {

std::vector<float> TensorSource::vec(const std::string& name) const {
  const WeightView w = stored(name);
  std::vector<float> out(static_cast<size_t>(w.w.numel()));
  kernels::dequantize_weight(w, out.data());
  return out;
}

MlpWeights TensorSource::mlp(const std::string& p) {
  return {matrix(p + "gate_proj.weight"), matrix(p + "up_proj.weight"), matrix(p + "down_proj.weight")};
}

namespace {

// Every matrix linear() multiplies, packed for the int8 kernels where the CPU has them (the input
// embedding is only looked up, so it stays as stored unless it doubles as the output head).
void pack_weights(Weights& w) {
  std::vector<WeightView*> all{&w.lm_head};
  auto mlp = [&](MlpWeights& m) { all.insert(all.end(), {&m.gate, &m.up, &m.down}); };
  for (LayerWeights& L : w.layers) {
    all.insert(all.end(), {&L.mla.q_a, &L.mla.q_b, &L.mla.q, &L.mla.kv_a, &L.mla.kv_b, &L.mla.o, &L.mla.uk_t, &L.mla.uv});
    all.insert(all.end(), {&L.gqa.q, &L.gqa.k, &L.gqa.v, &L.gqa.o, &L.mtp.eh_proj, &L.mtp.head});
    mlp(L.mlp);
    mlp(L.moe.shared);
    for (MlpWeights& e : L.moe.experts) mlp(e);
  }
  std::erase_if(all, [](const WeightView* v) { return !v->w.defined() || !kernels::packed::packable(*v); });
  if (all.empty()) return;
  // One huge-page buffer for all of them (one per matrix would round each up to 2 MiB).
  std::vector<int64_t> offset(all.size() + 1, 0);
  for (size_t i = 0; i < all.size(); ++i) offset[i + 1] = offset[i] + (kernels::packed::packed_bytes(*all[i]) + 63) / 64 * 64;
  const core::Tensor buffer = kernels::packed::huge_page_buffer(offset.back());
  core::ThreadPool pool;
  pool.parallel_for(static_cast<int64_t>(all.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const auto k = static_cast<size_t>(i);
      all[k]->packed = kernels::packed::pack_into(*all[k], buffer, offset[k]);
    }
  });
}

}  // namespace

void bind_weights(TensorSource& b, Weights& w) {
  const formats::ModelArgs& a = w.args;
  w.embed = b.matrix("model.embed_tokens.weight");
  w.final_norm = b.vec("model.norm.weight");
  w.lm_head = a.tie_word_embeddings ? w.embed : b.matrix("lm_head.weight");
  const int64_t n_layers = a.is_deepseek() ? a.total_layers() : a.num_hidden_layers;
  w.layers.resize(static_cast<size_t>(n_layers));
  for (int64_t i = 0; i < n_layers; ++i) {
    LayerWeights& L = w.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    L.attn_norm = b.vec(p + "input_layernorm.weight");
    L.ffn_norm = b.vec(p + "post_attention_layernorm.weight");
    const std::string s = p + "self_attn.";
    if (a.is_deepseek()) {
      if (a.q_lora_rank > 0) {
        L.mla.q_a = b.matrix(s + "q_a_proj.weight");
        L.mla.q_a_norm = b.vec(s + "q_a_layernorm.weight");
        L.mla.q_b = b.matrix(s + "q_b_proj.weight");
      } else {
        L.mla.q = b.matrix(s + "q_proj.weight");
      }
      L.mla.kv_a = b.matrix(s + "kv_a_proj_with_mqa.weight");
      L.mla.kv_a_norm = b.vec(s + "kv_a_layernorm.weight");
      L.mla.kv_b = b.matrix(s + "kv_b_proj.weight");
      b.kv_b_halves(s + "kv_b_proj.weight", L.mla.uk_t, L.mla.uv);
      L.mla.o = b.matrix(s + "o_proj.weight");
    } else {
      L.gqa.q = b.matrix(s + "q_proj.weight");
      L.gqa.k = b.matrix(s + "k_proj.weight");
      L.gqa.v = b.matrix(s + "v_proj.weight");
      L.gqa.o = b.matrix(s + "o_proj.weight");
      if (a.attention_bias) {
        L.gqa.q_bias = b.vec(s + "q_proj.bias");
        L.gqa.k_bias = b.vec(s + "k_proj.bias");
        L.gqa.v_bias = b.vec(s + "v_proj.bias");
      }
    }
    L.is_moe = a.is_moe_layer(i);
    if (L.is_moe) {
      L.moe.router = b.stored(p + "mlp.gate.weight");  // routing decisions stay at stored precision
      if (a.topk_method == formats::TopkMethod::kNoauxTc) L.moe.router_bias = b.vec(p + "mlp.gate.e_score_correction_bias");
      for (int64_t e = 0; e < a.n_routed_experts; ++e) {
        L.moe.experts.push_back(b.mlp(p + "mlp.experts." + std::to_string(e) + "."));
      }
      L.moe.has_shared = a.n_shared_experts > 0;
      if (L.moe.has_shared) L.moe.shared = b.mlp(p + "mlp.shared_experts.");
    } else {
      L.mlp = b.mlp(p + "mlp.");
    }
    if (i >= a.num_hidden_layers) {
      L.mtp.embed = b.matrix(p + "embed_tokens.weight");
      L.mtp.eh_proj = b.matrix(p + "eh_proj.weight");
      L.mtp.head = b.matrix(p + "shared_head.head.weight");
      L.mtp.enorm = b.vec(p + "enorm.weight");
      L.mtp.hnorm = b.vec(p + "hnorm.weight");
      L.mtp.head_norm = b.vec(p + "shared_head.norm.weight");
    }
  }
  pack_weights(w);
}

}  // namespace whale::model
