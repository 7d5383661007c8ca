// Binding checkpoint tensors to the layer structure by their Hugging Face names, after the tensor
// table has vouched for every name and shape.
#include "model/weights.h"

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/tensor_table.h"
#include "model/quantize.h"

namespace whale::model {
namespace {

class Binder {
 public:
  Binder(const formats::ModelArgs& a, std::shared_ptr<formats::CheckpointReader> ckpt, const LoadOptions& opt)
      : a_(a), ckpt_(std::move(ckpt)), opt_(opt), pool_(opt.threads) {}

  // A weight matrix, re-quantized when the options ask for it.
  WeightView matrix(const std::string& name) {
    WeightView w = stored(name);
    if (!opt_.quant || w.w.dtype() == *opt_.quant) return w;
    std::optional<WeightView> q = quantize_weight(w, *opt_.quant, pool_);
    return q ? *q : w;
  }

  WeightView stored(const std::string& name) const {
    WeightView w;
    w.w = ckpt_->view(name);
    if (w.w.dtype() == core::DType::kF8E4M3) {
      w.scale_inv = ckpt_->view(name.substr(0, name.size() - 7) + ".weight_scale_inv");
      w.block = a_.fp8_block_rows;
      if (w.scale_inv.dtype() != core::DType::kF32) {
        fail(ErrorKind::kFormat, ckpt_->dir(), ": ", name, "_scale_inv must be f32");
      }
    }
    return w;
  }

  std::vector<float> vec(const std::string& name) const {
    WeightView w = stored(name);
    std::vector<float> out(static_cast<size_t>(w.w.numel()));
    kernels::dequantize_weight(w, out.data());
    return out;
  }

  MlpWeights mlp(const std::string& p) {
    return {matrix(p + "gate_proj.weight"), matrix(p + "up_proj.weight"), matrix(p + "down_proj.weight")};
  }

 private:
  const formats::ModelArgs& a_;
  std::shared_ptr<formats::CheckpointReader> ckpt_;
  const LoadOptions& opt_;
  core::ThreadPool pool_;
};

void check_against_table(const formats::ModelArgs& a, const formats::CheckpointReader& ckpt) {
  if (!ckpt.has_weights()) fail(ErrorKind::kNotFound, ckpt.dir(), ": no weight files (model.safetensors or an index)");
  for (const formats::TensorSpec& t : formats::tensor_table(a)) {
    const formats::SafetensorsEntry* e = ckpt.find(t.name);
    if (!e) {
      // FP8 scales are only needed when the weight itself is FP8.
      if (t.kind == formats::TensorKind::kScaleInv) continue;
      fail(ErrorKind::kNotFound, ckpt.dir(), ": tensor ", t.name, " ", t.shape.str(), " is missing");
    }
    if (!(e->shape == t.shape)) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has shape ", e->shape.str(), ", expected ",
           t.shape.str(), " from config.json");
    }
    if (!core::dtype_info(e->dtype).is_float) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has non-float dtype ", core::dtype_name(e->dtype));
    }
  }
}

}  // namespace

Weights load_weights(const std::string& dir, const LoadOptions& options) {
  Weights w;
  w.args = formats::load_model_args(dir);
  const formats::ModelArgs& a = w.args;
  auto ckpt = std::make_shared<formats::CheckpointReader>(formats::CheckpointReader::open(dir));
  check_against_table(a, *ckpt);
  w.storage = ckpt;
  Binder b(a, ckpt, options);

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
      if (a.topk_method == "noaux_tc") L.moe.router_bias = b.vec(p + "mlp.gate.e_score_correction_bias");
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
  return w;
}

}  // namespace whale::model
