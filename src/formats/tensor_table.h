// The single table of every tensor a model of each family has: Hugging Face name, shape, stored
// dtype, the GGUF name llama.cpp uses and the role it plays. Loaders (binding by role), writers,
// `whale init`, `whale info`, the converter and the tests all walk this one list, so they cannot disagree.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "formats/model_args.h"

namespace whale::formats {

enum class TensorKind {
  kEmbedding,   // token embedding table [vocab, hidden]
  kOutput,      // lm_head [vocab, hidden]
  kNorm,        // RMSNorm weight [n], initialised to 1
  kLinear,      // a matrix [out, in] (attention, MLP, shared experts, eh_proj)
  kExpert,      // a routed expert's matrix [out, in]
  kBias,        // a linear layer's bias [out] (qwen2 q/k/v)
  kRouter,      // MoE gate.weight [n_routed_experts, hidden]
  kRouterBias,  // MoE gate.e_score_correction_bias [n_routed_experts] (noaux_tc), f32
  kScaleInv,    // FP8 block scales of the preceding matrix [ceil(out/128), ceil(in/128)], f32
};

// What a tensor is in the model's structure: the binder in model/ (tensor_source.cpp) maps each role
// to one field of Weights, so a Hugging Face name is spelled only here. A layer's roles apply to the
// layer in TensorSpec::layer; a routed expert's to the expert in TensorSpec::expert.
enum class TensorRole {
  kEmbed, kFinalNorm, kLmHead,
  kAttnNorm, kFfnNorm,                                               // every decoder layer
  kMlaQA, kMlaQANorm, kMlaQB, kMlaQ, kMlaKvA, kMlaKvANorm, kMlaKvB, kMlaO,  // deepseek attention
  kGqaQ, kGqaK, kGqaV, kGqaO, kGqaQBias, kGqaKBias, kGqaVBias,       // qwen2 / llama attention
  kMlpGate, kMlpUp, kMlpDown,                                        // a dense layer's MLP
  kRouter, kRouterBias,                                              // MoE gate
  kExpertGate, kExpertUp, kExpertDown,                               // a routed expert
  kSharedGate, kSharedUp, kSharedDown,                               // the shared experts
  kMtpEmbed, kMtpEnorm, kMtpHnorm, kMtpEhProj, kMtpHeadNorm, kMtpHead,  // an MTP module's own tensors
  kScaleInv,                                                         // FP8 scales, read with their weight
};

struct TensorSpec {
  std::string name;       // Hugging Face name, e.g. "model.layers.3.mlp.experts.17.down_proj.weight"
  core::Shape shape;      // Hugging Face (row-major, [out, in]) shape
  core::DType dtype;      // dtype as a checkpoint of these args stores it
  TensorKind kind;        // follows from the role
  TensorRole role;
  int64_t layer = -1;     // decoder layer index (MTP modules follow the main stack), -1 for none
  int64_t expert = -1;    // routed expert index, -1 for none
  bool mtp = false;       // belongs to a multi-token-prediction module
  // llama.cpp's GGUF name; routed experts share one stacked tensor ("blk.3.ffn_down_exps.weight")
  // indexed by `expert`. Empty when GGUF has no counterpart (FP8 scales, MTP duplicates).
  std::string gguf_name;
};

// Calls `fn` for every tensor in checkpoint order: embeddings, then each layer, then the final
// norm and head. An FP8 matrix is followed by its `*_scale_inv`.
void for_each_tensor(const ModelArgs& args, const std::function<void(const TensorSpec&)>& fn);
std::vector<TensorSpec> tensor_table(const ModelArgs& args);

// The storage dtype for torch_dtype ("bfloat16", "float16", "float32").
core::DType dtype_for_torch(const std::string& torch_dtype);

}  // namespace whale::formats
