// The bridge between whale's tensors/checkpoints and libtorch: copies both ways, DeepSeek FP8
// block dequantization, and loading/saving a module whose parameter names are Hugging Face's.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "core/tensor.h"
#include "formats/checkpoint.h"
#include "formats/model_args.h"

namespace whale::train {

// A contiguous torch copy. Plain dtypes keep their type (f32, f64, f16, bf16, i64, i32, i16, i8,
// u8, bool); f8_e4m3 and GGUF block types become float32 values, decoded exactly as core/ does.
torch::Tensor to_torch(const core::Tensor& t);

// DeepSeek FP8 weight: w[r][c] = f8(q[r][c]) * scale_inv[r / block][c / block] as float32 [rows, cols]
// (REFERENCE §4; edge blocks partial). Throws kInvalidArgument naming the shapes when they disagree.
torch::Tensor dequantize_fp8(const core::Tensor& w, const core::Tensor& scale_inv, int64_t block = 128);

// An owning core copy of a CPU tensor (any layout; at most 4 dims). Throws kUnsupported for dtypes
// core has no counterpart for.
core::Tensor from_torch(const torch::Tensor& t);

// Fills every parameter and buffer of `module` from the checkpoint tensor of the same name (Hugging
// Face names), FP8 weights dequantized through their `<name>_scale_inv` sibling, all cast to
// `compute`. Throws whale::Error (kNotFound / kFormat) naming the tensor and checkpoint when a
// tensor is missing or its shape differs. Tensors in the checkpoint the module lacks are ignored.
void load_state(torch::nn::Module& module, const formats::CheckpointReader& reader, torch::Dtype compute,
                int64_t fp8_block = 128);

// Writes `dir` as a Hugging Face checkpoint of `args`: config.json (formats::model_args_to_json)
// and safetensors in the tensor table's order and stored dtypes (FP8 tensors re-quantized with
// fresh block scales when args.fp8). Every table tensor must be a parameter or buffer of `module`.
void save_state(const torch::nn::Module& module, const formats::ModelArgs& args, const std::string& dir);

}  // namespace whale::train
