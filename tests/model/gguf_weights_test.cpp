// GGUF conversion and loading against the Hugging Face directory loader (itself tested against the
// libtorch implementation): same logits from f32 files of every tiny family, the same quantized
// logits as load-time quantization, llama.cpp's layout written out by hand, clean errors.
#include "../error_of.h"
#include "model/gguf_weights.h"
#include "wide_models.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/convert.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/quant.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/tiny_tokenizer.h"
#include "formats/gguf_model_args.h"
#include "model/forward.h"
#include "model/gguf_convert.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

namespace whale::model {
namespace {

using whale::testing::error_of;

namespace fs = std::filesystem;
using core::DType;
using core::Shape;
using formats::GgufFile;

std::string temp_path(const std::string& tag) {
  return (fs::temp_directory_path() / ("whale_gguf_" + tag + "_" + std::to_string(::getpid()))).string();
}

struct Outputs {
  std::vector<float> logits, draft;  // draft: MTP module 0's logits, when the model keeps one
};

Outputs run(const Weights& w, MlaMode mla = MlaMode::kNaive) {
  core::ThreadPool pool(2);
  ContiguousKvCache cache(w.args, 1, 16);
  Scratch s;
  ForwardOutput out;
  Batch b, next;
  const int32_t toks[] = {256, 72, 101, 108, 108, 111, 44, 32, 119};
  for (int i = 0; i < 8; ++i) b.add(toks[i], i, 0);
  for (int i = 0; i < 8; ++i) next.add(toks[i + 1], i, 0);
  const bool mtp = w.args.num_nextn_predict_layers > 0;
  forward(w, b, cache, {.mla = mla, .want_hidden = mtp}, s, pool, out);
  Outputs o{out.logits, {}};
  if (mtp) mtp_forward(w, next, out.hidden, 0, cache, {}, s, pool, o.draft);
  return o;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = a.size() == b.size() ? 0 : INFINITY;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

class GgufTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& p : cleanup_) fs::remove_all(p);
  }
  std::string checkpoint(const formats::ModelArgs& a, const std::string& tag) {
    const std::string dir = temp_path(tag);
    RandomCheckpointOptions o;
    o.progress = false;
    o.weight_std = 0.08f;  // as forward_test: routing and attention patterns are not flat
    write_random_checkpoint(a, dir, o);
    cleanup_.push_back(dir);
    return dir;
  }
  std::string convert(const std::string& dir, std::optional<DType> type, bool keep_mtp = false) {
    const std::string out = dir + (keep_mtp ? "_mtp_" : "_") + (type ? std::string(core::dtype_name(*type)) : "auto") + ".gguf";
    convert_to_gguf(dir, out, {.type = type, .keep_mtp = keep_mtp, .threads = 2, .progress = false});
    cleanup_.push_back(out);
    return out;
  }
  std::vector<std::string> cleanup_;
};

TEST_F(GgufTest, MetadataRoundTripsForEveryPreset) {
  const std::string path = temp_path("meta") + ".gguf";
  cleanup_.push_back(path);
  for (const Preset& p : presets()) {
    for (const bool keep_mtp : {true, false}) {
      formats::GgufWriter w;
      for (auto& [k, v] : formats::model_args_to_gguf(p.args, {.keep_mtp = keep_mtp})) w.set(k, v);
      w.write(path);
      formats::ModelArgs expect = p.args;
      if (!keep_mtp) expect.num_nextn_predict_layers = 0;
      EXPECT_EQ(formats::model_args_to_json(formats::model_args_from_gguf(GgufFile::open(path))),
                formats::model_args_to_json(expect))
          << p.name << (keep_mtp ? " with MTP" : "");
    }
  }
}

struct F32Case {
  const char* preset;
  bool keep_mtp;
};

class GgufF32 : public GgufTest, public ::testing::WithParamInterface<F32Case> {};

