// ModelArgs <-> GGUF metadata: the released configs give the keys llama.cpp's converter writes
// (expected values written out by hand from its rules), llama.cpp-style files without whale.*
// keys give back the configs through the documented inferences, and bad files fail by name.
#include "../error_of.h"
#include "formats/gguf_model_args.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {
namespace {

using whale::testing::error_of;

namespace fs = std::filesystem;
using VT = GgufValueType;

ModelArgs released(const std::string& name) {
  return parse_model_args(core::read_file(std::string(WHALE_TEST_DATA) + "/configs/" + name + ".json"), name);
}

const GgufValue* find(const GgufMetadata& m, const std::string& key) {
  for (const auto& [k, v] : m) {
    if (k == key) return &v;
  }
  return nullptr;
}

// Writes `meta` (minus keys starting with `drop`, when given) and the named tensors to a file.
class GgufArgsTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove(path_); }

  GgufFile write(const GgufMetadata& meta, const std::string& drop = "",
                 const std::vector<std::pair<std::string, std::vector<float>>>& tensors = {}) {
    GgufWriter w;
    for (const auto& [k, v] : meta) {
      if (drop.empty() || k.rfind(drop, 0) != 0) w.set(k, v);
    }
    for (const auto& [name, values] : tensors) {
      w.add_tensor(name, core::DType::kF32, core::Shape{static_cast<int64_t>(values.size())},
                   [values](std::span<std::byte> out) { std::memcpy(out.data(), values.data(), out.size()); });
    }
    w.write(path_);
    return GgufFile::open(path_);
  }


  std::string path_ = (fs::temp_directory_path() / ("whale_gguf_args_" + std::to_string(::getpid()) + ".gguf")).string();
};

void expect_u32(const GgufMetadata& m, const std::string& key, uint64_t v) {
  const GgufValue* x = find(m, key);
  ASSERT_NE(x, nullptr) << key;
  EXPECT_EQ(x->type(), VT::kU32) << key;
  EXPECT_EQ(x->as_u64(), v) << key;
}
void expect_f32(const GgufMetadata& m, const std::string& key, float v) {
  const GgufValue* x = find(m, key);
  ASSERT_NE(x, nullptr) << key;
  EXPECT_EQ(x->type(), VT::kF32) << key;
  EXPECT_EQ(x->f32_value(), v) << key;
}

// The values the fact sheet derives for DeepSeek-V3 from convert_hf_to_gguf.py's DeepseekV2Model.
TEST_F(GgufArgsTest, DeepseekV3KeysAreLlamaCpps) {
  const GgufMetadata m = model_args_to_gguf(released("deepseek-v3"), {.name = "DeepSeek-V3"});
  EXPECT_EQ(m[0].first, "general.architecture");
  EXPECT_EQ(m[0].second.as_string(), "deepseek2");
  EXPECT_EQ(find(m, "general.name")->as_string(), "DeepSeek-V3");
  const struct { const char* key; uint64_t v; } ints[] = {
      {"block_count", 61}, {"context_length", 163840}, {"embedding_length", 7168},
      {"feed_forward_length", 18432}, {"attention.head_count", 128}, {"attention.head_count_kv", 1},
      {"expert_count", 256}, {"expert_used_count", 8}, {"expert_group_count", 8},
      {"expert_group_used_count", 4}, {"expert_gating_func", 2}, {"leading_dense_block_count", 3},
      {"vocab_size", 129280}, {"attention.q_lora_rank", 1536}, {"attention.kv_lora_rank", 512},
      {"attention.key_length", 576}, {"attention.value_length", 512}, {"attention.key_length_mla", 192},
      {"attention.value_length_mla", 128}, {"expert_feed_forward_length", 2048}, {"expert_shared_count", 1},
      {"rope.dimension_count", 64}, {"rope.scaling.original_context_length", 4096},
  };
  for (const auto& [key, v] : ints) expect_u32(m, std::string("deepseek2.") + key, v);
  const struct { const char* key; float v; } floats[] = {
      {"rope.freq_base", 10000.0f}, {"attention.layer_norm_rms_epsilon", 1e-6f}, {"expert_weights_scale", 2.5f},
      {"rope.scaling.factor", 40.0f}, {"rope.scaling.yarn_beta_fast", 32.0f}, {"rope.scaling.yarn_beta_slow", 1.0f},
      {"rope.scaling.yarn_log_multiplier", 0.1f},
  };
  for (const auto& [key, v] : floats) expect_f32(m, std::string("deepseek2.") + key, v);
  EXPECT_EQ(find(m, "deepseek2.rope.scaling.type")->as_string(), "yarn");
  EXPECT_EQ(find(m, "deepseek2.expert_weights_norm")->type(), VT::kBool);
  EXPECT_TRUE(find(m, "deepseek2.expert_weights_norm")->as_bool());
  EXPECT_EQ(find(m, "deepseek2.nextn_predict_layers"), nullptr);  // MTP dropped, as llama.cpp does
  expect_u32(m, "tokenizer.ggml.bos_token_id", 0);
  expect_u32(m, "tokenizer.ggml.eos_token_id", 1);

  const GgufMetadata mtp = model_args_to_gguf(released("deepseek-v3"), {.keep_mtp = true});
  expect_u32(mtp, "deepseek2.block_count", 62);
  expect_u32(mtp, "deepseek2.nextn_predict_layers", 1);
}

