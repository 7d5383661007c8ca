// torch_io: dtype-exact copies both ways, FP8 block dequantization against hand values, module
// names = the tensor table for every tiny preset, loading (FP8 included), clear errors, save/load.
#include "train/torch_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/convert.h"
#include "core/error.h"
#include "core/quant.h"
#include "formats/checkpoint.h"
#include "formats/tensor_table.h"
#include "test_util.h"
#include "train/nn/causal_lm.h"

namespace whale::train {
namespace {

using core::DType;
using testing::preset;
using testing::random_checkpoint;

TEST(ToTorch, PlainDtypesKeepTypeAndBytes) {
  core::Tensor f = core::Tensor::empty(DType::kF32, core::Shape{2, 3});
  for (int i = 0; i < 6; ++i) f.data<float>()[i] = 0.5f * static_cast<float>(i) - 1.0f;
  const torch::Tensor tf = to_torch(f);
  EXPECT_EQ(tf.scalar_type(), torch::kFloat32);
  EXPECT_EQ(tf.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tf[1][2].item<float>(), 1.5f);

  core::Tensor b = core::Tensor::empty(DType::kBF16, core::Shape{3});
  b.data<uint16_t>()[0] = core::f32_to_bf16(3.25f);
  b.data<uint16_t>()[1] = 0x7FC1;  // a NaN payload must survive the byte copy
  b.data<uint16_t>()[2] = core::f32_to_bf16(-0.0f);
  const torch::Tensor tb = to_torch(b);
  EXPECT_EQ(tb.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(tb[0].item<float>(), 3.25f);
  EXPECT_EQ(std::memcmp(tb.data_ptr(), b.raw(), 6), 0);

  core::Tensor i = core::Tensor::empty(DType::kI64, core::Shape{2});
  i.data<int64_t>()[0] = -7;
  i.data<int64_t>()[1] = int64_t{1} << 40;
  const torch::Tensor ti = to_torch(i);
  EXPECT_EQ(ti.scalar_type(), torch::kInt64);
  EXPECT_EQ(ti[1].item<int64_t>(), int64_t{1} << 40);

  // A transposed (strided) view is copied in its logical order.
  const torch::Tensor tt = to_torch(f.transpose(0, 1));
  EXPECT_EQ(tt.sizes().vec(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(tt[2][1].item<float>(), f.data<float>()[5]);
}

TEST(ToTorch, Fp8DecodesEveryByteExactly) {
  core::Tensor q = core::Tensor::empty(DType::kF8E4M3, core::Shape{16, 16});
  for (int v = 0; v < 256; ++v) q.data<uint8_t>()[v] = static_cast<uint8_t>(v);
  const torch::Tensor t = to_torch(q);
  ASSERT_EQ(t.scalar_type(), torch::kFloat32);
  const float* d = t.data_ptr<float>();
  for (int v = 0; v < 256; ++v) {
    const float want = core::f8e4m3_to_f32(static_cast<uint8_t>(v));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(d[v])) << v;
    } else {
      EXPECT_EQ(std::memcmp(&d[v], &want, 4), 0) << v;
    }
  }
  EXPECT_EQ(d[0x38], 1.0f);   // 0 0111 000 = 2^0
  EXPECT_EQ(d[0x7E], 448.0f);  // max finite
}

TEST(DequantizeFp8, BlockScalesByHand) {
  // 3x5 weight, 2x2 blocks: scale_inv [2, 3]; edge blocks partial.
  core::Tensor q = core::Tensor::empty(DType::kF8E4M3, core::Shape{3, 5});
  core::Tensor s = core::Tensor::empty(DType::kF32, core::Shape{2, 3});
  for (int i = 0; i < 15; ++i) q.data<uint8_t>()[i] = 0x38;  // 1.0
  q.data<uint8_t>()[14] = 0x40;                              // 2.0 at [2][4]
  const float scales[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 0.5f};
  std::memcpy(s.raw(), scales, sizeof(scales));
  const torch::Tensor w = dequantize_fp8(q, s, /*block=*/2);
  const float want[3][5] = {{1, 1, 2, 2, 3}, {1, 1, 2, 2, 3}, {4, 4, 5, 5, 1}};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 5; ++c) EXPECT_EQ(w[r][c].item<float>(), want[r][c]) << r << "," << c;
  }
  core::Tensor bad = core::Tensor::empty(DType::kF32, core::Shape{2, 2});
  EXPECT_THROW(dequantize_fp8(q, bad, 2), Error);
}

TEST(FromTorch, RoundTripsDtypesAndShapes) {
  const torch::Tensor a = torch::arange(24, torch::kFloat32).reshape({2, 3, 4}).to(torch::kBFloat16);
  const core::Tensor c = from_torch(a.transpose(0, 2));  // non-contiguous input
  EXPECT_EQ(c.dtype(), DType::kBF16);
  EXPECT_EQ(c.shape(), (core::Shape{4, 3, 2}));
  EXPECT_TRUE(torch::equal(to_torch(c), a.transpose(0, 2).contiguous()));
  EXPECT_EQ(from_torch(torch::tensor({true, false})).dtype(), DType::kBool);
  EXPECT_THROW(from_torch(torch::zeros({1, 1, 1, 1, 2})), Error);
}

std::set<std::string> table_names(const formats::ModelArgs& a) {
  std::set<std::string> out;
  for (const auto& s : formats::tensor_table(a)) {
    if (s.kind != formats::TensorKind::kScaleInv) out.insert(s.name);
  }
  return out;
}

TEST(ReferenceModel, ParameterNamesAndShapesEqualTheTensorTable) {
  for (const auto& p : model::presets()) {
    if (p.name.rfind("tiny-", 0) != 0) continue;
    formats::ModelArgs a = p.args;
    a.fp8 = true;  // scales are excluded; the rest of the names are the same
    const auto lm = nn::make_causal_lm(a);
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& it : lm->named_parameters()) got[it.key()] = it.value().sizes().vec();
    EXPECT_TRUE(lm->named_buffers().is_empty()) << p.name;
    std::set<std::string> names;
    for (const auto& [n, s] : got) names.insert(n);
    EXPECT_EQ(names, table_names(a)) << p.name;
    for (const auto& s : formats::tensor_table(a)) {
      if (s.kind == formats::TensorKind::kScaleInv) continue;
      EXPECT_EQ(got[s.name], s.shape.to_vector()) << s.name;
    }
  }
  // Tied embeddings: no lm_head parameter, as the table says.
  formats::ModelArgs tied = preset("tiny-qwen2");
  tied.tie_word_embeddings = true;
  std::set<std::string> names;
  for (const auto& it : nn::make_causal_lm(tied)->named_parameters()) names.insert(it.key());
  EXPECT_EQ(names, table_names(tied));
  EXPECT_EQ(names.count("lm_head.weight"), 0u);
}

