// GGUF tests: writer -> reader round trips, a file assembled byte by byte from the spec, every
// validation error (in code and as committed files in tests/data/broken/gguf), and truncation.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <unistd.h>

#include "../test_files.h"
#include "core/error.h"

namespace whale::formats {
namespace {

namespace fs = std::filesystem;
using core::DType;
using VT = GgufValueType;
using testing::read_bytes;

// Little-endian byte assembly straight from docs/gguf.md, independent of GgufWriter.
struct Bytes {
  std::string b;
  template <class T>
  Bytes& put(T v) {
    char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.append(tmp, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    b.append(s);
    return *this;
  }
  Bytes& raw(std::string_view s) {
    b.append(s);
    return *this;
  }
  Bytes& pad(size_t a) {
    while (b.size() % a) b.push_back('\0');
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
  // tensor info: name, n_dims, ne (innermost first), ggml type, offset into the data section
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
};

Bytes head(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  return b;
}

GgufFile parse_str(const std::string& s, const std::string& name = "mem.gguf") {
  return GgufFile::parse(std::as_bytes(std::span(s.data(), s.size())), nullptr, name);
}

fs::path temp_dir() { return fs::temp_directory_path() / ("whale_gguf_test_" + std::to_string(::getpid())); }

std::string temp_path(const std::string& leaf) {
  fs::create_directories(temp_dir());
  return (temp_dir() / leaf).string();
}

class RemoveTempDir : public ::testing::Environment {
  void TearDown() override { fs::remove_all(temp_dir()); }
};
[[maybe_unused]] const auto* const kRemoveTempDir = ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

// Expects `fn` to throw whale::Error of `kind` whose message contains every needle.
template <class Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing " << needles[0];
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
}

float f32_with_payload() {
  const uint32_t bits = 0x7fc12345;  // a NaN with a payload: survives only a bit-exact path
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<std::pair<std::string, GgufValue>> every_value_type() {
  std::vector<GgufValue> inner_a = {GgufValue::u16(1), GgufValue::u16(65535)};
  std::vector<GgufValue> inner_b = {};
  GgufValue nested = GgufValue::array(
      VT::kArray, {GgufValue::array(VT::kU16, inner_a), GgufValue::array(VT::kU16, inner_b)});
  GgufValue nested3 = GgufValue::array(VT::kArray, {nested});
  return {
      {"general.architecture", GgufValue::string("deepseek2")},
      {"t.u8", GgufValue::u8(200)},
      {"t.i8", GgufValue::i8(-5)},
      {"t.u16", GgufValue::u16(65000)},
      {"t.i16", GgufValue::i16(-30000)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.u64", GgufValue::u64((uint64_t{1} << 63) + 5)},
      {"t.i64", GgufValue::i64(-(int64_t{1} << 62))},
      {"t.f32", GgufValue::f32(1.5f)},
      {"t.f32_nan", GgufValue::f32(f32_with_payload())},
      {"t.f64", GgufValue::f64(3.141592653589793)},
      {"t.true", GgufValue::boolean(true)},
      {"t.false", GgufValue::boolean(false)},
      {"t.utf8", GgufValue::string(std::string("h\xc3\xa9llo\0x", 8))},
      {"t.empty", GgufValue::string("")},
      {"tokenizer.ggml.tokens", GgufValue::string_array({"<s>", "a", "", "\xe2\x96\x81the"})},
      {"tokenizer.ggml.token_type", GgufValue::i32_array({1, -1, 3})},
      {"t.f32s", GgufValue::f32_array({0.5f, -2.0f, 1e-30f})},
      {"t.bools", GgufValue::array(VT::kBool, {GgufValue::boolean(true), GgufValue::boolean(false)})},
      {"t.empty_array", GgufValue::array(VT::kU64, {})},
      {"t.nested", nested},
      {"t.nested3", nested3},
  };
}

// Deterministic pseudo-random bytes so each tensor's content is distinguishable.
void fill_random(std::span<std::byte> out, uint32_t seed) {
  std::mt19937 rng(seed);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
}

TEST(Gguf, MetadataRoundTripIsBitExact) {
  GgufWriter w;
  const auto kvs = every_value_type();
  for (const auto& [k, v] : kvs) w.set(k, v);
  const std::string path = temp_path("meta.gguf");
  w.write(path);

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, kvs[i].first);
    EXPECT_TRUE(f.metadata()[i].second == kvs[i].second) << kvs[i].first << ": " << f.metadata()[i].second.to_display();
  }
  EXPECT_EQ(f.get("t.u8").as_u64(), 200u);
  EXPECT_EQ(f.get("t.i8").as_i64(), -5);
  EXPECT_EQ(f.get("t.u64").as_u64(), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(f.get("t.i64").as_i64(), -(int64_t{1} << 62));
  EXPECT_EQ(f.get("t.f32").as_f64(), 1.5);
  EXPECT_EQ(f.get("t.f32_nan").bits(), 0x7fc12345u);
  EXPECT_EQ(f.get("t.f64").as_f64(), 3.141592653589793);
  EXPECT_TRUE(f.get("t.true").as_bool());
  EXPECT_FALSE(f.get("t.false").as_bool());
  EXPECT_EQ(f.get("t.utf8").as_string(), std::string("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_array()[3].as_string(), "\xe2\x96\x81the");
  EXPECT_EQ(f.get("t.nested").as_array()[0].as_array()[1].as_u64(), 65535u);
  EXPECT_EQ(f.get("t.nested").array_type(), VT::kArray);
  EXPECT_EQ(f.get("t.nested3").as_array()[0].as_array()[0].array_type(), VT::kU16);

  // Writing what was read reproduces the file byte for byte.
  GgufWriter again;
  for (const auto& [k, v] : f.metadata()) again.set(k, v);
  const std::string path2 = temp_path("meta2.gguf");
  again.write(path2);
  EXPECT_EQ(read_bytes(path), read_bytes(path2));
}

struct TensorCase {
  std::string name;
  DType dtype;
  core::Shape shape;
};

void round_trip_tensors(uint32_t alignment) {
  const std::vector<TensorCase> cases = {
      {"f32", DType::kF32, {3, 5}},
      {"f16", DType::kF16, {7}},
      {"bf16", DType::kBF16, {2, 3}},
      {"q8_0", DType::kQ8_0, {2, 64}},
      {"q4_0", DType::kQ4_0, {3, 32}},
      {"q4_k", DType::kQ4_K, {2, 256}},
      {"q6_k", DType::kQ6_K, {1, 512}},
      {"f64", DType::kF64, {2, 2}},
      {"i8", DType::kI8, {5}},
      {"i16", DType::kI16, {3}},
      {"i32", DType::kI32, {1, 1, 3}},
      {"i64", DType::kI64, {2}},
      {"blk.0.ffn_down_exps.weight", DType::kQ4_K, {4, 8, 512}},  // [n_expert, out, in]
      {"empty", DType::kF32, {0, 4}},
  };
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("deepseek2"));
  w.set_alignment(alignment);
  std::map<std::string, std::vector<std::byte>> expected;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    std::vector<std::byte> bytes(static_cast<size_t>(core::dtype_bytes(c.dtype, c.shape.numel())));
    fill_random(bytes, static_cast<uint32_t>(i + 1));
    expected[c.name] = bytes;
    w.add_tensor(c.name, c.dtype, c.shape, [bytes](std::span<std::byte> out) {
      ASSERT_EQ(out.size(), bytes.size());
      std::copy(bytes.begin(), bytes.end(), out.begin());  // memcpy of an empty tensor would pass null
    });
  }
  const std::string path = temp_path("tensors_" + std::to_string(alignment) + ".gguf");
  std::vector<uint64_t> progress;
  w.write(path, [&](uint64_t n) { progress.push_back(n); });
  ASSERT_EQ(progress.size(), cases.size() + 1);
  EXPECT_EQ(progress.back(), fs::file_size(path));

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  if (alignment == 32) {
    EXPECT_EQ(f.find("general.alignment"), nullptr);
  } else {
    ASSERT_NE(f.find("general.alignment"), nullptr);
    EXPECT_EQ(f.get("general.alignment").type(), VT::kU32);
    EXPECT_EQ(f.get("general.alignment").as_u64(), alignment);
  }
  ASSERT_EQ(f.tensors().size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const GgufTensorInfo& info = f.tensors()[i];
    EXPECT_EQ(info.name, c.name);
    EXPECT_EQ(info.ggml_type, *ggml_type_of(c.dtype));
    EXPECT_EQ(info.dtype, c.dtype);
    EXPECT_EQ(info.shape, c.shape) << info.shape.str();
    EXPECT_EQ((info.offset - f.data_offset()) % alignment, 0u);
    const core::Tensor t = f.view(c.name);
    EXPECT_EQ(t.dtype(), c.dtype);
    EXPECT_EQ(t.shape(), c.shape);
    ASSERT_EQ(static_cast<size_t>(t.nbytes()), expected[c.name].size());
    // (an empty tensor's data() may be null, which memcmp must not get even for 0 bytes)
    EXPECT_TRUE(expected[c.name].empty() || std::memcmp(t.raw(), expected[c.name].data(), expected[c.name].size()) == 0)
        << c.name;
    EXPECT_NE(t.owner(), nullptr);
  }
}

TEST(Gguf, TensorsRoundTripEveryDtype) { round_trip_tensors(32); }
TEST(Gguf, TensorsRoundTripCustomAlignment) {
  round_trip_tensors(64);
  round_trip_tensors(1);
}

TEST(Gguf, AddTensorFromTensorCopiesStridedViews) {
  core::Tensor a = core::Tensor::empty(DType::kF32, {2, 3});
  for (int i = 0; i < 6; ++i) a.data<float>()[i] = static_cast<float>(i);
  GgufWriter w;
  w.add_tensor("a", a);
  w.add_tensor("at", a.transpose(0, 1));  // [3, 2], not contiguous
  const std::string path = temp_path("from_tensor.gguf");
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  const core::Tensor at = f.view("at");
  EXPECT_EQ(at.shape(), core::Shape({3, 2}));
  const float want[6] = {0, 3, 1, 4, 2, 5};
  EXPECT_EQ(std::memcmp(at.raw(), want, sizeof want), 0);
}

TEST(Gguf, HandBuiltFileFromSpec) {
  // 2 tensors, 3 KVs, alignment 16: a [2, 3] f32 matrix stored as ne = [3, 2], and one q8_0 row.
  Bytes b = head(2, 3);
  b.str("general.architecture").u32(8).str("deepseek2");
  b.str("general.alignment").u32(4).u32(16);
  b.str("x.list").u32(9).u32(5).u64(2).u32(static_cast<uint32_t>(-7)).u32(9);
  b.tensor("m", {3, 2}, 0, 0);
  b.tensor("q", {32}, 8, 32);  // 24 bytes of f32 at 0, then padding to 32
  b.pad(16);
  const size_t data_start = b.b.size();
  for (int i = 0; i < 6; ++i) b.put(static_cast<float>(10 * i));
  b.zeros(8);
  b.raw(std::string(34, '\x5a'));

  for (const uint32_t version : {3u, 2u}) {
    std::string bytes = b.b;
    std::memcpy(bytes.data() + 4, &version, 4);
    const GgufFile f = parse_str(bytes);
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.alignment(), 16u);
    EXPECT_EQ(f.data_offset(), data_start);
    EXPECT_EQ(f.get("general.architecture").as_string(), "deepseek2");
    EXPECT_EQ(f.get("x.list").as_array()[0].as_i64(), -7);
    EXPECT_EQ(f.get("x.list").to_display(), "[-7, 9]");
    ASSERT_EQ(f.tensors().size(), 2u);
    const core::Tensor m = f.view("m");
    EXPECT_EQ(m.shape(), core::Shape({2, 3}));  // ne reversed
    EXPECT_EQ(m.data<float>()[1 * 3 + 2], 50.0f);  // row 1, col 2
    EXPECT_EQ(f.tensors()[1].offset, data_start + 32);
    EXPECT_EQ(f.tensors()[1].nbytes, 34u);
    const core::Tensor q = f.view("q");
    EXPECT_EQ(q.dtype(), DType::kQ8_0);
    EXPECT_EQ(q.shape(), core::Shape({32}));
    EXPECT_EQ(static_cast<const unsigned char*>(q.raw())[33], 0x5a);
  }
}

TEST(Gguf, TypesWithoutDtypeParseButDoNotView) {
  Bytes b = head(1, 0);
  b.tensor("blk.0.ffn_up_exps.weight", {256, 2}, 18, 0);  // iq3_xxs: 98 bytes a block, no whale dtype
  b.pad(32).zeros(2 * 98);
  const GgufFile f = parse_str(b.b, "iq3.gguf");
  const GgufTensorInfo& t = f.tensors()[0];
  EXPECT_FALSE(t.dtype.has_value());
  EXPECT_EQ(t.nbytes, 196u);
  EXPECT_EQ(t.shape, core::Shape({2, 256}));
  EXPECT_EQ(f.tensor_bytes(t).size(), 196u);
  expect_error([&] { f.view("blk.0.ffn_up_exps.weight"); }, ErrorKind::kUnsupported, {"iq3_xxs", "iq3.gguf"});
  expect_error([&] { f.view("nope"); }, ErrorKind::kNotFound, {"nope", "iq3.gguf"});
  expect_error([&] { f.get("general.name"); }, ErrorKind::kNotFound, {"general.name", "iq3.gguf"});
}

TEST(Gguf, GgmlTypeTable) {
  EXPECT_EQ(ggml_type_name(12), "q4_K");
  EXPECT_EQ(ggml_type_name(30), "bf16");
  EXPECT_EQ(ggml_type_name(99), "unknown(99)");
  EXPECT_EQ(ggml_type_name(4), "unknown(4)");
  EXPECT_EQ(ggml_type_of(DType::kQ4_K), 12u);
  EXPECT_EQ(ggml_type_of(DType::kBF16), 30u);
  EXPECT_EQ(ggml_type_of(DType::kI64), 27u);
  EXPECT_FALSE(ggml_type_of(DType::kF8E4M3).has_value());
  EXPECT_FALSE(ggml_type_of(DType::kBool).has_value());
  // Published block sizes (ggml-common.h) and agreement with whale's own dtype table.
  const std::map<uint32_t, std::pair<int64_t, int64_t>> published = {
      {2, {32, 18}}, {3, {32, 20}}, {6, {32, 22}}, {7, {32, 24}}, {8, {32, 34}}, {9, {32, 36}},
      {10, {256, 84}}, {11, {256, 110}}, {12, {256, 144}}, {13, {256, 176}}, {14, {256, 210}}, {15, {256, 292}}};
  for (const auto& [id, size] : published) {
    ASSERT_NE(ggml_type_info(id), nullptr);
    EXPECT_EQ(ggml_type_info(id)->block_elems, size.first) << id;
    EXPECT_EQ(ggml_type_info(id)->block_bytes, size.second) << id;
  }
  for (uint32_t id = 0; id < 64; ++id) {
    const GgmlTypeInfo* info = ggml_type_info(id);
    if (!info || !info->dtype) continue;
    EXPECT_EQ(core::dtype_info(*info->dtype).block_elems, info->block_elems) << info->name;
    EXPECT_EQ(core::dtype_info(*info->dtype).block_bytes, info->block_bytes) << info->name;
    EXPECT_EQ(ggml_type_of(*info->dtype), id);
  }
}

TEST(Gguf, ValueConversionsAndDisplay) {
  EXPECT_EQ(GgufValue::i32(7).as_u64(), 7u);
  EXPECT_EQ(GgufValue::u8(255).as_i64(), 255);
  EXPECT_EQ(GgufValue::i16(-3).as_f64(), -3.0);
  expect_error([] { GgufValue::i32(-1).as_u64(); }, ErrorKind::kFormat, {"-1", "negative"});
  expect_error([] { GgufValue::u64(~uint64_t{0}).as_i64(); }, ErrorKind::kFormat, {"18446744073709551615"});
  expect_error([] { GgufValue::string("x").as_u64(); }, ErrorKind::kFormat, {"\"x\"", "not an integer"});
  expect_error([] { GgufValue::f32(1).as_string(); }, ErrorKind::kFormat, {"not a string"});
  expect_error([] { GgufValue::u32(1).as_bool(); }, ErrorKind::kFormat, {"not a bool"});
  expect_error([] { GgufValue::array(VT::kU8, {GgufValue::u16(1)}); }, ErrorKind::kInvalidArgument, {"item 0", "u16"});

  EXPECT_EQ(GgufValue::string_array({"a", "b", "c"}).to_display(2), "[\"a\", \"b\", ... 3 items]");
  EXPECT_EQ(GgufValue::string_array({"a", "b"}).to_display(2), "[\"a\", \"b\"]");
  EXPECT_EQ(GgufValue::i32_array({1, 2, 3}).to_display(0), "[... 3 items]");
  EXPECT_EQ(GgufValue::string("q\"\\\n\x01").to_display(), "\"q\\\"\\\\\\n\\x01\"");
  EXPECT_EQ(GgufValue::f32(0.1f).to_display(), "0.1");
  EXPECT_EQ(GgufValue::f64(1e300).to_display(), "1e+300");
  EXPECT_EQ(GgufValue::boolean(true).to_display(), "true");
  EXPECT_EQ(GgufValue::i64(-9).to_display(), "-9");
}

TEST(Gguf, WriterRejectsBadInput) {
  GgufWriter w;
  w.add_tensor("a", DType::kF32, {2}, [](std::span<std::byte>) {});
  expect_error([&] { w.add_tensor("a", DType::kF32, {2}, {}); }, ErrorKind::kInvalidArgument, {"\"a\"", "twice"});
  expect_error([&] { w.add_tensor("s", DType::kF8E4M3, {2}, {}); }, ErrorKind::kUnsupported, {"f8_e4m3"});
  expect_error([&] { w.add_tensor(std::string(64, 'n'), DType::kF32, {2}, {}); }, ErrorKind::kInvalidArgument, {"63"});
  expect_error([&] { w.add_tensor("q", DType::kQ8_0, {2, 16}, {}); }, ErrorKind::kInvalidArgument, {"q8_0", "32"});
  expect_error([&] { w.set_alignment(24); }, ErrorKind::kInvalidArgument, {"24", "power of two"});
  expect_error([&] { w.set("general.alignment", GgufValue::u64(64)); }, ErrorKind::kInvalidArgument, {"u32"});

  // set() replaces in place, keeping the first position.
  w.set("k1", GgufValue::u8(1));
  w.set("k2", GgufValue::u8(2));
  w.set("k1", GgufValue::string("one"));
  w.set_alignment(64);
  w.set_alignment(32);  // back to the default: no general.alignment written
  const std::string path = temp_path("replace.gguf");
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "k1");
  EXPECT_EQ(f.metadata()[0].second.as_string(), "one");
  EXPECT_EQ(f.alignment(), 32u);
}

TEST(Gguf, ZeroDimIsAllowed) {
  Bytes b = head(1, 0);
  b.tensor("e", {4, 0}, 0, 0);
  const GgufFile f = parse_str(b.pad(32).b);
  EXPECT_EQ(f.tensors()[0].nbytes, 0u);
  EXPECT_EQ(f.view("e").shape(), core::Shape({0, 4}));
}


// A file with one f32 [8] tensor; the tensor-level broken cases below vary one field of it.
std::string one_tensor(std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes = 32) {
  Bytes b = head(1, 0);
  b.tensor("t", std::move(ne), type, offset);
  return b.pad(32).zeros(data_bytes).b;
}

std::string kv_file(std::string_view key, uint32_t type, const std::string& payload) {
  Bytes b = head(0, 1);
  b.str(key).u32(type).raw(payload);
  return b.b;
}

struct BrokenCase {
  std::string name;  // also the committed file's stem in tests/data/broken/gguf
  std::string bytes;
  ErrorKind kind;
  std::string needle;
};

std::vector<BrokenCase> broken_cases() {
  const auto u32s = [](std::vector<uint32_t> v) {
    Bytes b;
    for (uint32_t x : v) b.u32(x);
    return b.b;
  };
  std::vector<BrokenCase> c;
  c.push_back({"empty", "", ErrorKind::kFormat, "truncated"});
  c.push_back({"bad_magic", head(0, 0).b.replace(0, 4, "GGML"), ErrorKind::kFormat, "magic"});
  c.push_back({"version_1", head(0, 0, 1).b, ErrorKind::kUnsupported, "unsupported version 1"});
  c.push_back({"version_big_endian", head(0, 0, 0x03000000).b, ErrorKind::kUnsupported, "big-endian"});
  c.push_back({"truncated_header", head(0, 0).b.substr(0, 13), ErrorKind::kFormat, "truncated: tensor_count"});
  c.push_back({"kv_count_huge", head(0, uint64_t{1} << 60).zeros(64).b, ErrorKind::kFormat, "impossible"});
  c.push_back({"tensor_count_huge", head(uint64_t{1} << 60, 0).zeros(64).b, ErrorKind::kFormat, "impossible"});
  {
    Bytes b = head(0, 1);
    b.u64(1000).raw("abcde");
    c.push_back({"string_past_end", b.b, ErrorKind::kFormat, "string length 1000"});
  }
  c.push_back({"unknown_value_type", kv_file("k", 13, u32s({0})), ErrorKind::kFormat, "unknown value type 13"});
  c.push_back({"unknown_array_type", kv_file("k", 9, u32s({42, 0, 0})), ErrorKind::kFormat, "unknown value type 42"});
  {
    Bytes p;
    p.u32(4).u64(uint64_t{1} << 40).zeros(16);
    c.push_back({"array_count_huge", kv_file("k", 9, p.b), ErrorKind::kFormat, "cannot fit"});
  }
  {
    Bytes p;
    for (int i = 0; i < 5; ++i) p.u32(9).u64(1);  // array of array of ... 5 deep
    p.u32(0).u64(1).u8(7);
    c.push_back({"nested_array_too_deep", kv_file("k", 9, p.b), ErrorKind::kFormat, "nested more than 4"});
  }
  {
    Bytes b = head(0, 2);
    b.str("dup").u32(0).u8(1).str("dup").u32(0).u8(2);
    c.push_back({"duplicate_key", b.b, ErrorKind::kFormat, "duplicate metadata key \"dup\""});
  }
  c.push_back({"bool_not_0_or_1", kv_file("k", 7, "\x02"), ErrorKind::kFormat, "bool byte is 2"});
  c.push_back({"alignment_not_power_of_two", kv_file("general.alignment", 4, u32s({24})), ErrorKind::kFormat,
               "general.alignment is 24"});
  c.push_back({"alignment_zero", kv_file("general.alignment", 4, u32s({0})), ErrorKind::kFormat, "power of two"});
  c.push_back({"alignment_wrong_type", kv_file("general.alignment", 5, u32s({32})), ErrorKind::kFormat,
               "expected u32"});
  c.push_back({"n_dims_zero", one_tensor({}, 0, 0), ErrorKind::kFormat, "n_dims is 0"});
  c.push_back({"n_dims_five", one_tensor({8, 1, 1, 1, 1}, 0, 0), ErrorKind::kFormat, "n_dims is 5"});
  c.push_back({"dims_overflow", one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0), ErrorKind::kFormat,
               "overflow"});
  c.push_back({"dim_over_int64", one_tensor({uint64_t{1} << 63}, 0, 0), ErrorKind::kFormat, "overflow"});
  c.push_back({"bytes_overflow", one_tensor({uint64_t{1} << 62}, 0, 0), ErrorKind::kFormat, "byte size overflows"});
  c.push_back({"unknown_ggml_type", one_tensor({8}, 99, 0), ErrorKind::kFormat, "unknown ggml type 99"});
  c.push_back({"retired_ggml_type", one_tensor({8}, 4, 0), ErrorKind::kFormat, "unknown ggml type 4"});
  c.push_back({"offset_not_aligned", one_tensor({8}, 0, 8, 64), ErrorKind::kFormat, "not a multiple of the alignment"});
  c.push_back({"data_past_end", one_tensor({8}, 0, 0, 31), ErrorKind::kFormat, "run past the end"});
  c.push_back({"offset_past_end", one_tensor({8}, 0, uint64_t{1} << 62), ErrorKind::kFormat, "run past the end"});
  c.push_back({"row_not_block_multiple", one_tensor({16}, 8, 0), ErrorKind::kFormat, "not a multiple of q8_0"});
  {
    Bytes b = head(1, 0);
    b.tensor("t", {8}, 0, 0);
    c.push_back({"data_section_missing", b.b, ErrorKind::kFormat, "data section starts"});
  }
  {
    Bytes b = head(2, 0);
    b.tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32);  // a covers [0, 64)
    c.push_back({"overlapping_tensors", b.pad(32).zeros(64).b, ErrorKind::kFormat, "overlaps: \"a\""});
  }
  {
    Bytes b = head(2, 0);
    b.tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32);
    c.push_back({"duplicate_tensor_name", b.pad(32).zeros(64).b, ErrorKind::kFormat, "duplicate tensor name \"a\""});
  }
  return c;
}

