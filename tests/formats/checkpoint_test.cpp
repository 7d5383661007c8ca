// Hugging Face checkpoint directories: single-file and sharded writes (file names, index JSON),
// bit-exact read back, stale-file clean-up, and index defects reported with the files involved.
#include "formats/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error_of.h"
#include "../test_files.h"
#include "core/error.h"

namespace whale::formats {
namespace {

namespace fs = std::filesystem;
using core::DType;
using core::Shape;
using core::Tensor;
using testing::error_kind_of;

// dir_ does not exist when a test starts: CheckpointWriter::write creates it.
class CheckpointTest : public testing::TempDirTest {
 protected:
  std::string d() const { return dir_.string(); }
  std::set<std::string> files() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename().string());
    return out;
  }
};

struct Spec {
  std::string name;
  DType dtype;
  Shape shape;
};

// Random contents per tensor, kept so the read back can be compared byte for byte.
std::vector<std::vector<std::byte>> add_all(CheckpointWriter& w, const std::vector<Spec>& specs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::byte>> data;
  for (const Spec& s : specs) {
    std::vector<std::byte> bytes(static_cast<size_t>(core::dtype_bytes(s.dtype, s.shape.numel())));
    for (auto& b : bytes) b = std::byte(rng() & 0xFF);
    w.add(s.name, s.dtype, s.shape, [bytes](std::span<std::byte> out) {
      std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(out.size()), out.begin());  // memcpy of an empty tensor passes null
    });
    data.push_back(std::move(bytes));
  }
  return data;
}

void expect_same(const CheckpointReader& r, const std::vector<Spec>& specs,
                 const std::vector<std::vector<std::byte>>& data) {
  std::vector<std::string> names;
  for (const Spec& s : specs) names.push_back(s.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(r.tensor_names(), names);
  for (size_t i = 0; i < specs.size(); ++i) {
    const Tensor t = r.view(specs[i].name);
    EXPECT_EQ(t.dtype(), specs[i].dtype);
    EXPECT_EQ(t.shape(), specs[i].shape);
    // (an empty tensor's data() may be null, which memcmp must not get even for 0 bytes)
    EXPECT_TRUE(data[i].empty() || std::memcmp(t.raw(), data[i].data(), data[i].size()) == 0) << specs[i].name;
    ASSERT_NE(r.find(specs[i].name), nullptr);
    EXPECT_EQ(r.find(specs[i].name)->nbytes, data[i].size());
  }
}

// 40 + 40 | 30 | 100 | 8 + 0 bytes at max_shard_bytes = 80: greedy in insertion order.
const std::vector<Spec> kSharded = {
    {"model.embed_tokens.weight", DType::kF32, {2, 5}},
    {"model.layers.0.input_layernorm.weight", DType::kBF16, {20}},
    {"model.layers.0.mlp.gate.e_score_correction_bias", DType::kF16, {15}},
    {"model.layers.0.self_attn.q_proj.weight", DType::kF8E4M3, {10, 10}},
    {"lm_head.weight", DType::kI64, {1, 1, 1, 1}},
    {"model.norm.empty", DType::kBool, {0}},
};

std::string shard(int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, n);
  return buf;
}

TEST_F(CheckpointTest, SingleShardIsPlainModelSafetensors) {
  CheckpointWriter w(d());
  const auto data = add_all(w, kSharded, 1);
  w.write();
  EXPECT_EQ(files(), std::set<std::string>{"model.safetensors"});
  const CheckpointReader r = CheckpointReader::open(d());
  EXPECT_TRUE(r.has_weights());
  EXPECT_EQ(r.dir(), d());
  EXPECT_EQ(r.shard_paths(), std::vector<std::string>{(dir_ / "model.safetensors").string()});
  expect_same(r, kSharded, data);
  const SafetensorsFile f = SafetensorsFile::open((dir_ / "model.safetensors").string());
  EXPECT_EQ(f.metadata(), (std::vector<std::pair<std::string, std::string>>{{"format", "pt"}}));
}