// f32 in, f32 out: every value is copied, transposed or permuted, never rounded, so the logits
// must agree to float noise (measured: 0, bit-identical).
TEST_P(GgufF32, LogitsEqualTheHfDirectory) {
  const F32Case c = GetParam();
  const std::string dir = checkpoint(find_preset(c.preset).args, std::string(c.preset) + (c.keep_mtp ? "_mtp" : ""));
  const std::string gguf = convert(dir, DType::kF32, c.keep_mtp);
  const Weights hf = load_weights(dir);
  const Weights gg = load_weights_gguf(gguf);
  formats::ModelArgs expect = hf.args;
  if (!c.keep_mtp) expect.num_nextn_predict_layers = 0;
  EXPECT_EQ(formats::model_args_to_json(gg.args), formats::model_args_to_json(expect));
  const Outputs a = run(hf), b = run(gg);
  EXPECT_LE(max_diff(a.logits, b.logits), 1e-5);
  if (hf.args.is_deepseek()) {
    // Absorbed MLA: the GGUF side multiplies with the file's attn_k_b / attn_v_b directly.
    EXPECT_TRUE(gg.layers[0].mla.uk_t.w.numel() > 0 && gg.layers[0].mla.uv.w.numel() > 0);
    EXPECT_LE(max_diff(run(hf, MlaMode::kAbsorbed).logits, run(gg, MlaMode::kAbsorbed).logits), 1e-5);
  }
  if (c.keep_mtp) {
    EXPECT_LE(max_diff(a.draft, b.draft), 1e-5);
  }

  // The same file re-quantized at load time equals the directory re-quantized at load time.
  const Outputs qa = run(load_weights(dir, {.quant = DType::kQ8_0}));
  const Outputs qb = run(load_weights_gguf(gguf, {.quant = DType::kQ8_0}));
  EXPECT_LE(max_diff(qa.logits, qb.logits), 1e-5);
  EXPECT_GT(max_diff(qa.logits, a.logits), 1e-4);  // and it did quantize
}

