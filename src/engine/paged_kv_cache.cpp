// Address arithmetic with a bounds check that names the slot and position.
#include "engine/paged_kv_cache.h"

#include "core/error.h"

namespace whale::engine {

PagedKvCache::PagedKvCache(const formats::ModelArgs& args, int32_t n_blocks, int32_t block_size, int32_t n_slots,
                           int64_t max_positions, core::DType type, int64_t layer_begin, int64_t layer_end)
    : begin_(layer_begin),
      layers_((layer_end < 0 ? model::kv_layers(args) : layer_end) - layer_begin),
      width_(model::kv_row_width(args)),
      block_size_(block_size),
      n_blocks_(n_blocks),
      max_positions_(max_positions),
      type_(type),
      elem_(model::kv_type_bytes(type)),
      data_(static_cast<size_t>(layers_ * n_blocks * block_size * width_ * elem_)),
      tables_(static_cast<size_t>(n_slots), nullptr) {}

void* PagedKvCache::row_data(int64_t layer, int64_t slot, int64_t pos) {
  const BlockTable* table = tables_.at(static_cast<size_t>(slot));
  const int64_t i = pos / block_size_;
  layer -= begin_;
  if (!table || layer < 0 || layer >= layers_ || pos < 0 || i >= static_cast<int64_t>(table->size())) {
    fail(ErrorKind::kInternal, "KV position ", pos, " of slot ", slot, " (layer ", layer + begin_, ") has no block");
  }
  const int64_t block = (*table)[static_cast<size_t>(i)];
  return data_.data() + ((layer * n_blocks_ + block) * block_size_ + pos % block_size_) * width_ * elem_;
}

}  // namespace whale::engine
