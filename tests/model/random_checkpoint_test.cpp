// Random checkpoints: every table tensor written with its shape and dtype; values equal the
// documented generator (the oracle), through bf16 rounding and FP8 block scaling; determinism.
#include "model/random_checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/convert.h"
#include "core/quant.h"
#include "formats/checkpoint.h"
#include "formats/tensor_table.h"
#include "model/presets.h"

namespace whale::model {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("whale_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

RandomCheckpointOptions quiet() {
  RandomCheckpointOptions o;
  o.progress = false;
  o.threads = 2;
  return o;
}

TEST(RandomCheckpoint, EveryTensorPresentWithShapeAndValues) {
  for (const char* preset : {"tiny-deepseek-v3", "tiny-deepseek-v2-lite", "tiny-qwen2", "tiny-llama"}) {
    const formats::ModelArgs args = find_preset(preset).args;
    const std::string dir = temp_dir(preset);
    write_random_checkpoint(args, dir, quiet());
    const formats::CheckpointReader ckpt = formats::CheckpointReader::open(dir);
    ASSERT_TRUE(ckpt.has_weights());
    const auto table = formats::tensor_table(args);
    EXPECT_EQ(ckpt.tensor_names().size(), table.size()) << preset;
    for (const formats::TensorSpec& s : table) {
      const core::Tensor t = ckpt.view(s.name);
      ASSERT_EQ(t.shape(), s.shape) << s.name;
      ASSERT_EQ(t.dtype(), core::DType::kF32) << s.name;  // tiny presets store float32
      const float* v = t.data<float>();
      if (s.kind == formats::TensorKind::kNorm) {
        EXPECT_EQ(v[0], 1.0f) << s.name;
        EXPECT_EQ(v[s.shape.numel() - 1], 1.0f) << s.name;
      } else {
        const float std = s.kind == formats::TensorKind::kRouterBias ? 0.01f : 0.02f;
        for (int64_t i : {int64_t{0}, s.shape.numel() / 2, s.shape.numel() - 1}) {
          EXPECT_EQ(v[i], random_weight_value(0, s.name, i, std)) << s.name << "[" << i << "]";
        }
      }
    }
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}) {
      EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
    }
    fs::remove_all(dir);
  }
}

TEST(RandomCheckpoint, Bf16RoundsTheSameValues) {
  formats::ModelArgs args = find_preset("tiny-qwen2").args;
  args.torch_dtype = "bfloat16";
  const std::string dir = temp_dir("bf16");
  write_random_checkpoint(args, dir, quiet());
  const auto ckpt = formats::CheckpointReader::open(dir);
  const core::Tensor t = ckpt.view("model.layers.1.mlp.up_proj.weight");
  ASSERT_EQ(t.dtype(), core::DType::kBF16);
  for (int64_t i = 0; i < t.numel(); i += 97) {
    EXPECT_EQ(t.data<uint16_t>()[i],
              core::f32_to_bf16(random_weight_value(0, "model.layers.1.mlp.up_proj.weight", i, 0.02f)));
  }
  fs::remove_all(dir);
}

TEST(RandomCheckpoint, Fp8BlockScalesDequantizeToTheWrittenValues) {
  formats::ModelArgs args = find_preset("tiny-deepseek-v3").args;
  args.fp8 = true;
  args.torch_dtype = "bfloat16";
  args.hidden_size = 192;  // 1.5 blocks: exercises partial edge blocks
  const std::string dir = temp_dir("fp8");
  write_random_checkpoint(args, dir, quiet());
  const auto ckpt = formats::CheckpointReader::open(dir);
  const std::string name = "model.layers.0.mlp.up_proj.weight";  // [128, 192]
  const core::Tensor w = ckpt.view(name);
  const core::Tensor s = ckpt.view("model.layers.0.mlp.up_proj.weight_scale_inv");
  ASSERT_EQ(w.dtype(), core::DType::kF8E4M3);
  ASSERT_EQ(s.shape(), (core::Shape{1, 2}));
  const int64_t rows = w.dim(0), cols = w.dim(1);
  for (int64_t bc = 0; bc < 2; ++bc) {
    float amax = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = bc * 128; c < std::min(cols, bc * 128 + 128); ++c) {
        amax = std::max(amax, std::fabs(random_weight_value(0, name, r * cols + c, 0.02f)));
      }
    }
    EXPECT_EQ(s.data<float>()[bc], amax / 448.0f);
  }
  std::vector<float> deq(static_cast<size_t>(rows * cols));
  core::dequantize_fp8_blocks(w.data<uint8_t>(), s.data<float>(), rows, cols, deq.data(), 128);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float x = random_weight_value(0, name, i, 0.02f);
    err += (deq[i] - x) * (deq[i] - x);
    ref += x * x;
  }
  EXPECT_LT(std::sqrt(err / ref), 0.04);  // e4m3 keeps 3 mantissa bits: ~2-3% relative RMS
  // Unquantized tensors in an FP8 checkpoint stay bf16.
  EXPECT_EQ(ckpt.view("model.embed_tokens.weight").dtype(), core::DType::kBF16);
  EXPECT_EQ(ckpt.view("model.layers.1.mlp.gate.e_score_correction_bias").dtype(), core::DType::kF32);
  fs::remove_all(dir);
}

TEST(RandomCheckpoint, ShardsAndSeeds) {
  const formats::ModelArgs args = find_preset("tiny-llama").args;
  RandomCheckpointOptions o = quiet();
  o.max_shard_bytes = 200'000;
  const std::string a = temp_dir("shard_a"), b = temp_dir("shard_b");
  write_random_checkpoint(args, a, o);
  o.threads = 1;
  write_random_checkpoint(args, b, o);  // thread count must not change values
  const auto ca = formats::CheckpointReader::open(a), cb = formats::CheckpointReader::open(b);
  EXPECT_GT(ca.shard_paths().size(), 1u);
  EXPECT_TRUE(fs::exists(fs::path(a) / "model.safetensors.index.json"));
  for (const std::string& n : ca.tensor_names()) {
    const core::Tensor x = ca.view(n), y = cb.view(n);
    ASSERT_EQ(x.nbytes(), y.nbytes());
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), static_cast<size_t>(x.nbytes())), 0) << n;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(RandomCheckpoint, ConfigOnly) {
  const std::string dir = temp_dir("cfg");
  RandomCheckpointOptions o = quiet();
  o.config_only = true;
  write_random_checkpoint(find_preset("deepseek-v3").args, dir, o);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "config.json"));
  EXPECT_FALSE(formats::CheckpointReader::open(dir).has_weights());
  const formats::ModelArgs back = formats::load_model_args(dir);
  EXPECT_EQ(back.n_routed_experts, 256);
  EXPECT_TRUE(back.fp8);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whale::model
