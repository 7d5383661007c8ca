// The single table of every tensor a model of each family has: Hugging Face name, shape, stored
// dtype, and the GGUF name llama.cpp uses. Loaders, writers, `whale init`, `whale info`, the
// converter and the tests all walk this one list, so they cannot disagree.
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

struct TensorSpec {
  std::string name;       // Hugging Face name, e.g. "model.layers.3.mlp.experts.17.down_proj.weight"
  core::Shape shape;      // Hugging Face (row-major, [out, in]) shape
  core::DType dtype;      // dtype as a checkpoint of these args stores it
  TensorKind kind;
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
