// Copies between core::Tensor and torch::Tensor, FP8 dequantization, and the name-for-name
// checkpoint loader/saver the libtorch model uses (the engine reads the same files).
#include "train/torch_io.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "core/convert.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/quant.h"
#include "formats/tensor_table.h"

namespace whale::train {
namespace {

using core::DType;

std::optional<torch::Dtype> torch_dtype_of(DType t) {
  switch (t) {
    case DType::kF32: return torch::kFloat32;
    case DType::kF64: return torch::kFloat64;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kI64: return torch::kInt64;
    case DType::kI32: return torch::kInt32;
    case DType::kI16: return torch::kInt16;
    case DType::kI8: return torch::kInt8;
    case DType::kU8: return torch::kUInt8;
    case DType::kBool: return torch::kBool;
    default: return std::nullopt;
  }
}

std::vector<int64_t> dims_of(const core::Shape& s) { return s.to_vector(); }

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

torch::Tensor to_torch(const core::Tensor& src) {
  const core::Tensor t = src.is_contiguous() ? src : src.clone();
  const auto dims = dims_of(t.shape());
  if (const auto td = torch_dtype_of(t.dtype())) {
    torch::Tensor out = torch::empty(dims, torch::TensorOptions().dtype(*td));
    if (t.numel() > 0) std::memcpy(out.data_ptr(), t.raw(), static_cast<size_t>(t.nbytes()));
    return out;
  }
  // f8_e4m3 and GGUF blocks: decode to float32 row by row (rows of block types are whole blocks).
  torch::Tensor out = torch::empty(dims, torch::TensorOptions().dtype(torch::kFloat32));
  if (t.numel() == 0) return out;
  if (t.dtype() == DType::kF8E4M3) {
    const auto* q = t.data<uint8_t>();
    float* o = out.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i) o[i] = core::f8e4m3_to_f32(q[i]);
    return out;
  }
  const int64_t cols = t.dim(-1);
  const int64_t rows = t.numel() / cols;
  const int64_t row_bytes = core::dtype_bytes(t.dtype(), cols);
  for (int64_t r = 0; r < rows; ++r) {
    core::convert_row(t.dtype(), static_cast<const std::byte*>(t.raw()) + r * row_bytes, DType::kF32,
                      out.data_ptr<float>() + r * cols, cols);
  }
  return out;
}

torch::Tensor dequantize_fp8(const core::Tensor& w, const core::Tensor& scale_inv, int64_t block) {
  if (w.dtype() != DType::kF8E4M3 || w.ndim() != 2) {
    fail(ErrorKind::kInvalidArgument, "FP8 weight must be a 2-d f8_e4m3 tensor, got ", core::dtype_name(w.dtype()),
         " ", w.shape().str());
  }
  if (block < 1) fail(ErrorKind::kInvalidArgument, "FP8 block size must be >= 1, got ", block);
  const int64_t rows = w.dim(0);
  const int64_t cols = w.dim(1);
  const core::Shape want{(rows + block - 1) / block, (cols + block - 1) / block};
  if (scale_inv.dtype() != DType::kF32 || !(scale_inv.shape() == want)) {
    fail(ErrorKind::kInvalidArgument, "FP8 scale_inv for a ", w.shape().str(), " weight with ", block, "x", block,
         " blocks must be f32 ", want.str(), ", got ", core::dtype_name(scale_inv.dtype()), " ",
         scale_inv.shape().str());
  }
  const core::Tensor q = w.is_contiguous() ? w : w.clone();
  const core::Tensor s = scale_inv.is_contiguous() ? scale_inv : scale_inv.clone();
  torch::Tensor out = torch::empty({rows, cols}, torch::TensorOptions().dtype(torch::kFloat32));
  core::dequantize_fp8_blocks(q.data<uint8_t>(), s.data<float>(), rows, cols, out.data_ptr<float>(), block);
  return out;
}

core::Tensor from_torch(const torch::Tensor& src) {
  const torch::Tensor t = src.detach().to(torch::kCPU).contiguous();
  if (t.dim() > core::Shape::kMaxDims) {
    fail(ErrorKind::kUnsupported, "tensor of ", t.dim(), " dims (whale tensors have at most ",
         core::Shape::kMaxDims, ")");
  }
  static const std::pair<torch::Dtype, DType> kMap[] = {
      {torch::kFloat32, DType::kF32}, {torch::kFloat64, DType::kF64}, {torch::kFloat16, DType::kF16},
      {torch::kBFloat16, DType::kBF16}, {torch::kInt64, DType::kI64}, {torch::kInt32, DType::kI32},
      {torch::kInt16, DType::kI16}, {torch::kInt8, DType::kI8}, {torch::kUInt8, DType::kU8},
      {torch::kBool, DType::kBool}};
  for (const auto& [td, cd] : kMap) {
    if (t.scalar_type() != td) continue;
    const std::vector<int64_t> dims(t.sizes().begin(), t.sizes().end());
    core::Tensor out = core::Tensor::empty(cd, core::Shape(std::span<const int64_t>(dims)));
    if (t.numel() > 0) std::memcpy(out.raw(), t.data_ptr(), static_cast<size_t>(out.nbytes()));
    return out;
  }
  fail(ErrorKind::kUnsupported, "torch dtype ", t.scalar_type(), " has no whale counterpart");
}

void load_state(torch::nn::Module& module, const formats::CheckpointReader& reader, torch::Dtype compute,
                int64_t fp8_block) {
  torch::NoGradGuard no_grad;
  auto fill = [&](const std::string& name, torch::Tensor& dst) {
    const formats::SafetensorsEntry* entry = reader.find(name);
    if (entry == nullptr) {
      fail(ErrorKind::kNotFound, "tensor ", name, " not found in checkpoint ", reader.dir());
    }
    const core::Tensor src = reader.view(name);
    torch::Tensor value;
    if (src.dtype() == DType::kF8E4M3) {
      const std::string suffix = ".weight";
      if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        fail(ErrorKind::kFormat, "checkpoint ", reader.dir(), ": FP8 tensor ", name, " is not a .weight");
      }
      const std::string scale_name = name + "_scale_inv";
      if (reader.find(scale_name) == nullptr) {
        fail(ErrorKind::kNotFound, "FP8 tensor ", name, " has no ", scale_name, " in checkpoint ", reader.dir());
      }
      try {
        value = dequantize_fp8(src, reader.view(scale_name), fp8_block);
      } catch (const Error& e) {
        fail(ErrorKind::kFormat, "checkpoint ", reader.dir(), ": tensor ", name, ": ", e.what());
      }
    } else {
      value = to_torch(src);
    }
    if (!value.sizes().equals(dst.sizes())) {
      fail(ErrorKind::kFormat, "checkpoint ", reader.dir(), ": tensor ", name, " has shape ", src.shape().str(),
           ", the model expects ", shape_str(dst));
    }
    dst.set_data(value.to(compute).contiguous());
  };
  for (auto& item : module.named_parameters(/*recurse=*/true)) fill(item.key(), item.value());
  for (auto& item : module.named_buffers(/*recurse=*/true)) fill(item.key(), item.value());
}