TEST_F(CheckpointTest, ShardsAtSmallLimitWithIndex) {
  CheckpointWriter w(d(), /*max_shard_bytes=*/80);
  const auto data = add_all(w, kSharded, 2);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  w.write([&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });

  EXPECT_EQ(files(), (std::set<std::string>{shard(1, 4), shard(2, 4), shard(3, 4), shard(4, 4),
                                            "model.safetensors.index.json"}));
  std::ifstream in(dir_ / "model.safetensors.index.json");
  const nlohmann::json index = nlohmann::json::parse(in);
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "metadata": {"total_size": 218},
    "weight_map": {
      "model.embed_tokens.weight": "model-00001-of-00004.safetensors",
      "model.layers.0.input_layernorm.weight": "model-00001-of-00004.safetensors",
      "model.layers.0.mlp.gate.e_score_correction_bias": "model-00002-of-00004.safetensors",
      "model.layers.0.self_attn.q_proj.weight": "model-00003-of-00004.safetensors",
      "lm_head.weight": "model-00004-of-00004.safetensors",
      "model.norm.empty": "model-00004-of-00004.safetensors"
    }})");
  EXPECT_EQ(index, expected);
  const std::vector<std::pair<uint64_t, uint64_t>> want = {{0, 218}, {40, 218}, {80, 218}, {110, 218},
                                                          {210, 218}, {218, 218}, {218, 218}};
  EXPECT_EQ(progress, want);

  // Each shard holds exactly its tensors.
  EXPECT_EQ(SafetensorsFile::open((dir_ / shard(1, 4)).string()).entries().size(), 2u);
  EXPECT_EQ(SafetensorsFile::open((dir_ / shard(3, 4)).string()).entries().size(), 1u);

  const CheckpointReader r = CheckpointReader::open(d());
  EXPECT_EQ(r.shard_paths().size(), 4u);
  expect_same(r, kSharded, data);
}

TEST_F(CheckpointTest, RewriteWithOtherShardCountRemovesStaleFilesOnly) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "config.json") << "{}";
  std::ofstream(dir_ / "model_extra.safetensors") << "keep me";
  {
    CheckpointWriter w(d(), 80);
    add_all(w, kSharded, 3);
    w.write();
  }
  CheckpointWriter single(d());
  const auto data = add_all(single, kSharded, 4);
  single.write();
  EXPECT_EQ(files(), (std::set<std::string>{"config.json", "model_extra.safetensors", "model.safetensors"}));
  expect_same(CheckpointReader::open(d()), kSharded, data);

  CheckpointWriter sharded(d(), 80);
  const auto data2 = add_all(sharded, kSharded, 5);
  sharded.write();
  EXPECT_EQ(files().count("model.safetensors"), 0u);
  EXPECT_EQ(files().size(), 7u);
  expect_same(CheckpointReader::open(d()), kSharded, data2);
}

TEST_F(CheckpointTest, ConfigOnlyDirectoryHasNoWeights) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "config.json") << "{}";
  const CheckpointReader r = CheckpointReader::open(d());
  EXPECT_FALSE(r.has_weights());
  EXPECT_TRUE(r.tensor_names().empty());
  EXPECT_TRUE(r.shard_paths().empty());
  try {
    r.view("lm_head.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_EQ(std::string(e.what()), "tensor lm_head.weight not found in " + d());
  }
  EXPECT_THROW(CheckpointReader::open((dir_ / "missing").string()), Error);
}

TEST_F(CheckpointTest, PrefersSingleFileOverIndexLikeTransformers) {
  CheckpointWriter w(d(), 80);
  add_all(w, kSharded, 6);
  w.write();
  SafetensorsWriter one;
  one.add("only", DType::kU8, {3}, [](std::span<std::byte> s) { std::memset(s.data(), 9, s.size()); });
  one.write((dir_ / "model.safetensors").string());
  EXPECT_EQ(CheckpointReader::open(d()).tensor_names(), std::vector<std::string>{"only"});
}