INSTANTIATE_TEST_SUITE_P(Families, GgufF32,
                         ::testing::Values(F32Case{"tiny-deepseek-v3", false}, F32Case{"tiny-deepseek-v3", true},
                                           F32Case{"tiny-deepseek-v2", false}, F32Case{"tiny-deepseek-v2-lite", false},
                                           F32Case{"tiny-qwen2", false}, F32Case{"tiny-llama", false}),
                         [](const auto& info) {
                           std::string n = std::string(info.param.preset) + (info.param.keep_mtp ? "_mtp" : "");
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// FP8 weights are decoded (value * block scale, exact in f32) before encoding: an f32 GGUF of an
// FP8 checkpoint computes what the FP8 directory computes, up to summation order (measured 0).
TEST_F(GgufTest, Fp8CheckpointConvertsThroughItsScales) {
  formats::ModelArgs a = find_preset("tiny-deepseek-v3").args;
  a.torch_dtype = "bfloat16";
  a.fp8 = true;
  a.fp8_block_rows = a.fp8_block_cols = 32;  // several scale blocks per tiny matrix
  const std::string dir = checkpoint(a, "fp8");
  const std::string gguf = convert(dir, DType::kF32);
  const Weights gg = load_weights_gguf(gguf);
  EXPECT_EQ(gg.layers[1].moe.experts[0].gate.w.dtype(), DType::kF32);
  const double d = max_diff(run(load_weights(dir)).logits, run(gg).logits);
  std::printf("[ measure  ] fp8 checkpoint vs its f32 GGUF: %.3g\n", d);
  EXPECT_LE(d, 1e-5);
  EXPECT_EQ(GgufFile::open(convert(dir, std::nullopt)).find_tensor("blk.0.attn_q_a.weight")->dtype, DType::kBF16);
}

using testing::wide_deepseek;
using testing::wide_llama;

// Each value round-tripped through `t` in rows of n (what a GGUF block encoder keeps of it).
std::vector<float> through(DType t, const std::vector<float>& x, int64_t n) {
  std::vector<float> out(x.size());
  std::vector<std::byte> enc(static_cast<size_t>(core::dtype_bytes(t, n)));
  for (size_t r = 0; r < x.size() / static_cast<size_t>(n); ++r) {
    core::convert_row(DType::kF32, x.data() + r * n, t, enc.data(), n);
    core::convert_row(t, enc.data(), DType::kF32, out.data() + r * n, n);
  }
  return out;
}

// The kv_b a GGUF of type `t` yields: attn_k_b holds each head's W_uk transposed (rows of qk_nope,
// which k-quants cannot block: q4_0 for q2_k/q3_k, q8_0 for the others, as llama.cpp falls back),
// attn_v_b each head's W_uv (rows of kv_lora_rank).
core::Tensor expected_kv_b(const WeightView& kv_b, const formats::ModelArgs& a, DType t) {
  const int64_t H = a.num_attention_heads, r = a.kv_lora_rank, nope = a.qk_nope_head_dim, v = a.v_head_dim;
  const DType k_type = t == DType::kQ2_K || t == DType::kQ3_K ? DType::kQ4_0
                       : t == DType::kQ4_K                     ? DType::kQ5_0
                       : t == DType::kQ5_K                     ? DType::kQ5_1
                       : t == DType::kQ6_K                     ? DType::kQ8_0
                       : t == DType::kIQ4_XS                   ? DType::kIQ4_NL
                                                               : t;
  const float* w = kv_b.w.data<const float>();
  core::Tensor out = core::Tensor::empty(DType::kF32, Shape{H * (nope + v), r});
  float* o = out.data<float>();
  for (int64_t h = 0; h < H; ++h) {
    std::vector<float> k_t(static_cast<size_t>(r * nope)), v_rows(w + (h * (nope + v) + nope) * r, w + (h + 1) * (nope + v) * r);
    for (int64_t c = 0; c < r; ++c) {
      for (int64_t i = 0; i < nope; ++i) k_t[static_cast<size_t>(c * nope + i)] = w[(h * (nope + v) + i) * r + c];
    }
    k_t = through(k_type, k_t, nope);
    v_rows = through(t, v_rows, r);
    for (int64_t c = 0; c < r; ++c) {
      for (int64_t i = 0; i < nope; ++i) o[(h * (nope + v) + i) * r + c] = k_t[static_cast<size_t>(c * nope + i)];
    }
    std::memcpy(o + (h * (nope + v) + nope) * r, v_rows.data(), v_rows.size() * sizeof(float));
  }
  return out;
}

// A quantized GGUF uses the same row encoder as load-time quantization, so its logits equal the
// HF directory's loaded with {.quant = t}, once that gets the kv_b the split file implies (checked
// bit for bit first). Measured difference: 0 everywhere; bound 1e-6.
TEST_F(GgufTest, QuantizedFilesEqualLoadTimeQuantization) {
  const std::string ds = checkpoint(wide_deepseek(), "wide_ds");
  const std::string ll = checkpoint(wide_llama(), "wide_llama");
  const std::string qw = checkpoint(find_preset("tiny-qwen2").args, "q_qwen2");
  const Weights ds_f32 = load_weights(ds);
  for (const DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K, DType::kQ2_K, DType::kQ3_K, DType::kQ5_K,
                       DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kIQ4_XS}) {
    const std::string name(core::dtype_name(t));
    Weights hf = load_weights(ds, {.quant = t});
    const Weights gg = load_weights_gguf(convert(ds, t));
    for (int64_t i = 0; i < hf.args.num_hidden_layers; ++i) {
      const core::Tensor want = expected_kv_b(ds_f32.layers[i].mla.kv_b, hf.args, t);
      const core::Tensor& got = gg.layers[i].mla.kv_b.w;
      ASSERT_EQ(got.dtype(), DType::kF32);
      ASSERT_EQ(got.shape(), want.shape());
      EXPECT_EQ(std::memcmp(got.raw(), want.raw(), static_cast<size_t>(want.nbytes())), 0) << name << " layer " << i;
      hf.layers[i].mla.kv_b.w = want;
    }
    EXPECT_EQ(gg.layers[1].moe.experts[3].down.w.dtype(), t);
    double d = max_diff(run(hf).logits, run(gg).logits);
    std::printf("[ measure  ] deepseek %s: max |GGUF - load-time| logit difference %.3g\n", name.c_str(), d);
    EXPECT_LE(d, 1e-6) << name;
    d = max_diff(run(load_weights(ll, {.quant = t})).logits, run(load_weights_gguf(convert(ll, t))).logits);
    std::printf("[ measure  ] llama %s: %.3g\n", name.c_str(), d);
    EXPECT_LE(d, 1e-6) << name;
    if (core::dtype_info(t).block_elems == 32) {  // tiny-qwen2's rows (64, 160) are whole 32-blocks
      d = max_diff(run(load_weights(qw, {.quant = t})).logits, run(load_weights_gguf(convert(qw, t))).logits);
      std::printf("[ measure  ] qwen2 %s: %.3g\n", name.c_str(), d);
      EXPECT_LE(d, 1e-6) << name;
    }
  }
}

// llama.cpp's names and shapes for deepseek2 (fact sheet: deepseek2.cpp load_arch_tensors, ne
// reversed to whale order), at DeepSeek-V3's real size; no data is written.
TEST(GgufPlan, DeepseekV3MatchesLlamaCppShapes) {
  const formats::ModelArgs v3 = find_preset("deepseek-v3").args;
  const std::vector<GgufTensorPlan> plan = plan_gguf_tensors(v3, {.type = DType::kQ4_K});
  // 3 dense layers x 13 + 58 MoE layers x 18 + 3 globals; llama.cpp's V3 files with the legacy
  // attn_kv_b as well have 61 more (1147).
  EXPECT_EQ(plan.size(), 1086u);
  std::map<std::string, GgufTensorPlan> by;
  for (const auto& p : plan) by.emplace(p.name, p);
  const struct { const char* name; Shape shape; DType dtype; } want[] = {
      {"token_embd.weight", {129280, 7168}, DType::kQ4_K},
      {"output.weight", {129280, 7168}, DType::kQ4_K},
      {"output_norm.weight", {7168}, DType::kF32},
      {"blk.0.attn_q_a.weight", {1536, 7168}, DType::kQ4_K},           // ne {7168, 1536}
      {"blk.0.attn_q_b.weight", {24576, 1536}, DType::kQ4_K},          // ne {1536, 24576}
      {"blk.0.attn_kv_a_mqa.weight", {576, 7168}, DType::kQ4_K},       // ne {7168, 576}
      {"blk.0.attn_k_b.weight", {128, 512, 128}, DType::kQ5_0},        // ne {128, 512, 128}; rows of 128
      {"blk.0.attn_v_b.weight", {128, 128, 512}, DType::kQ4_K},        // ne {512, 128, 128}
      {"blk.0.attn_output.weight", {7168, 16384}, DType::kQ4_K},       // ne {16384, 7168}
      {"blk.0.ffn_gate.weight", {18432, 7168}, DType::kQ4_K},
      {"blk.3.ffn_gate_inp.weight", {256, 7168}, DType::kF32},
      {"blk.3.exp_probs_b.bias", {256}, DType::kF32},
      {"blk.3.ffn_gate_exps.weight", {256, 2048, 7168}, DType::kQ4_K},  // ne {7168, 2048, 256}
      {"blk.3.ffn_up_exps.weight", {256, 2048, 7168}, DType::kQ4_K},
      {"blk.3.ffn_down_exps.weight", {256, 7168, 2048}, DType::kQ4_K},  // ne {2048, 7168, 256}
      {"blk.3.ffn_down_shexp.weight", {7168, 2048}, DType::kQ4_K},
      {"blk.60.attn_kv_a_norm.weight", {512}, DType::kF32},
  };
  for (const auto& w : want) {
    ASSERT_TRUE(by.count(w.name)) << w.name;
    EXPECT_EQ(by[w.name].shape, w.shape) << w.name;
    EXPECT_EQ(by[w.name].dtype, w.dtype) << w.name;
  }
  EXPECT_FALSE(by.count("blk.0.attn_kv_b.weight"));
  EXPECT_FALSE(by.count("blk.61.attn_norm.weight"));
  // With MTP: layer 61's 18 tensors plus 6 nextn.* ones.
  const std::vector<GgufTensorPlan> mtp = plan_gguf_tensors(v3, {.keep_mtp = true});
  EXPECT_EQ(mtp.size(), 1110u);
  EXPECT_EQ(mtp.back().name, "output.weight");
  EXPECT_EQ(mtp[0].dtype, DType::kBF16);  // FP8 checkpoints become bf16 by default
}

// The converted tiny file's tensors, checked value by value against the relations in the fact
// sheet (conversion/deepseek.py, conversion/llama.py), read straight from the safetensors.
TEST_F(GgufTest, ConvertedFileHasLlamaCppLayout) {
  const formats::ModelArgs a = find_preset("tiny-deepseek-v3").args;  // H 4, nope 16, v 16, r 32
  const std::string dir = checkpoint(a, "layout_ds");
  const GgufFile f = GgufFile::open(convert(dir, DType::kF32));
  const formats::CheckpointReader hf = formats::CheckpointReader::open(dir);
  EXPECT_EQ(f.tensors().size(), 13u + 2 * 18 + 3);
  EXPECT_EQ(f.find_tensor("blk.1.attn_k_b.weight")->shape, (Shape{4, 32, 16}));
  EXPECT_EQ(f.find_tensor("blk.1.attn_v_b.weight")->shape, (Shape{4, 16, 32}));
  EXPECT_EQ(f.find_tensor("blk.1.ffn_gate_exps.weight")->shape, (Shape{16, 32, 64}));
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down_exps.weight")->shape, (Shape{16, 64, 32}));
  EXPECT_EQ(f.find_tensor("blk.0.attn_q_b.weight")->shape, (Shape{4 * 24, 48}));
  EXPECT_EQ(f.find_tensor("blk.0.attn_kv_a_mqa.weight")->shape, (Shape{32 + 8, 64}));
  EXPECT_EQ(f.find_tensor("blk.2.exp_probs_b.bias")->shape, (Shape{16}));
  EXPECT_EQ(f.find_tensor("blk.0.attn_kv_b.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.3.attn_norm.weight"), nullptr);  // the MTP layer is dropped
  EXPECT_EQ(f.get("deepseek2.attention.key_length").as_u64(), 40u);
  EXPECT_EQ(f.get("deepseek2.attention.key_length_mla").as_u64(), 24u);
  EXPECT_EQ(f.get("general.file_type").as_u64(), 0u);

  const float* kv_b = hf.view("model.layers.1.self_attn.kv_b_proj.weight").data<const float>();  // [4*32, 32]
  const float* k_b = f.view("blk.1.attn_k_b.weight").data<const float>();
  const float* v_b = f.view("blk.1.attn_v_b.weight").data<const float>();
  for (int h = 0; h < 4; ++h) {
    for (int c = 0; c < 32; ++c) {
      for (int i = 0; i < 16; ++i) ASSERT_EQ(k_b[(h * 32 + c) * 16 + i], kv_b[(h * 32 + i) * 32 + c]);
      for (int j = 0; j < 16; ++j) ASSERT_EQ(v_b[(h * 16 + j) * 32 + c], kv_b[(h * 32 + 16 + j) * 32 + c]);
    }
  }
  const core::Tensor exps = f.view("blk.2.ffn_up_exps.weight");
  for (int e : {0, 7, 15}) {
    const core::Tensor one = hf.view("model.layers.2.mlp.experts." + std::to_string(e) + ".up_proj.weight");
    EXPECT_EQ(std::memcmp(exps.slice(e, e + 1).raw(), one.raw(), static_cast<size_t>(one.nbytes())), 0) << e;
  }
  const core::Tensor bias = hf.view("model.layers.2.mlp.gate.e_score_correction_bias");
  EXPECT_EQ(std::memcmp(f.view("blk.2.exp_probs_b.bias").raw(), bias.raw(), 16 * 4), 0);

  EXPECT_EQ(f.get("tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(f.get("tokenizer.ggml.pre").as_string(), "deepseek-v3");
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_array().size(), 512u);
  // The tiny presets' trained vocabulary: 256 bytes, 7 specials, 249 merges.
  EXPECT_EQ(f.get("tokenizer.ggml.merges").as_array().size(), formats::tiny_tokenizer_merge_count());
  EXPECT_EQ(formats::tiny_tokenizer_merge_count(), 249u);
  const uint64_t bos = f.get("tokenizer.ggml.bos_token_id").as_u64();
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_array()[bos].as_string(), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(f.get("tokenizer.ggml.token_type").as_array()[bos].as_i64(), 3);  // CONTROL
}

TEST_F(GgufTest, LlamaRowsArePermutedAndRopeFreqsWritten) {
  const formats::ModelArgs a = find_preset("tiny-llama").args;  // 4 heads, 2 KV heads, head_dim 16
  const std::string dir = checkpoint(a, "layout_llama");
  const GgufFile f = GgufFile::open(convert(dir, DType::kF32));
  const formats::CheckpointReader hf = formats::CheckpointReader::open(dir);
  // GGUF row h*16 + 2i + k = HF row h*16 + 8k + i (convert_hf_to_gguf.py's permute).
  const struct { const char* gguf; const char* hf; int heads; } qk[] = {
      {"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", 4},
      {"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", 2}};
  for (const auto& t : qk) {
    const float* g = f.view(t.gguf).data<const float>();
    const float* w = hf.view(t.hf).data<const float>();
    for (int h = 0; h < t.heads; ++h) {
      for (int i = 0; i < 8; ++i) {
        for (int k = 0; k < 2; ++k) {
          ASSERT_EQ(std::memcmp(g + (h * 16 + 2 * i + k) * 64, w + (h * 16 + 8 * k + i) * 64, 64 * 4), 0) << t.gguf;
        }
      }
    }
  }
  const std::vector<float> freqs = formats::llama3_rope_freqs(a);
  ASSERT_EQ(f.find_tensor("rope_freqs.weight")->shape, (Shape{8}));
  EXPECT_EQ(std::memcmp(f.view("rope_freqs.weight").raw(), freqs.data(), 8 * 4), 0);
  EXPECT_EQ(f.get("tokenizer.ggml.pre").as_string(), "llama-bpe");

  // Without whale.* keys (as llama.cpp would write it) the llama3 scaling comes back from rope_freqs.
  const std::string bare = dir + "_bare.gguf";
  cleanup_.push_back(bare);
  formats::GgufWriter w;
  for (const auto& [k, v] : f.metadata()) {
    if (k.rfind("whale.", 0) != 0) w.set(k, v);
  }
  for (const auto& t : f.tensors()) w.add_tensor(t.name, f.view(t.name));
  w.write(bare);
  const Weights gg = load_weights_gguf(bare);
  EXPECT_EQ(gg.args.rope_scaling.type, formats::RopeType::kLlama3);
  EXPECT_EQ(gg.args.rope_scaling.original_max_position_embeddings, 256);
  EXPECT_EQ(gg.args.rope_scaling.factor, a.rope_scaling.factor);
  EXPECT_LE(max_diff(run(load_weights(dir)).logits, run(gg).logits), 1e-5);
}

// Copies `in` to `out` through `edit`, which may change a key's value or drop tensors.
void rewrite(const std::string& in, const std::string& out,
             const std::function<void(formats::GgufWriter&, const GgufFile&)>& edit) {
  const GgufFile f = GgufFile::open(in);
  formats::GgufWriter w;
  for (const auto& [k, v] : f.metadata()) w.set(k, v);
  edit(w, f);
  w.write(out);
}

TEST_F(GgufTest, BrokenFilesFailNamingTensorAndFile) {
  const std::string gguf = convert(checkpoint(find_preset("tiny-deepseek-v3").args, "broken"), DType::kF32);
  const std::string bad = gguf + ".bad.gguf";
  cleanup_.push_back(bad);
  const auto copy_except = [](const std::string& skip) {
    return [skip](formats::GgufWriter& w, const GgufFile& f) {
      for (const auto& t : f.tensors()) {
        if (t.name != skip) w.add_tensor(t.name, f.view(t.name));
      }
    };
  };
  rewrite(gguf, bad, copy_except("blk.2.ffn_up_exps.weight"));
  std::string e = error_of([&] { load_weights_gguf(bad); });
  EXPECT_NE(e.find(bad + ": tensor blk.2.ffn_up_exps.weight [16, 32, 64] is missing"), std::string::npos) << e;

  rewrite(gguf, bad, copy_except("blk.1.attn_v_b.weight"));
  e = error_of([&] { load_weights_gguf(bad); });
  EXPECT_NE(e.find("blk.1.attn_v_b.weight"), std::string::npos) << e;

  rewrite(gguf, bad, [&](formats::GgufWriter& w, const GgufFile& f) {
    for (const auto& t : f.tensors()) {
      if (t.name == "blk.1.exp_probs_b.bias") {
        w.add_tensor(t.name, f.view(t.name).slice(0, 15));
      } else {
        w.add_tensor(t.name, f.view(t.name));
      }
    }
  });
  e = error_of([&] { load_weights_gguf(bad); });
  EXPECT_NE(e.find("tensor blk.1.exp_probs_b.bias has shape [15], expected [16]"), std::string::npos) << e;

  rewrite(gguf, bad, [&](formats::GgufWriter& w, const GgufFile& f) {
    w.set("general.architecture", formats::GgufValue::string("mamba"));
    copy_except("")(w, f);
  });
  e = error_of([&] { load_weights_gguf(bad); });
  EXPECT_NE(e.find(bad + ": general.architecture \"mamba\""), std::string::npos) << e;

  // A checkpoint that disagrees with its config.json fails before anything is written.
  formats::ModelArgs a = find_preset("tiny-deepseek-v3").args;
  const std::string dir = checkpoint(a, "misshaped");
  a.intermediate_size = 160;
  core::write_file_atomic(dir + "/config.json", formats::model_args_to_json(a));
  e = error_of([&] { convert(dir, DType::kF32); });
  EXPECT_NE(e.find(dir + ": tensor model.layers.0.mlp.gate_proj.weight has shape [128, 64], expected [160, 64]"),
            std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir + "_f32.gguf"));
}

// whale quantize on an f32 file = whale convert straight to the type, byte for byte, including
// the fallbacks: q4_k rows of 64/32 (hidden, expert width) are q5_0, rows of 48 and 16 f16.
TEST_F(GgufTest, QuantizeEqualsConvertingToTheType) {
  const std::string dir = checkpoint(find_preset("tiny-deepseek-v3").args, "requant");
  const GgufFile direct = GgufFile::open(convert(dir, DType::kQ4_K));
  const std::string out = dir + "_requant.gguf";
  cleanup_.push_back(out);
  quantize_gguf(convert(dir, DType::kF32), out, {.type = DType::kQ4_K, .threads = 2, .progress = false});
  const GgufFile q = GgufFile::open(out);
  ASSERT_EQ(q.tensors().size(), direct.tensors().size());
  for (size_t i = 0; i < q.tensors().size(); ++i) {
    const auto& a = q.tensors()[i];
    const auto& b = direct.tensors()[i];
    ASSERT_EQ(a.name, b.name);
    EXPECT_EQ(a.ggml_type, b.ggml_type) << a.name;
    const auto x = q.tensor_bytes(a), y = direct.tensor_bytes(b);
    ASSERT_EQ(x.size(), y.size()) << a.name;
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size()), 0) << a.name;
  }
  for (const auto& [k, v] : direct.metadata()) EXPECT_TRUE(q.find(k) && *q.find(k) == v) << k;
  EXPECT_EQ(q.find_tensor("blk.1.ffn_down_exps.weight")->dtype, DType::kQ5_0);  // llama.cpp: q4_k -> q5_0
  EXPECT_EQ(q.find_tensor("blk.0.attn_q_b.weight")->dtype, DType::kF16);
  EXPECT_EQ(q.find_tensor("blk.0.attn_k_b.weight")->dtype, DType::kF16);
  EXPECT_EQ(q.find_tensor("blk.1.ffn_gate_inp.weight")->dtype, DType::kF32);
  EXPECT_EQ(q.get("general.file_type").as_u64(), 14u);
  EXPECT_EQ(q.get("general.quantization_version").as_u64(), 2u);
}

