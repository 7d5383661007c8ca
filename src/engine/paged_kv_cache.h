// PagedKvCache: model::KvCache over fixed-size blocks. A cache slot (the seq id a Batch uses) has a
// block table; position p of slot s lives in block table[s][p / block_size] at row p % block_size.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_args.h"
#include "model/kv_cache.h"

namespace whale::engine {

class PagedKvCache final : public model::KvCache {
 public:
  PagedKvCache(const formats::ModelArgs& args, int32_t n_blocks, int32_t block_size, int32_t n_slots,
               int64_t max_positions);

  int64_t row_width() const override { return width_; }
  int64_t max_positions() const override { return max_positions_; }
  float* row(int64_t layer, int64_t slot, int64_t pos) override;

  std::vector<int32_t>& block_table(int32_t slot) { return tables_.at(static_cast<size_t>(slot)); }
  int64_t bytes() const { return static_cast<int64_t>(data_.size() * sizeof(float)); }

 private:
  int64_t layers_, width_, block_size_, n_blocks_, max_positions_;
  std::vector<float> data_;  // [layers][blocks][block_size][width]
  std::vector<std::vector<int32_t>> tables_;
};

}  // namespace whale::engine
