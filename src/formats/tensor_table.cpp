// Tensor lists per family, written out layer by layer in the order Hugging Face's modeling code
// declares them. DeepSeek: MLA + dense/MoE MLP + MTP modules; Qwen2/Llama: GQA + SwiGLU MLP.
#include "formats/tensor_table.h"

#include "core/error.h"

namespace whale::formats {
namespace {

using core::DType;
using core::Shape;
using R = TensorRole;

TensorKind kind_of(TensorRole r) {
  switch (r) {
    case R::kEmbed: case R::kMtpEmbed:
      return TensorKind::kEmbedding;
    case R::kLmHead: case R::kMtpHead:
      return TensorKind::kOutput;
    case R::kFinalNorm: case R::kAttnNorm: case R::kFfnNorm: case R::kMlaQANorm: case R::kMlaKvANorm:
    case R::kMtpEnorm: case R::kMtpHnorm: case R::kMtpHeadNorm:
      return TensorKind::kNorm;
    case R::kGqaQBias: case R::kGqaKBias: case R::kGqaVBias:
      return TensorKind::kBias;
    case R::kExpertGate: case R::kExpertUp: case R::kExpertDown:
      return TensorKind::kExpert;
    case R::kRouter:
      return TensorKind::kRouter;
    case R::kRouterBias:
      return TensorKind::kRouterBias;
    case R::kScaleInv:
      return TensorKind::kScaleInv;
    case R::kMlaQA: case R::kMlaQB: case R::kMlaQ: case R::kMlaKvA: case R::kMlaKvB: case R::kMlaO:
    case R::kGqaQ: case R::kGqaK: case R::kGqaV: case R::kGqaO: case R::kMlpGate: case R::kMlpUp: case R::kMlpDown:
    case R::kSharedGate: case R::kSharedUp: case R::kSharedDown: case R::kMtpEhProj:
      break;  // no default: a new role without a kind is a -Wswitch warning
  }
  return TensorKind::kLinear;
}

// The three matrices of a SwiGLU MLP as roles, and the GGUF suffix that tells the shared experts
// ("_shexp") from a dense layer's MLP ("").
struct MlpRoles {
  TensorRole gate, up, down;
  const char* gguf_suffix;
};
constexpr MlpRoles kDenseMlp{R::kMlpGate, R::kMlpUp, R::kMlpDown, ""};
constexpr MlpRoles kSharedMlp{R::kSharedGate, R::kSharedUp, R::kSharedDown, "_shexp"};

class TableBuilder {
 public:
  TableBuilder(const ModelArgs& args, const std::function<void(const TensorSpec&)>& fn)
      : a_(args), fn_(fn), base_(dtype_for_torch(args.torch_dtype)) {}

  void emit(std::string name, Shape shape, TensorRole role, std::string gguf, int64_t expert = -1) {
    TensorSpec s;
    s.name = std::move(name);
    s.shape = shape;
    s.role = role;
    s.kind = kind_of(role);
    s.layer = layer_;
    s.expert = expert;
    s.mtp = mtp_;
    s.gguf_name = std::move(gguf);
    s.dtype = s.kind == TensorKind::kRouterBias ? DType::kF32 : base_;
    // DeepSeek's FP8 checkpoints keep embeddings, head, norms, router and eh_proj in bf16.
    const bool fp8 = a_.fp8 && (s.kind == TensorKind::kLinear || s.kind == TensorKind::kExpert) &&
                     role != R::kMtpEhProj;
    if (fp8) s.dtype = DType::kF8E4M3;
    fn_(s);
    if (fp8) {
      TensorSpec scale;
      const std::string suffix = ".weight";
      scale.name = s.name.substr(0, s.name.size() - suffix.size()) + ".weight_scale_inv";
      scale.shape = Shape{(shape[0] + a_.fp8_block_rows - 1) / a_.fp8_block_rows,
                          (shape[1] + a_.fp8_block_cols - 1) / a_.fp8_block_cols};
      scale.dtype = DType::kF32;
      scale.kind = TensorKind::kScaleInv;
      scale.role = R::kScaleInv;
      scale.layer = layer_;
      scale.expert = expert;
      scale.mtp = mtp_;
      fn_(scale);
    }
  }

