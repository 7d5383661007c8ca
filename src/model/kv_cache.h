// KvCache: one row per (layer, sequence, position), of bf16 (the default: half the memory and half
// the bytes attention reads per token) or f32. MLA rows hold the compressed latent and the shared
// rope key ([c_kv | k_pe], 576 values at V3 size); GQA rows hold K then V of every KV head. The
// interface hides the layout, so the engine's paged cache can implement it too.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/page_buffer.h"
#include "formats/model_args.h"

namespace whale::model {

class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t row_width() const = 0;
  virtual int64_t max_positions() const = 0;
  // The element type of every row: kF32 or kBF16.
  virtual core::DType dtype() const = 0;
  // The row for a position (row_width() values of dtype()); must stay valid until the next call
  // that may reallocate.
  virtual void* row_data(int64_t layer, int64_t seq, int64_t pos) = 0;

  // Typed views of row_data; each fails (kInternal) on a cache of the other type.
  float* row(int64_t layer, int64_t seq, int64_t pos);
  uint16_t* row_bf16(int64_t layer, int64_t seq, int64_t pos);
  // Stores n f32 values at [offset, offset + n) of a row, rounded to the cache's type (bf16:
  // round to nearest even, once, at write).
  void store(int64_t layer, int64_t seq, int64_t pos, int64_t offset, const float* values, int64_t n);
  // Reads n values at [offset, offset + n) of a row as f32 (exact: bf16 widens without rounding).
  void load(int64_t layer, int64_t seq, int64_t pos, int64_t offset, float* out, int64_t n);
};

// The KV element type a name selects ("bf16" or "f32"); throws kInvalidArgument naming the choices.
core::DType kv_type_from_name(std::string_view name);
// Bytes of one cached element of `type`.
int64_t kv_type_bytes(core::DType type);

// Values per cached row for this model (Architecture::kv_row_width).
int64_t kv_row_width(const formats::ModelArgs& args);
// Layers that keep a cache: the main stack plus MTP modules (Architecture::layers).
int64_t kv_layers(const formats::ModelArgs& args);

// A fixed-size cache: n_seqs sequences of up to max_positions each, contiguous per sequence.
class ContiguousKvCache final : public KvCache {
 public:
  ContiguousKvCache(const formats::ModelArgs& args, int64_t n_seqs, int64_t max_positions,
                    core::DType type = core::DType::kBF16);
  int64_t row_width() const override { return width_; }
  int64_t max_positions() const override { return max_pos_; }
  core::DType dtype() const override { return type_; }
  void* row_data(int64_t layer, int64_t seq, int64_t pos) override;
  int64_t bytes() const { return static_cast<int64_t>(data_.size()); }

 private:
  int64_t layers_, n_seqs_, max_pos_, width_;
  core::DType type_;
  int64_t elem_;  // bytes per element
  core::PageBuffer data_;
};

}  // namespace whale::model
