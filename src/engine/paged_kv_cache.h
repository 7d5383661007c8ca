// PagedKvCache: model::KvCache over fixed-size blocks. A cache slot (the seq id a Batch uses) is
// bound to its sequence's block table; position p of slot s lives in block table[p / block_size]
// at row p % block_size. Rows are bf16 or f32 (model::KvCache). A pipeline stage (rank_link.h) keeps
// the rows of its layers [layer_begin, layer_end) only, still addressed by the global layer index.
#pragma once

#include <cstdint>
#include <vector>

#include "core/page_buffer.h"
#include "engine/block_manager.h"
#include "formats/model_args.h"
#include "model/kv_cache.h"

namespace whale::engine {

class PagedKvCache final : public model::KvCache {
 public:
  PagedKvCache(const formats::ModelArgs& args, int32_t n_blocks, int32_t block_size, int32_t n_slots,
               int64_t max_positions, core::DType type = core::DType::kBF16, int64_t layer_begin = 0,
               int64_t layer_end = -1);

  int64_t row_width() const override { return width_; }
  int64_t max_positions() const override { return max_positions_; }
  core::DType dtype() const override { return type_; }
  void* row_data(int64_t layer, int64_t slot, int64_t pos) override;

  // Slot `slot` reads and writes through `table` (owned by the sequence, which outlives the step).
  void bind(int32_t slot, const BlockTable* table) { tables_.at(static_cast<size_t>(slot)) = table; }
  int64_t bytes() const { return static_cast<int64_t>(data_.size()); }

 private:
  int64_t begin_, layers_, width_, block_size_, n_blocks_, max_positions_;
  core::DType type_;
  int64_t elem_;               // bytes per element
  core::PageBuffer data_;      // [layers][blocks][block_size][width] elements
  std::vector<const BlockTable*> tables_;  // per slot
};

}  // namespace whale::engine