TEST(LoadState, ValuesEqualTheCheckpoint) {
  const formats::ModelArgs a = preset("tiny-deepseek-v3");
  const std::string dir = random_checkpoint(a, "load_v3");
  const auto reader = formats::CheckpointReader::open(dir);
  const auto lm = nn::make_causal_lm(a);
  load_state(*lm, reader, torch::kFloat32);
  for (const auto& it : lm->named_parameters()) {
    const core::Tensor src = reader.view(it.key());
    ASSERT_EQ(src.dtype(), DType::kF32);
    ASSERT_EQ(it.value().scalar_type(), torch::kFloat32);
    EXPECT_EQ(std::memcmp(it.value().data_ptr(), src.raw(), static_cast<size_t>(src.nbytes())), 0) << it.key();
  }
  // e_score_correction_bias: loaded, never trained by gradient.
  const auto params = lm->named_parameters();
  EXPECT_FALSE(params["model.layers.1.mlp.gate.e_score_correction_bias"].requires_grad());
  EXPECT_TRUE(params["model.layers.1.mlp.gate.weight"].requires_grad());
  std::filesystem::remove_all(dir);
}

TEST(LoadState, Fp8CheckpointDequantizesPerBlock) {
  formats::ModelArgs a = preset("tiny-deepseek-v3");
  a.fp8 = true;
  a.torch_dtype = "bfloat16";
  a.hidden_size = 192;  // 192 = 128 + 64: partial scale blocks
  const std::string dir = random_checkpoint(a, "load_fp8");
  const auto reader = formats::CheckpointReader::open(dir);
  const auto lm = nn::make_causal_lm(a);
  load_state(*lm, reader, torch::kFloat32);
  auto params = lm->named_parameters();
  int n_fp8 = 0;
  for (const auto& s : formats::tensor_table(a)) {
    if (s.kind == formats::TensorKind::kScaleInv) continue;
    const torch::Tensor got = params[s.name];
    const core::Tensor src = reader.view(s.name);
    std::vector<float> want(static_cast<size_t>(src.numel()));
    if (s.dtype == DType::kF8E4M3) {
      ++n_fp8;
      const core::Tensor scale = reader.view(s.name + "_scale_inv");
      core::dequantize_fp8_blocks(src.data<uint8_t>(), scale.data<float>(), src.dim(0), src.dim(1), want.data(), 128);
    } else {
      core::convert_row(src.dtype(), src.raw(), DType::kF32, want.data(), src.numel());
    }
    ASSERT_EQ(std::memcmp(got.data_ptr<float>(), want.data(), want.size() * 4), 0) << s.name;
  }
  EXPECT_GT(n_fp8, 50);
  // Compute in bf16: every parameter converted.
  load_state(*lm, reader, torch::kBFloat16);
  EXPECT_EQ(lm->named_parameters()["model.layers.0.self_attn.q_a_proj.weight"].scalar_type(), torch::kBFloat16);
  std::filesystem::remove_all(dir);
}

