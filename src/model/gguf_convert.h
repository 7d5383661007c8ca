// Hugging Face checkpoint -> GGUF in llama.cpp's layout (`whale convert`), and GGUF -> GGUF
// re-encoding (`whale quantize`). Every tensor's name, shape and dtype comes from one plan.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "formats/model_args.h"
#include "model/quant_mix.h"

namespace whale::model {

// llama.cpp's name for half of a split kv_b_proj: "blk.3.attn_kv_b.weight" -> "blk.3.attn_k_b.weight".
inline std::string split_kv_b_name(std::string kv_b_gguf_name, const char* part) {
  const size_t at = kv_b_gguf_name.find("attn_kv_b");
  if (at != std::string::npos) kv_b_gguf_name.replace(at, 9, part);
  return kv_b_gguf_name;
}

struct ConvertOptions {
  // The dtype of weight matrices: f32, f16, bf16 or a block type (q8_0, q4_0, q5_0, q2_k..q6_k,
  // iq4_xs, ...). Empty: as stored, with FP8 checkpoints written as bf16.
  std::optional<core::DType> type;
  // A llama-quantize mix ("Q4_K_M", see quant_mix.h): each tensor gets its type from the mix
  // instead of `type`. Every type in the plan must be one whale encodes.
  std::string mix;
  // Write the MTP modules as blk.{n}.nextn.* plus their decoder layer (llama.cpp drops them).
  bool keep_mtp = false;
  std::string name;           // general.name; default: the checkpoint directory's name
  std::string tokenizer_pre;  // tokenizer.ggml.pre; default: formats::gguf_tokenizer_pre(family)
  int threads = 0;            // 0: all hardware threads
  bool progress = true;
};

// One tensor of the output file.
struct GgufTensorPlan {
  std::string name;   // llama.cpp's name, e.g. "blk.3.ffn_down_exps.weight"
  core::Shape shape;  // whale order (GGUF's ne reversed): a stacked expert tensor is [E, out, in]
  core::DType dtype;
};

// The dtype a matrix with rows of `row_elems` gets when `target` is asked for. Block types need
// whole blocks per row: like llama.cpp's quantizer, a k-quant falls back to a 32-block type (q4_0
// for q2_k/q3_k, q5_0 for q4_k, q5_1 for q5_k, q8_0 for q6_k), iq4_xs to iq4_nl, and then to f16.
core::DType gguf_matrix_dtype(core::DType target, int64_t row_elems);

// The tensors converting a checkpoint of `args` writes, in file order (no I/O).
std::vector<GgufTensorPlan> plan_gguf_tensors(const formats::ModelArgs& args, const ConvertOptions& options);

// Writes `out_path` atomically from the checkpoint in `hf_dir` (config.json, safetensors,
// tokenizer.json + tokenizer_config.json when present). Throws whale::Error naming the file and
// tensor at fault.
void convert_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options);

struct QuantizeOptions {
  core::DType type = core::DType::kQ8_0;
  std::string mix;  // a llama-quantize mix ("Q4_K_M"): per-tensor types from quant_mix.h instead of `type`
  int threads = 0;
  bool progress = true;
};

// Re-encodes every weight matrix of a GGUF file (2-D and stacked 3-D tensors except the MoE
// router ffn_gate_inp) in `type`, with gguf_matrix_dtype's fallback, or each tensor in its type
// from `mix`; other tensors and all metadata are copied, general.file_type and
// general.quantization_version updated.
void quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options);

// The tensors `whale quantize --type MIX` writes from `in` (a GGUF file, or a Hugging Face
// directory, where config.json alone suffices), each with the ggml type name it gets. No encoding.
std::vector<MixTensor> plan_quantize_mix(const std::string& in, const QuantMix& mix);

// The whale dtype of each planned type, in order; throws whale::Error (kUnsupported) naming every
// type whale cannot encode yet and a tensor that needs it.
std::vector<core::DType> mix_dtypes(const std::vector<MixTensor>& plan);

}  // namespace whale::model
