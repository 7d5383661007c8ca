// Loading a GGUF file (whale's or llama.cpp's layout for deepseek2, qwen2, llama) into the same
// Weights the Hugging Face loader builds, as zero-copy views of the mapped file where possible.
#pragma once

#include <string>

#include "model/weights.h"

namespace whale::model {

// ModelArgs come from the metadata (formats::model_args_from_gguf); every tensor the tensor table
// implies must be present with its shape (whale::Error naming the tensor and file otherwise).
// Routed experts are slices of the stacked [E, out, in] tensors. Two tensors are rebuilt into
// owned memory: MLA's kv_b_proj from attn_k_b/attn_v_b (in their dtype when both are f32/f16/bf16,
// else f32: H*(nope+v)*kv_lora_rank values per layer, 64 MiB per layer at V3 size in f32), and
// llama's attn_q/attn_k, whose rows llama.cpp's converter permuted (a copy in the stored dtype).
// `options.quant` re-encodes matrices exactly as load_weights does.
Weights load_weights_gguf(const std::string& path, const LoadOptions& options = {});

}  // namespace whale::model