  void deepseek() {
    const int64_t D = a_.hidden_size;
    const int64_t V = a_.vocab_size;
    emit("model.embed_tokens.weight", Shape{V, D}, R::kEmbed, "token_embd.weight");
    for (int64_t i = 0; i < a_.total_layers(); ++i) {
      layer_ = i;
      mtp_ = i >= a_.num_hidden_layers;
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const std::string g = "blk." + std::to_string(i) + ".";
      if (mtp_) mtp_inputs(p, g);
      emit(p + "input_layernorm.weight", Shape{D}, R::kAttnNorm, g + "attn_norm.weight");
      mla(p, g);
      emit(p + "post_attention_layernorm.weight", Shape{D}, R::kFfnNorm, g + "ffn_norm.weight");
      if (a_.is_moe_layer(i)) {
        moe(p, g);
      } else {
        mlp(p + "mlp.", g, a_.intermediate_size, kDenseMlp);
      }
      if (mtp_) mtp_outputs(p, g);
    }
    layer_ = -1;
    mtp_ = false;
    emit("model.norm.weight", Shape{D}, R::kFinalNorm, "output_norm.weight");
    emit("lm_head.weight", Shape{V, D}, R::kLmHead, "output.weight");
  }

  void dense() {
    const int64_t D = a_.hidden_size;
    const int64_t V = a_.vocab_size;
    const int64_t H = a_.num_attention_heads;
    const int64_t KV = a_.num_key_value_heads;
    const int64_t hd = a_.head_dim;
    emit("model.embed_tokens.weight", Shape{V, D}, R::kEmbed, "token_embd.weight");
    for (int64_t i = 0; i < a_.num_hidden_layers; ++i) {
      layer_ = i;
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const std::string g = "blk." + std::to_string(i) + ".";
      emit(p + "input_layernorm.weight", Shape{D}, R::kAttnNorm, g + "attn_norm.weight");
      const struct { const char* hf; const char* gguf; int64_t out; TensorRole weight, bias; } qkv[] = {
          {"q_proj", "attn_q", H * hd, R::kGqaQ, R::kGqaQBias},
          {"k_proj", "attn_k", KV * hd, R::kGqaK, R::kGqaKBias},
          {"v_proj", "attn_v", KV * hd, R::kGqaV, R::kGqaVBias}};
      for (const auto& t : qkv) {
        emit(p + "self_attn." + t.hf + ".weight", Shape{t.out, D}, t.weight, g + t.gguf + ".weight");
        if (a_.attention_bias) emit(p + "self_attn." + t.hf + ".bias", Shape{t.out}, t.bias, g + t.gguf + ".bias");
      }
      emit(p + "self_attn.o_proj.weight", Shape{D, H * hd}, R::kGqaO, g + "attn_output.weight");
      emit(p + "post_attention_layernorm.weight", Shape{D}, R::kFfnNorm, g + "ffn_norm.weight");
      mlp(p + "mlp.", g, a_.intermediate_size, kDenseMlp);
    }
    layer_ = -1;
    emit("model.norm.weight", Shape{D}, R::kFinalNorm, "output_norm.weight");
    if (!a_.tie_word_embeddings) emit("lm_head.weight", Shape{V, D}, R::kLmHead, "output.weight");
  }

 private:
  void mla(const std::string& p, const std::string& g) {
    const int64_t D = a_.hidden_size;
    const int64_t H = a_.num_attention_heads;
    const std::string s = p + "self_attn.";
    if (a_.q_lora_rank > 0) {
      emit(s + "q_a_proj.weight", Shape{a_.q_lora_rank, D}, R::kMlaQA, g + "attn_q_a.weight");
      emit(s + "q_a_layernorm.weight", Shape{a_.q_lora_rank}, R::kMlaQANorm, g + "attn_q_a_norm.weight");
      emit(s + "q_b_proj.weight", Shape{H * a_.qk_head_dim(), a_.q_lora_rank}, R::kMlaQB,
           g + "attn_q_b.weight");
    } else {
      emit(s + "q_proj.weight", Shape{H * a_.qk_head_dim(), D}, R::kMlaQ, g + "attn_q.weight");
    }
    emit(s + "kv_a_proj_with_mqa.weight", Shape{a_.kv_lora_rank + a_.qk_rope_head_dim, D}, R::kMlaKvA,
         g + "attn_kv_a_mqa.weight");
    emit(s + "kv_a_layernorm.weight", Shape{a_.kv_lora_rank}, R::kMlaKvANorm, g + "attn_kv_a_norm.weight");
    emit(s + "kv_b_proj.weight", Shape{H * (a_.qk_nope_head_dim + a_.v_head_dim), a_.kv_lora_rank},
         R::kMlaKvB, g + "attn_kv_b.weight");
    emit(s + "o_proj.weight", Shape{D, H * a_.v_head_dim}, R::kMlaO, g + "attn_output.weight");
  }