class CheckpointIndexTest : public CheckpointTest {
 protected:
  // Two shards (a | b) at a 4-byte limit, then the index rewritten by the test.
  void SetUp() override {
    CheckpointTest::SetUp();
    CheckpointWriter w(d(), 4);
    w.add("a", DType::kF32, {1}, [](std::span<std::byte> s) { std::memset(s.data(), 1, s.size()); });
    w.add("b", DType::kF32, {1}, [](std::span<std::byte> s) { std::memset(s.data(), 2, s.size()); });
    w.write();
  }
  std::string index_path() const { return (dir_ / "model.safetensors.index.json").string(); }
  void write_index(const std::string& text) const { std::ofstream(index_path()) << text; }
  // Opening must throw whale::Error whose message contains every one of `parts`.
  void expect_open_error(const std::vector<std::string>& parts) const {
    try {
      CheckpointReader::open(d());
      ADD_FAILURE() << "opened";
    } catch (const Error& e) {
      for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
};

TEST_F(CheckpointIndexTest, MissingShardNamesIndexAndShard) {
  write_index(R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00009-of-00009.safetensors"}})");
  expect_open_error({index_path(), (dir_ / "model-00009-of-00009.safetensors").string(), "\"b\""});
}

TEST_F(CheckpointIndexTest, TensorMissingFromItsShard) {
  write_index(R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors"}})");
  expect_open_error({index_path(), "\"b\"", "model-00001-of-00002.safetensors", "does not contain"});
}

TEST_F(CheckpointIndexTest, ShardWithExtraTensorsIsFine) {
  write_index(R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors"}})");
  const CheckpointReader r = CheckpointReader::open(d());
  EXPECT_EQ(r.tensor_names(), std::vector<std::string>{"a"});
  EXPECT_EQ(*r.view("a").data<uint8_t>(), 1);
}

TEST_F(CheckpointIndexTest, MalformedIndexes) {
  write_index("{not json");
  expect_open_error({index_path(), "not valid JSON"});
  write_index(R"({"weight_map":[]})");
  expect_open_error({index_path(), "weight_map"});
  write_index(R"({"weight_map":{}})");
  expect_open_error({index_path(), "empty"});
  write_index(R"({"weight_map":{"a":7}})");
  expect_open_error({index_path(), "\"a\"", "file name"});
  write_index(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})");
  expect_open_error({index_path(), "inside the checkpoint directory"});
  fs::remove(index_path());
  expect_open_error({d(), "no model.safetensors.index.json"});
}

TEST_F(CheckpointTest, WriterRejectsDuplicatesAndUnsupportedTypes) {
  CheckpointWriter w(d());
  const auto fill = [](std::span<std::byte>) {};
  w.add("x", DType::kF32, {1}, fill);
  EXPECT_THROW(w.add("x", DType::kI8, {1}, fill), Error);
  EXPECT_THROW(w.add("", DType::kI8, {1}, fill), Error);
  EXPECT_EQ(error_kind_of([&] { w.add("q", DType::kQ8_0, {32}, fill); }), ErrorKind::kUnsupported);
}

TEST_F(CheckpointTest, FailedShardLeavesNoTempFiles) {
  CheckpointWriter w(d(), 4);
  w.add("a", DType::kF32, {1}, [](std::span<std::byte>) {});
  w.add("b", DType::kF32, {1}, [](std::span<std::byte>) { throw Error(ErrorKind::kIo, "disk gone"); });
  EXPECT_THROW(w.write(), Error);
  // The first shard is in place; no temporary, no index, so the directory is not a checkpoint.
  EXPECT_EQ(files(), std::set<std::string>{"model-00001-of-00002.safetensors"});
  EXPECT_THROW(CheckpointReader::open(d()), Error);
}

}  // namespace
}  // namespace whale::formats
