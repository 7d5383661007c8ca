// ModelArgs <-> GGUF metadata: the general.*, {arch}.* and tokenizer.ggml.* keys llama.cpp's
// converter writes for deepseek2, qwen2 and llama, plus whale.* keys that make the inverse exact.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"
#include "formats/model_args.h"

namespace whale::formats {

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

// llama.cpp's general.architecture: "deepseek2" (V2, V2-Lite, V3, R1), "qwen2", "llama".
const char* gguf_architecture(Family family);
// tokenizer.ggml.pre llama.cpp's converter picks for each family's reference tokenizer.
const char* gguf_tokenizer_pre(Family family);

// LlamaFileType values for general.file_type.
enum class GgufFileType : uint32_t {
  kAllF32 = 0, kMostlyF16 = 1, kMostlyQ4_0 = 2, kMostlyQ8_0 = 7, kMostlyQ4_K_S = 14, kMostlyQ6_K = 18,
  kMostlyBF16 = 32, kMostlyQ2_K = 10, kMostlyQ3_K_S = 11, kMostlyQ5_K_S = 16,
  kMostlyQ4_1 = 3, kMostlyQ5_0 = 8, kMostlyQ5_1 = 9, kMostlyIQ4_NL = 25, kMostlyIQ4_XS = 30,
};

struct GgufArgsOptions {
  std::string name;                                   // general.name
  GgufFileType file_type = GgufFileType::kAllF32;     // general.file_type
  bool quantized = false;                             // adds general.quantization_version = 2
  // Keep the MTP modules: block_count counts them and {arch}.nextn_predict_layers is written
  // (GLM's convention in llama.cpp). Otherwise the file describes the main stack only.
  bool keep_mtp = false;
};

// Every key in the order written. Float values llama.cpp keeps as f32 also get an exact f64
// whale.* twin; fields llama.cpp has no key for (topk_method, moe_layer_freq, mscale, ...) get one.
GgufMetadata model_args_to_gguf(const ModelArgs& args, const GgufArgsOptions& options);

// The inverse, for whale's files (exact) and for files made by llama.cpp (missing optional keys
// take llama.cpp's defaults; see docs/gguf.md for every inference). Tensors are consulted for
// what only they say: exp_probs_b (noaux_tc), output.weight (tied embeddings), attn_q.bias,
// rope_freqs.weight (llama3 scaling) and token_embd.weight (vocabulary size). Throws whale::Error
// naming the key and file for a missing required key, an unknown architecture or a bad value;
// the result passes validate_model_args.
ModelArgs model_args_from_gguf(const GgufFile& file);

// llama3 per-frequency divisors (rope_freqs.weight, head_dim/2 values) as llama.cpp's converter
// computes them from rope_theta and rope_scaling.
std::vector<float> llama3_rope_freqs(const ModelArgs& args);

// tokenizer.ggml.* from a Hugging Face tokenizer.json (+ tokenizer_config.json text, may be empty):
// model "gpt2", tokens padded to vocab_size with "[PAD{i}]" (UNUSED), token types (NORMAL,
// CONTROL for special added tokens, USER_DEFINED for other added tokens), merges "a b", bos/eos/pad
// ids from the config's token strings, add_bos/add_eos, chat_template. `source` names the files.
GgufMetadata tokenizer_to_gguf(const std::string& tokenizer_json, const std::string& tokenizer_config_json,
                               int64_t vocab_size, const std::string& pre, const std::string& source);

}  // namespace whale::formats
