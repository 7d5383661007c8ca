// The contiguous cache's indexing, with bounds checks that name the limit (a too-long prompt is an
// error, never a write past the end); row widths and layer counts come from the family's record;
// the typed row views and the rounding store every cache shares.
#include "model/kv_cache.h"

#include "core/convert.h"
#include "core/error.h"
#include "model/architecture.h"

namespace whale::model {

core::DType kv_type_from_name(std::string_view name) {
  if (name == "bf16") return core::DType::kBF16;
  if (name == "f32") return core::DType::kF32;
  fail(ErrorKind::kInvalidArgument, "KV cache type '", name, "' is not one of bf16, f32");
}

int64_t kv_type_bytes(core::DType type) {
  if (type == core::DType::kBF16) return 2;
  if (type == core::DType::kF32) return 4;
  fail(ErrorKind::kInvalidArgument, "KV cache type ", core::dtype_name(type), " is not one of bf16, f32");
}

float* KvCache::row(int64_t layer, int64_t seq, int64_t pos) {
  if (dtype() != core::DType::kF32) fail(ErrorKind::kInternal, "f32 row of a ", core::dtype_name(dtype()), " KV cache");
  return static_cast<float*>(row_data(layer, seq, pos));
}

uint16_t* KvCache::row_bf16(int64_t layer, int64_t seq, int64_t pos) {
  if (dtype() != core::DType::kBF16) fail(ErrorKind::kInternal, "bf16 row of a ", core::dtype_name(dtype()), " KV cache");
  return static_cast<uint16_t*>(row_data(layer, seq, pos));
}

void KvCache::store(int64_t layer, int64_t seq, int64_t pos, int64_t offset, const float* values, int64_t n) {
  auto* row = static_cast<uint8_t*>(row_data(layer, seq, pos)) + offset * kv_type_bytes(dtype());
  core::convert_row(core::DType::kF32, values, dtype(), row, n);
}

void KvCache::load(int64_t layer, int64_t seq, int64_t pos, int64_t offset, float* out, int64_t n) {
  const auto* row = static_cast<const uint8_t*>(row_data(layer, seq, pos)) + offset * kv_type_bytes(dtype());
  core::convert_row(dtype(), row, core::DType::kF32, out, n);
}

int64_t kv_row_width(const formats::ModelArgs& a) { return architecture(a).kv_row_width(a); }

int64_t kv_layers(const formats::ModelArgs& a) { return architecture(a).layers(a); }

ContiguousKvCache::ContiguousKvCache(const formats::ModelArgs& args, int64_t n_seqs, int64_t max_positions,
                                     core::DType type)
    : layers_(kv_layers(args)),
      n_seqs_(n_seqs),
      max_pos_(max_positions),
      width_(kv_row_width(args)),
      type_(type),
      elem_(kv_type_bytes(type)) {
  if (n_seqs <= 0 || max_positions <= 0) fail(ErrorKind::kInvalidArgument, "kv cache needs sequences and positions");
  data_ = core::PageBuffer(static_cast<size_t>(layers_ * n_seqs_ * max_pos_ * width_ * elem_));  // zeroed
}

void* ContiguousKvCache::row_data(int64_t layer, int64_t seq, int64_t pos) {
  if (layer < 0 || layer >= layers_ || seq < 0 || seq >= n_seqs_ || pos < 0 || pos >= max_pos_) {
    fail(ErrorKind::kOutOfRange, "kv cache position ", pos, " of sequence ", seq, " layer ", layer,
         " is outside the cache (", n_seqs_, " sequences x ", max_pos_, " positions)");
  }
  return data_.data() + ((layer * n_seqs_ + seq) * max_pos_ + pos) * width_ * elem_;
}

}  // namespace whale::model