// Regenerate the committed files with WHALE_WRITE_BROKEN_GGUF=<dir> (e.g. tests/data/broken/gguf).
TEST(GgufBroken, EachCaseThrowsAnInformativeError) {
  const char* out_dir = std::getenv("WHALE_WRITE_BROKEN_GGUF");
  for (const BrokenCase& c : broken_cases()) {
    SCOPED_TRACE(c.name);
    ASSERT_LT(c.bytes.size(), 4096u);
    expect_error([&] { parse_str(c.bytes, c.name + ".gguf"); }, c.kind, {c.needle, "gguf file " + c.name + ".gguf"});
    if (out_dir) std::ofstream(fs::path(out_dir) / (c.name + ".gguf"), std::ios::binary) << c.bytes;
  }
}

TEST(GgufBroken, EveryCommittedFileThrows) {
  std::map<std::string, BrokenCase> by_name;
  for (BrokenCase& c : broken_cases()) by_name.emplace(c.name, std::move(c));
  const fs::path dir = fs::path(WHALE_TEST_DATA) / "broken" / "gguf";
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    ++n;
    EXPECT_THROW(GgufFile::open(entry.path().string()), Error);
    // Files that mirror a case must still fail for that case's reason.
    const auto it = by_name.find(entry.path().stem().string());
    if (it != by_name.end()) {
      expect_error([&] { GgufFile::open(entry.path().string()); }, it->second.kind, {it->second.needle});
    }
  }
  EXPECT_GE(n, 20u);
}

TEST(GgufBroken, EveryTruncationThrows) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("deepseek2"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"a", "bc"}));
  w.set("x.nested", GgufValue::array(VT::kArray, {GgufValue::i32_array({1, 2})}));
  w.set("x.f", GgufValue::f64(2.5));
  w.add_tensor("q", DType::kQ8_0, {32}, [](std::span<std::byte> out) { fill_random(out, 7); });
  w.add_tensor("f", DType::kF32, {8}, [](std::span<std::byte> out) { fill_random(out, 8); });  // 32 bytes: no tail pad
  const std::string path = temp_path("truncate.gguf");
  w.write(path);
  const std::string full = read_bytes(path);
  ASSERT_EQ(parse_str(full).tensors().size(), 2u);
  for (size_t len = 0; len < full.size(); ++len) {
    EXPECT_THROW(parse_str(full.substr(0, len)), Error) << "length " << len << " of " << full.size();
  }
}

}  // namespace
}  // namespace whale::formats