void save_state(const torch::nn::Module& module, const formats::ModelArgs& args, const std::string& dir) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) by_name[item.key()] = item.value();
  for (const auto& item : module.named_buffers(/*recurse=*/true)) by_name[item.key()] = item.value();

  formats::CheckpointWriter writer(dir);
  const auto table = formats::tensor_table(args);
  for (size_t i = 0; i < table.size(); ++i) {
    const formats::TensorSpec& s = table[i];
    if (s.kind == formats::TensorKind::kScaleInv) continue;  // written with its weight below
    const auto it = by_name.find(s.name);
    if (it == by_name.end()) fail(ErrorKind::kNotFound, "save_state: the model has no tensor ", s.name);
    const torch::Tensor value = it->second.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    if (!value.sizes().equals(s.shape.to_vector())) {
      fail(ErrorKind::kInternal, "save_state: tensor ", s.name, " has shape ", shape_str(value), ", table says ",
           s.shape.str());
    }
    const core::Tensor f32 = from_torch(value);
    if (s.dtype == DType::kF8E4M3) {
      const int64_t block = args.fp8_block_rows;
      if (args.fp8_block_cols != block) fail(ErrorKind::kUnsupported, "save_state: FP8 blocks must be square");
      core::Tensor q = core::Tensor::empty(DType::kF8E4M3, s.shape);
      core::Tensor scale = core::Tensor::empty(
          DType::kF32, core::Shape{(s.shape[0] + block - 1) / block, (s.shape[1] + block - 1) / block});
      core::quantize_fp8_blocks(f32.data<float>(), s.shape[0], s.shape[1], q.data<uint8_t>(), scale.data<float>(),
                                block);
      writer.add(s.name, q);
      writer.add(s.name + "_scale_inv", scale);
    } else if (s.dtype == DType::kF32) {
      writer.add(s.name, f32);
    } else {
      core::Tensor out = core::Tensor::empty(s.dtype, s.shape);
      core::convert_row(DType::kF32, f32.raw(), s.dtype, out.raw(), f32.numel());
      writer.add(s.name, out);
    }
  }
  std::filesystem::create_directories(dir);
  core::write_file_atomic((std::filesystem::path(dir) / "config.json").string(), formats::model_args_to_json(args));
  writer.write();
}

}  // namespace whale::train
