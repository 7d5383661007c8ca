// KvCache: one row of f32 per (layer, sequence, position). MLA rows hold the compressed latent and
// the shared rope key ([c_kv | k_pe], 576 values at V3 size); GQA rows hold K then V of every KV
// head. The interface hides the layout, so the engine's paged cache can implement it too.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_args.h"

namespace whale::model {

class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t row_width() const = 0;
  virtual int64_t max_positions() const = 0;
  // The row for a position; must stay valid until the next call that may reallocate.
  virtual float* row(int64_t layer, int64_t seq, int64_t pos) = 0;
};

// Values per cached row for this model (Architecture::kv_row_width).
int64_t kv_row_width(const formats::ModelArgs& args);
// Layers that keep a cache: the main stack plus MTP modules (Architecture::layers).
int64_t kv_layers(const formats::ModelArgs& args);

// A fixed-size cache: n_seqs sequences of up to max_positions each, contiguous per sequence.
class ContiguousKvCache final : public KvCache {
 public:
  ContiguousKvCache(const formats::ModelArgs& args, int64_t n_seqs, int64_t max_positions);
  int64_t row_width() const override { return width_; }
  int64_t max_positions() const override { return max_pos_; }
  float* row(int64_t layer, int64_t seq, int64_t pos) override;
  int64_t bytes() const { return static_cast<int64_t>(data_.size() * sizeof(float)); }

 private:
  int64_t layers_, n_seqs_, max_pos_, width_;
  std::vector<float> data_;
};

}  // namespace whale::model
