// Test models whose every matrix row is a multiple of 256 elements (the K-quant block), so every
// GGUF block type applies to every matrix: a 2-layer DeepSeek-V3 shape and a Llama shape.
#pragma once

#include "formats/model_args.h"
#include "model/presets.h"

namespace whale::model::testing {

inline formats::ModelArgs wide_deepseek() {
  formats::ModelArgs a = find_preset("tiny-deepseek-v3").args;
  a.hidden_size = 256;
  a.intermediate_size = 256;
  a.moe_intermediate_size = 256;
  a.q_lora_rank = 256;
  a.kv_lora_rank = 256;
  a.qk_nope_head_dim = 32;
  a.qk_rope_head_dim = 16;
  a.v_head_dim = 64;  // o_proj rows: 4 heads * 64 = 256
  a.num_hidden_layers = 2;
  return a;
}

inline formats::ModelArgs wide_llama() {
  formats::ModelArgs a = find_preset("tiny-llama").args;
  a.hidden_size = 256;
  a.intermediate_size = 512;
  a.head_dim = 64;  // 4 heads * 64 = 256
  return a;
}

}  // namespace whale::model::testing
