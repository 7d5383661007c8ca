// Weights: every tensor of a checkpoint bound to the layer structure the forward pass walks,
// as zero-copy views of the mmap'd files (weights stay in their stored dtype; small vectors such
// as norms and biases are decoded to f32 once).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/model_args.h"
#include "formats/tensor_table.h"
#include "kernels/weight.h"

namespace whale::model {

using kernels::WeightView;

struct Architecture;  // model/architecture.h

struct MlpWeights {
  WeightView gate, up, down;  // SwiGLU: down(silu(gate x) * up x)
};

struct MoeWeights {
  WeightView router;               // [n_routed_experts, hidden]
  std::vector<float> router_bias;  // e_score_correction_bias (noaux_tc only), else empty
  std::vector<MlpWeights> experts;
  bool has_shared = false;
  MlpWeights shared;
};

struct MlaWeights {
  WeightView q_a, q_b, q;  // q_a/q_b with q_lora_rank > 0, else q
  std::vector<float> q_a_norm;
  WeightView kv_a, kv_b, o;
  std::vector<float> kv_a_norm;
  // llama.cpp-layout GGUF files also give kv_b's halves as stored: attn_k_b ([H·r, nope]: W_ukᵀ of
  // each head) and attn_v_b ([H·d_v, r]: W_uv). The absorbed decode multiplies with these
  // directly; empty otherwise (it then reads kv_b).
  WeightView uk_t, uv;
};

struct GqaWeights {
  WeightView q, k, v, o;
  std::vector<float> q_bias, k_bias, v_bias;  // qwen2 only
};

struct MtpWeights {
  WeightView embed, eh_proj, head;
  std::vector<float> enorm, hnorm, head_norm;
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  MlaWeights mla;  // deepseek
  GqaWeights gqa;  // qwen2 / llama
  bool is_moe = false;
  MlpWeights mlp;
  MoeWeights moe;
  MtpWeights mtp;  // layers past num_hidden_layers
};

struct Weights {
  formats::ModelArgs args;
  const Architecture* arch = nullptr;  // the family's record, architecture(args), set when bound
  WeightView embed, lm_head;
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;  // main stack, then MTP modules
  std::shared_ptr<const void> storage;  // keeps the mapped files alive (re-quantized copies own themselves)
};

struct LoadOptions {
  // Re-encode every weight matrix (embeddings, projections, experts, head) in this dtype at load
  // time; norms, biases and the router stay as stored. Empty: keep the stored dtypes.
  std::optional<core::DType> quant;
  int threads = 0;
  // Binds only the tensors this returns true for (the rest stay empty and their bytes are never
  // read): one process's share under pipeline or expert parallelism. Empty: every tensor.
  std::function<bool(const formats::TensorSpec&)> keep;
};

// Loads a Hugging Face directory: checks every tensor the config implies is present with its
// shape (whale::Error naming the first missing or mis-shaped tensor), then binds views.
// A path ending in .gguf is read as GGUF (model/gguf_weights.h).
Weights load_weights(const std::string& path, const LoadOptions& options = {});

}  // namespace whale::model
