// The three family records. Everything that differs between families and is not a config field
// lives here, so a new family is a new forward file, a tensor-table entry and one record.
#include "model/architecture.h"

#include "core/error.h"

namespace whale::model {
namespace {

using formats::ModelArgs;

// deepseek_v2 / deepseek_v3 (V2, V2-Lite, V3, R1): MLA + MoE + MTP. A cached row is the latent and
// the shared rope key, [c_kv | k_pe]; MTP modules are layers after the main stack, with caches.
constexpr Architecture kDeepseek{
    .name = "deepseek",
    .attention = Attention::kMla,
    .forward = deepseek_forward,
    .layers = [](const ModelArgs& a) { return a.total_layers(); },
    .kv_row_width = [](const ModelArgs& a) { return a.kv_lora_rank + a.qk_rope_head_dim; },
    .mha_row_width = [](const ModelArgs& a) { return a.num_attention_heads * (a.qk_head_dim() + a.v_head_dim); },
    .kv_row_contents = "MLA latent + rope key",
    .mtp = true,
    .fp8 = true,
    .gguf_llama_rope = false,
};

// A GQA row holds K then V of every KV head.
int64_t gqa_row_width(const ModelArgs& a) { return 2 * a.num_key_value_heads * a.head_dim; }
int64_t mha_row_width(const ModelArgs& a) { return 2 * a.num_attention_heads * a.head_dim; }
int64_t main_stack(const ModelArgs& a) { return a.num_hidden_layers; }

// qwen2 (R1-Distill-Qwen): GQA with q/k/v bias, SwiGLU.
constexpr Architecture kQwen2{
    .name = "qwen2",
    .attention = Attention::kGqa,
    .forward = dense_forward,
    .layers = main_stack,
    .kv_row_width = gqa_row_width,
    .mha_row_width = mha_row_width,
    .kv_row_contents = "K and V per KV head",
    .mtp = false,
    .fp8 = false,
    .gguf_llama_rope = false,
};

// llama (R1-Distill-Llama): as qwen2 without biases, plus llama.cpp's permuted q/k in GGUF.
constexpr Architecture kLlama{
    .name = "llama",
    .attention = Attention::kGqa,
    .forward = dense_forward,
    .layers = main_stack,
    .kv_row_width = gqa_row_width,
    .mha_row_width = mha_row_width,
    .kv_row_contents = "K and V per KV head",
    .mtp = false,
    .fp8 = false,
    .gguf_llama_rope = true,
};

}  // namespace

const Architecture& architecture(const formats::ModelArgs& a) {
  switch (a.family) {
    case formats::Family::kDeepseekV2:
    case formats::Family::kDeepseekV3:
      return kDeepseek;
    case formats::Family::kQwen2:
      return kQwen2;
    case formats::Family::kLlama:
      return kLlama;
  }
  fail(ErrorKind::kInternal, "no architecture for model_type ", a.model_type);
}

}  // namespace whale::model
