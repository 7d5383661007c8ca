// llama.cpp's quantization mixes (`llama-quantize`'s file types Q4_K_M, Q6_K, ...): which GGUF type
// each tensor of a model gets. A pure plan over names and shapes, in ggml's type names, no encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "formats/gguf_model_args.h"

namespace whale::model {

// One mix: its llama-quantize name, general.file_type value and the type most matrices get.
struct QuantMix {
  std::string_view name;          // "Q4_K_M"
  uint32_t file_type;             // llama_ftype: 15
  std::string_view default_type;  // ggml's name: "q4_K"
};

// Every mix whale plans, in llama-quantize's listing order.
const std::vector<QuantMix>& quant_mixes();
// The mix called `name` (upper case, as llama-quantize spells it), or nullptr.
const QuantMix* find_quant_mix(std::string_view name);

// What the rules read from the model: general.architecture and the hyperparameters llama.cpp's
// quantizer consults (block_count, attention.head_count(_kv) of layer 0, expert_count).
struct MixModel {
  std::string arch;  // "llama", "qwen2", "deepseek2"
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_expert = 0;
};

struct MixTensor {
  std::string name;   // GGUF name, e.g. "blk.3.ffn_down_exps.weight"
  core::Shape shape;  // whale order (GGUF's ne reversed): the last dimension is the row
  std::string type;   // ggml name of the type stored now ("f32", "bf16", ...): kept when not quantized
};

// The ggml type name each tensor gets under `mix`, in the order of `tensors`. The rules are
// llama.cpp's (llama_tensor_get_type, without an importance matrix or overrides): the attn_v and
// ffn_down layers chosen by use_more_bits get more bits, output.weight (or a tied token_embd) goes
// to q6_K, a row that is not a whole number of blocks falls back (q4_K -> q5_0, q6_K -> q8_0, ...,
// then f16). Norms, biases, the MoE router and other 1-D tensors keep their type.
std::vector<std::string> plan_quant_mix(const QuantMix& mix, const MixModel& model, const std::vector<MixTensor>& tensors);

// The MixModel and MixTensor list of a GGUF file (throws whale::Error naming a missing key).
MixModel mix_model_of(const formats::GgufFile& file);
MixModel mix_model_of(const formats::GgufMetadata& metadata);  // what `whale convert` would write
std::vector<MixTensor> mix_tensors_of(const formats::GgufFile& file);

// Elements per block of a ggml type name (1 for f32/f16/bf16); 0 when the name is unknown.
int64_t ggml_block_elems(std::string_view ggml_type);

}  // namespace whale::model