TEST_F(GgufArgsTest, DeepseekV2LiteKeys) {
  const GgufMetadata m = model_args_to_gguf(released("deepseek-v2-lite"), {});
  EXPECT_EQ(find(m, "deepseek2.attention.q_lora_rank"), nullptr);
  EXPECT_EQ(find(m, "deepseek2.expert_weights_norm"), nullptr);  // norm_topk_prob false
  expect_u32(m, "deepseek2.expert_gating_func", 1);
  expect_u32(m, "deepseek2.expert_shared_count", 2);
  expect_u32(m, "deepseek2.leading_dense_block_count", 1);
  expect_f32(m, "deepseek2.rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * 0.707));
}

TEST_F(GgufArgsTest, DenseKeysAndLlama3RopeFreqs) {
  const GgufMetadata q = model_args_to_gguf(released("r1-distill-qwen-1.5b"), {});
  EXPECT_EQ(find(q, "general.architecture")->as_string(), "qwen2");
  expect_u32(q, "qwen2.attention.head_count_kv", 2);
  expect_u32(q, "qwen2.attention.key_length", 128);
  expect_u32(q, "qwen2.feed_forward_length", 8960);
  EXPECT_EQ(find(q, "qwen2.rope.scaling.type"), nullptr);

  const ModelArgs llama = released("r1-distill-llama-8b");
  const GgufMetadata l = model_args_to_gguf(llama, {});
  EXPECT_EQ(find(l, "general.architecture")->as_string(), "llama");
  expect_f32(l, "llama.rope.freq_base", 500000.0f);
  expect_u32(l, "llama.rope.dimension_count", 128);
  EXPECT_EQ(find(l, "llama.rope.scaling.type"), nullptr);  // llama3 travels as rope_freqs.weight
  // theta 500000, head_dim 128, old context 8192: wavelength 2*pi*500000^(i/64) is below
  // 8192/4 for i <= 28 (divisor 1) and above 8192 for i >= 35 (divisor factor 8).
  const std::vector<float> f = llama3_rope_freqs(llama);
  ASSERT_EQ(f.size(), 64u);
  for (int i = 0; i <= 28; ++i) EXPECT_EQ(f[i], 1.0f) << i;
  for (int i = 35; i < 64; ++i) EXPECT_EQ(f[i], 8.0f) << i;
  for (int i = 29; i <= 34; ++i) {
    EXPECT_GT(f[i], f[i - 1]) << i;
    EXPECT_LT(f[i], 8.0f) << i;
  }
}

TEST_F(GgufArgsTest, WhaleKeysMakeTheInverseExact) {
  for (const char* name : {"deepseek-v3", "deepseek-v2-lite", "r1-distill-qwen-1.5b", "r1-distill-llama-8b"}) {
    ModelArgs a = released(name);
    a.rope_theta = 12345.678901;  // more digits than an f32 holds: only whale.rope_theta carries it
    a.eos_token_ids.push_back(2);
    const ModelArgs back = model_args_from_gguf(write(model_args_to_gguf(a, {.keep_mtp = true})));
    EXPECT_EQ(model_args_to_json(back), model_args_to_json(a)) << name;
  }
}

// Files made by llama.cpp carry no whale.* keys: the inferences in docs/gguf.md fill the gaps.
TEST_F(GgufArgsTest, LlamaCppFilesInferTheRest) {
  ModelArgs v3 = released("deepseek-v3");
  v3.fp8 = false;                       // a GGUF file's own weights
  v3.num_nextn_predict_layers = 0;      // llama.cpp drops MTP
  const std::vector<float> bias(256, 0.0f);
  ModelArgs back = model_args_from_gguf(
      write(model_args_to_gguf(v3, {}), "whale.", {{"blk.3.exp_probs_b.bias", bias}, {"output.weight", {0}}}));
  EXPECT_EQ(model_args_to_json(back), model_args_to_json(v3));  // noaux_tc, sigmoid, 1e-6, 2.5, mscale 1
  // Without the correction bias, groups mean group-limited selection.
  back = model_args_from_gguf(write(model_args_to_gguf(v3, {}), "whale."));
  EXPECT_EQ(back.topk_method, TopkMethod::kGroupLimitedGreedy);

  const ModelArgs lite = released("deepseek-v2-lite");  // softmax, one group, mscale 0.707 via the multiplier
  back = model_args_from_gguf(write(model_args_to_gguf(lite, {}), "whale.", {{"output.weight", {0}}}));
  EXPECT_EQ(model_args_to_json(back), model_args_to_json(lite));
  EXPECT_EQ(back.rope_scaling.mscale, 0.707);

  const ModelArgs qwen = released("r1-distill-qwen-1.5b");
  back = model_args_from_gguf(write(model_args_to_gguf(qwen, {}), "whale.", {{"output.weight", {0}}}));
  EXPECT_EQ(model_args_to_json(back), model_args_to_json(qwen));
  back = model_args_from_gguf(write(model_args_to_gguf(qwen, {}), "whale."));
  EXPECT_TRUE(back.tie_word_embeddings);  // no output.weight: llama.cpp reuses token_embd

  const ModelArgs llama = released("r1-distill-llama-8b");
  back = model_args_from_gguf(write(model_args_to_gguf(llama, {}), "whale.",
                                    {{"output.weight", {0}}, {"rope_freqs.weight", llama3_rope_freqs(llama)}}));
  EXPECT_EQ(model_args_to_json(back), model_args_to_json(llama));  // factor 8, context 8192 from rope_freqs
}

TEST_F(GgufArgsTest, BadFilesFailNamingKeyAndFile) {
  const GgufMetadata v3 = model_args_to_gguf(released("deepseek-v3"), {});
  std::string e = error_of([&] { model_args_from_gguf(write(v3, "deepseek2.attention.kv_lora_rank")); });
  EXPECT_NE(e.find("missing required key deepseek2.attention.kv_lora_rank"), std::string::npos) << e;
  EXPECT_NE(e.find(path_), std::string::npos) << e;
  e = error_of([&] { model_args_from_gguf(write(v3, "general.architecture")); });
  EXPECT_NE(e.find("general.architecture"), std::string::npos) << e;

  GgufMetadata other = v3;
  other[0].second = GgufValue::string("gpt2");
  e = error_of([&] { model_args_from_gguf(write(other)); });
  EXPECT_NE(e.find("general.architecture \"gpt2\""), std::string::npos) << e;
  EXPECT_NE(e.find(path_), std::string::npos) << e;

  GgufMetadata typed = v3;
  for (auto& [k, v] : typed) {
    if (k == "deepseek2.block_count") v = GgufValue::string("61");
  }
  e = error_of([&] { model_args_from_gguf(write(typed)); });
  EXPECT_NE(e.find("key deepseek2.block_count"), std::string::npos) << e;

  GgufMetadata bad = v3;
  for (auto& [k, v] : bad) {
    if (k == "deepseek2.expert_used_count") v = GgufValue::u32(300);  // more than 256 experts
  }
  e = error_of([&] { model_args_from_gguf(write(bad, "whale.")); });
  EXPECT_NE(e.find("num_experts_per_tok"), std::string::npos) << e;  // validate_model_args
}

TEST_F(GgufArgsTest, TokenizerMetadata) {
  const std::string tok = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
      "merges": ["a b", ["ab", "b"]]},
      "added_tokens": [{"id": 4, "content": "<s>", "special": true}, {"id": 3, "content": "<x>", "special": false}]})";
  const std::string cfg = R"({"bos_token": {"content": "<s>"}, "eos_token": "<s>", "add_bos_token": true,
      "chat_template": "{{ x }}"})";
  const GgufMetadata m = tokenizer_to_gguf(tok, cfg, 6, "deepseek-v3", "tokenizer.json");
  EXPECT_EQ(find(m, "tokenizer.ggml.model")->as_string(), "gpt2");
  EXPECT_EQ(find(m, "tokenizer.ggml.pre")->as_string(), "deepseek-v3");
  EXPECT_EQ(*find(m, "tokenizer.ggml.tokens"), GgufValue::string_array({"a", "b", "ab", "<x>", "<s>", "[PAD5]"}));
  EXPECT_EQ(*find(m, "tokenizer.ggml.token_type"), GgufValue::i32_array({1, 1, 1, 4, 3, 5}));
  EXPECT_EQ(*find(m, "tokenizer.ggml.merges"), GgufValue::string_array({"a b", "ab b"}));
  expect_u32(m, "tokenizer.ggml.bos_token_id", 4);
  expect_u32(m, "tokenizer.ggml.eos_token_id", 4);
  EXPECT_TRUE(find(m, "tokenizer.ggml.add_bos_token")->as_bool());
  EXPECT_EQ(find(m, "tokenizer.chat_template")->as_string(), "{{ x }}");
  const std::string e = error_of([&] { tokenizer_to_gguf(tok, cfg, 4, "x", "tok.json"); });
  EXPECT_NE(e.find("tok.json: token \"<s>\" has id 4 outside the vocabulary of 4"), std::string::npos) << e;
}

}  // namespace
}  // namespace whale::formats