TEST(LoadState, MissingAndMisShapedTensorsNameTheTensor) {
  const std::string dir = random_checkpoint(preset("tiny-llama"), "load_err");
  const auto reader = formats::CheckpointReader::open(dir);
  try {  // qwen2 needs q/k/v biases the llama checkpoint lacks
    load_state(*nn::make_causal_lm(preset("tiny-qwen2")), reader, torch::kFloat32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj.bias"), std::string::npos) << e.what();
  }
  formats::ModelArgs narrow = preset("tiny-llama");
  narrow.intermediate_size = 96;
  try {
    load_state(*nn::make_causal_lm(narrow), reader, torch::kFloat32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[160, 64]"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(SaveState, RoundTripIsBitExact) {
  for (const char* name : {"tiny-deepseek-v3", "tiny-qwen2"}) {
    for (const char* dtype : {"float32", "bfloat16"}) {
      formats::ModelArgs a = preset(name);
      a.torch_dtype = dtype;
      const std::string src_dir = random_checkpoint(a, std::string("save_src_") + dtype);
      const auto src = formats::CheckpointReader::open(src_dir);
      const auto lm = nn::make_causal_lm(a);
      load_state(*lm, src, torch::kFloat32);
      const std::string out_dir = testing::temp_dir(std::string("save_out_") + dtype);
      save_state(*lm, a, out_dir);
      EXPECT_EQ(formats::load_model_args(out_dir).model_type, a.model_type);
      const auto out = formats::CheckpointReader::open(out_dir);
      ASSERT_EQ(out.tensor_names(), src.tensor_names());
      for (const std::string& t : src.tensor_names()) {
        const core::Tensor x = src.view(t), y = out.view(t);
        ASSERT_EQ(x.dtype(), y.dtype()) << t;
        ASSERT_EQ(x.shape(), y.shape()) << t;
        ASSERT_EQ(std::memcmp(x.raw(), y.raw(), static_cast<size_t>(x.nbytes())), 0) << name << " " << t;
      }
      const auto again = nn::make_causal_lm(a);
      load_state(*again, out, torch::kFloat32);
      auto p2 = again->named_parameters();
      for (const auto& it : lm->named_parameters()) EXPECT_TRUE(torch::equal(it.value(), p2[it.key()])) << it.key();
      std::filesystem::remove_all(src_dir);
      std::filesystem::remove_all(out_dir);
    }
  }
}

}  // namespace
}  // namespace whale::train
