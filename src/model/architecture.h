// Architecture: what tells the model families apart, as one record per family chosen once from
// config.json's model_type (never from tensor sizes): its forward pass, cache shape and file quirks.
#pragma once

#include <cstdint>

#include "formats/model_args.h"
#include "model/forward.h"

namespace whale::model {

enum class Attention {
  kMla,  // DeepSeek multi-head latent attention: one compressed row per token shared by all heads
  kGqa,  // grouped-query attention: K and V per KV head
};

using ForwardFn = void (*)(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt,
                           Scratch& s, core::ThreadPool& pool, ForwardOutput& out);
using ArgsFn = int64_t (*)(const formats::ModelArgs& a);

struct Architecture {
  const char* name;     // "deepseek", "qwen2", "llama"
  Attention attention;
  ForwardFn forward;    // the main stack (model::forward checks the batch, then calls this)
  ArgsFn layers;        // decoder layers with weights and a cache: the main stack plus MTP modules
  ArgsFn kv_row_width;  // values one cached row holds per layer and token
  ArgsFn mha_row_width;  // what standard multi-head attention would cache instead (for `whale info`)
  const char* kv_row_contents;  // what a cached row holds, in words
  bool mtp;             // checkpoints may carry multi-token-prediction modules
  bool fp8;             // checkpoints may come in block-scaled FP8
  // llama.cpp's llama graph: its GGUF stores q/k rows permuted to adjacent rotary pairs and llama3
  // RoPE scaling as a rope_freqs tensor (convert_hf_to_gguf.py's LlamaModel).
  bool gguf_llama_rope;
};

// The record for a.family. deepseek_v2 and deepseek_v3 share one (only their router's weight
// scaling differs, inside moe_gate.cpp); qwen2 and llama share dense_forward.
const Architecture& architecture(const formats::ModelArgs& a);

// The family forward passes the records point to (deepseek.cpp, dense.cpp).
void deepseek_forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& s,
                      core::ThreadPool& pool, ForwardOutput& out);
void dense_forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& s,
                   core::ThreadPool& pool, ForwardOutput& out);

}  // namespace whale::model