// iq4_xs falls back as llama.cpp's quantizer does: attn_k_b's rows of 32 to iq4_nl, the same bytes
// as converting straight to iq4_xs. whale computes with the file (iq4_xs and
// iq4_nl int8 kernels) what it computes from the file's weights decoded to f32, up to the int8
// rounding of activations: measured 0.086 (a q4_0 file, same check: 0.112); bounds 1.5x, and no
// worse than 1.5x the q4_0 file's.
TEST_F(GgufTest, QuantizeToIq4XsFallsBackToIq4Nl) {
  const std::string dir = checkpoint(wide_deepseek(), "requant_iq4");
  const std::string out = dir + "_iq4_xs.gguf";
  cleanup_.push_back(out);
  quantize_gguf(convert(dir, DType::kF32), out, {.type = DType::kIQ4_XS, .threads = 2, .progress = false});
  const GgufFile q = GgufFile::open(out);
  const GgufFile direct = GgufFile::open(convert(dir, DType::kIQ4_XS));
  ASSERT_EQ(q.tensors().size(), direct.tensors().size());
  for (size_t i = 0; i < q.tensors().size(); ++i) {
    const auto x = q.tensor_bytes(q.tensors()[i]), y = direct.tensor_bytes(direct.tensors()[i]);
    ASSERT_EQ(x.size(), y.size()) << q.tensors()[i].name;
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size()), 0) << q.tensors()[i].name;
  }
  EXPECT_EQ(q.find_tensor("blk.1.ffn_down_exps.weight")->dtype, DType::kIQ4_XS);
  EXPECT_EQ(q.find_tensor("blk.0.attn_k_b.weight")->dtype, DType::kIQ4_NL);
  EXPECT_EQ(q.find_tensor("blk.0.attn_v_b.weight")->dtype, DType::kIQ4_XS);
  EXPECT_EQ(q.find_tensor("blk.1.ffn_gate_inp.weight")->dtype, DType::kF32);
  EXPECT_EQ(q.get("general.file_type").as_u64(), 30u);
  const Weights gg = load_weights_gguf(out);
  EXPECT_EQ(gg.layers[1].moe.experts[0].down.w.dtype(), DType::kIQ4_XS);
  const double d = max_diff(run(load_weights_gguf(out, {.quant = DType::kF32})).logits, run(gg).logits);
  const std::string q4 = dir + "_q4_0.gguf";
  cleanup_.push_back(q4);
  quantize_gguf(convert(dir, DType::kF32), q4, {.type = DType::kQ4_0, .threads = 2, .progress = false});
  const double d4 =
      max_diff(run(load_weights_gguf(q4, {.quant = DType::kF32})).logits, run(load_weights_gguf(q4)).logits);
  std::printf("[ measure  ] iq4_xs file: int8 kernels vs its weights in f32: %.3g (q4_0 file: %.3g)\n", d, d4);
  EXPECT_GT(d, 0.0);  // the int8 kernels did run
  EXPECT_LT(d, 0.13);
  EXPECT_LT(d, 1.5 * d4);
}

}  // namespace
}  // namespace whale::model
