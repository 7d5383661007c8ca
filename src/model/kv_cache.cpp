// The contiguous cache's indexing, with bounds checks that name the limit (a too-long prompt is an
// error, never a write past the end); row widths and layer counts come from the family's record.
#include "model/kv_cache.h"

#include "core/error.h"
#include "model/architecture.h"

namespace whale::model {

int64_t kv_row_width(const formats::ModelArgs& a) { return architecture(a).kv_row_width(a); }

int64_t kv_layers(const formats::ModelArgs& a) { return architecture(a).layers(a); }

ContiguousKvCache::ContiguousKvCache(const formats::ModelArgs& args, int64_t n_seqs, int64_t max_positions)
    : layers_(kv_layers(args)), n_seqs_(n_seqs), max_pos_(max_positions), width_(kv_row_width(args)) {
  if (n_seqs <= 0 || max_positions <= 0) fail(ErrorKind::kInvalidArgument, "kv cache needs sequences and positions");
  data_.assign(static_cast<size_t>(layers_ * n_seqs_ * max_pos_ * width_), 0.0f);
}

float* ContiguousKvCache::row(int64_t layer, int64_t seq, int64_t pos) {
  if (layer < 0 || layer >= layers_ || seq < 0 || seq >= n_seqs_ || pos < 0 || pos >= max_pos_) {
    fail(ErrorKind::kOutOfRange, "kv cache position ", pos, " of sequence ", seq, " layer ", layer,
         " is outside the cache (", n_seqs_, " sequences x ", max_pos_, " positions)");
  }
  return data_.data() + ((layer * n_seqs_ + seq) * max_pos_ + pos) * width_;
}

}  // namespace whale::model
