// Weights bound from tensors in memory run exactly like the same tensors loaded from disk.
#include <gtest/gtest.h>

#include <cstring>

#include "../error_of.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "formats/tensor_table.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/memory_weights.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

namespace whale::model {
namespace {

std::vector<float> logits_of(const Weights& w) {
  ContiguousKvCache cache(w.args, 1, 8);
  Scratch s;
  ForwardOutput out;
  Batch b;
  for (int32_t t = 0; t < 6; ++t) b.add(256 + t * 7 % 200, t, 0);
  core::ThreadPool pool(1);
  forward(w, b, cache, {}, s, pool, out);
  return out.logits;
}

TEST(MemoryWeights, SameLogitsAsTheFiles) {
  for (const char* preset : {"tiny-deepseek-v3", "tiny-qwen2"}) {
    const std::string dir = ::testing::TempDir() + "/whale_memw_" + preset;
    RandomCheckpointOptions o;
    o.progress = false;
    write_random_checkpoint(find_preset(preset).args, dir, o);
    const Weights disk = load_weights(dir);
    const auto ckpt = formats::CheckpointReader::open(dir);
    std::map<std::string, core::Tensor> m;
    for (const std::string& name : ckpt.tensor_names()) {
      const core::Tensor v = ckpt.view(name);
      core::Tensor copy = core::Tensor::empty(v.dtype(), v.shape());
      std::memcpy(copy.raw(), v.raw(), v.nbytes());
      m.emplace(name, copy);
    }
    const Weights mem = weights_from_tensors(disk.args, m);
    EXPECT_EQ(logits_of(disk), logits_of(mem)) << preset;

    m.erase("model.norm.weight");
    EXPECT_NE(testing::error_of([&] { weights_from_tensors(disk.args, m); }).find("model.norm.weight"), std::string::npos);
  }
}

}  // namespace
}  // namespace whale::model