  // A SwiGLU MLP: a dense layer's, or the shared experts of an MoE layer.
  void mlp(const std::string& p, const std::string& g, int64_t width, const MlpRoles& r) {
    const int64_t D = a_.hidden_size;
    const std::string x = r.gguf_suffix;
    emit(p + "gate_proj.weight", Shape{width, D}, r.gate, g + "ffn_gate" + x + ".weight");
    emit(p + "up_proj.weight", Shape{width, D}, r.up, g + "ffn_up" + x + ".weight");
    emit(p + "down_proj.weight", Shape{D, width}, r.down, g + "ffn_down" + x + ".weight");
  }

  void moe(const std::string& p, const std::string& g) {
    const int64_t D = a_.hidden_size;
    const int64_t E = a_.n_routed_experts;
    const int64_t W = a_.moe_intermediate_size;
    emit(p + "mlp.gate.weight", Shape{E, D}, R::kRouter, g + "ffn_gate_inp.weight");
    if (a_.topk_method == TopkMethod::kNoauxTc) {
      emit(p + "mlp.gate.e_score_correction_bias", Shape{E}, R::kRouterBias, g + "exp_probs_b.bias");
    }
    for (int64_t e = 0; e < E; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      emit(x + "gate_proj.weight", Shape{W, D}, R::kExpertGate, g + "ffn_gate_exps.weight", e);
      emit(x + "up_proj.weight", Shape{W, D}, R::kExpertUp, g + "ffn_up_exps.weight", e);
      emit(x + "down_proj.weight", Shape{D, W}, R::kExpertDown, g + "ffn_down_exps.weight", e);
    }
    if (a_.n_shared_experts > 0) mlp(p + "mlp.shared_experts.", g, a_.n_shared_experts * W, kSharedMlp);
  }

  // MTP module k (layer num_hidden_layers + k): h' = eh_proj([hnorm(h); enorm(emb(t+1))]).
  void mtp_inputs(const std::string& p, const std::string& g) {
    const int64_t D = a_.hidden_size;
    emit(p + "embed_tokens.weight", Shape{a_.vocab_size, D}, R::kMtpEmbed, g + "nextn.embed_tokens.weight");
    emit(p + "enorm.weight", Shape{D}, R::kMtpEnorm, g + "nextn.enorm.weight");
    emit(p + "hnorm.weight", Shape{D}, R::kMtpHnorm, g + "nextn.hnorm.weight");
    emit(p + "eh_proj.weight", Shape{D, 2 * D}, R::kMtpEhProj, g + "nextn.eh_proj.weight");
  }
  void mtp_outputs(const std::string& p, const std::string& g) {
    const int64_t D = a_.hidden_size;
    emit(p + "shared_head.norm.weight", Shape{D}, R::kMtpHeadNorm, g + "nextn.shared_head_norm.weight");
    emit(p + "shared_head.head.weight", Shape{a_.vocab_size, D}, R::kMtpHead,
         g + "nextn.shared_head_head.weight");
  }

  const ModelArgs& a_;
  const std::function<void(const TensorSpec&)>& fn_;
  DType base_;
  int64_t layer_ = -1;
  bool mtp_ = false;
};

}  // namespace

DType dtype_for_torch(const std::string& torch_dtype) {
  if (torch_dtype == "bfloat16") return DType::kBF16;
  if (torch_dtype == "float16") return DType::kF16;
  if (torch_dtype == "float32") return DType::kF32;
  fail(ErrorKind::kUnsupported, "torch_dtype \"", torch_dtype, "\" (known: bfloat16, float16, float32)");
}

void for_each_tensor(const ModelArgs& args, const std::function<void(const TensorSpec&)>& fn) {
  TableBuilder b(args, fn);
  if (args.is_deepseek()) {
    b.deepseek();
  } else {
    b.dense();
  }
}

std::vector<TensorSpec> tensor_table(const ModelArgs& args) {
  std::vector<TensorSpec> out;
  for_each_tensor(args, [&](const TensorSpec& s) { out.push_back(s); });
  return out;
}

}  // namespace whale::formats
