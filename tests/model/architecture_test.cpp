// The family records against hand-computed values from the released checkpoints' config.json:
// cache row widths, cached layers, the forward pass each points to, and the per-family flags.
#include "model/architecture.h"

#include <gtest/gtest.h>

#include <string>

#include "../error_of.h"
#include "core/mapped_file.h"
#include "model/kv_cache.h"
#include "model/presets.h"

namespace whale::model {
namespace {

formats::ModelArgs released(const std::string& name) {
  return formats::parse_model_args(core::read_file(std::string(WHALE_TEST_DATA) + "/configs/" + name + ".json"));
}

TEST(Architecture, DeepseekV3CachesTheLatentAndRopeKeyForMainStackAndMtp) {
  const formats::ModelArgs a = released("deepseek-v3");
  const Architecture& arch = architecture(a);
  EXPECT_STREQ(arch.name, "deepseek");
  EXPECT_EQ(arch.attention, Attention::kMla);
  EXPECT_EQ(arch.forward, &deepseek_forward);
  EXPECT_EQ(arch.kv_row_width(a), 512 + 64);     // kv_lora_rank + qk_rope_head_dim
  EXPECT_EQ(arch.mha_row_width(a), 128 * (192 + 128));  // heads x (qk head dim + v head dim)
  EXPECT_EQ(arch.layers(a), 61 + 1);             // 61 layers + 1 MTP module
  EXPECT_TRUE(arch.mtp);
  EXPECT_TRUE(arch.fp8);
  EXPECT_FALSE(arch.gguf_llama_rope);
  // The engine's wrappers give the same numbers.
  EXPECT_EQ(kv_row_width(a), 576);
  EXPECT_EQ(kv_layers(a), 62);
}

TEST(Architecture, DeepseekV2LiteSharesTheDeepseekRecord) {
  const formats::ModelArgs a = released("deepseek-v2-lite");
  EXPECT_EQ(&architecture(a), &architecture(released("deepseek-v3")));
  EXPECT_EQ(kv_row_width(a), 576);
  EXPECT_EQ(kv_layers(a), 27);  // no MTP module
  EXPECT_EQ(architecture(a).mha_row_width(a), 16 * (192 + 128));
}

TEST(Architecture, DenseFamiliesCacheKAndVPerKvHead) {
  const formats::ModelArgs qwen = released("r1-distill-qwen-1.5b");  // 12 heads, 2 KV heads, hd 1536/12
  const Architecture& q = architecture(qwen);
  EXPECT_STREQ(q.name, "qwen2");
  EXPECT_EQ(q.attention, Attention::kGqa);
  EXPECT_EQ(q.forward, &dense_forward);
  EXPECT_EQ(kv_row_width(qwen), 2 * 2 * 128);
  EXPECT_EQ(q.mha_row_width(qwen), 2 * 12 * 128);
  EXPECT_EQ(kv_layers(qwen), 28);
  EXPECT_FALSE(q.mtp);
  EXPECT_FALSE(q.fp8);
  EXPECT_FALSE(q.gguf_llama_rope);

  const formats::ModelArgs llama = released("r1-distill-llama-8b");  // 32 heads, 8 KV heads, hd 128
  const Architecture& l = architecture(llama);
  EXPECT_STREQ(l.name, "llama");
  EXPECT_EQ(l.forward, &dense_forward);
  EXPECT_EQ(kv_row_width(llama), 2 * 8 * 128);
  EXPECT_EQ(l.mha_row_width(llama), 2 * 32 * 128);
  EXPECT_EQ(kv_layers(llama), 32);
  EXPECT_TRUE(l.gguf_llama_rope);  // llama.cpp permutes q/k rows only for its llama graph
}

TEST(Architecture, ForwardRefusesWeightsThatWereNeverBound) {
  Weights w;
  w.args = find_preset("tiny-qwen2").args;
  ContiguousKvCache cache(w.args, 1, 4);
  Batch b;
  b.add(1, 0, 0);
  Scratch s;
  ForwardOutput out;
  core::ThreadPool pool(1);
  EXPECT_NE(testing::error_of([&] { forward(w, b, cache, {}, s, pool, out); }).find("never loaded"), std::string::npos);
}

}  // namespace
}  // namespace whale::model
