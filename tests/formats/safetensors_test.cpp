// safetensors: bit-exact write/read round trips, a hand-built file read against the spec, and
// every kind of malformed input rejected with a whale::Error naming the file and the defect.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

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
using testing::read_bytes;
using testing::write_bytes;

class SafetensorsTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_);
  }
};

std::vector<std::byte> random_bytes(size_t n, uint64_t seed, bool as_bool = false) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = std::byte(as_bool ? rng() & 1 : rng() & 0xFF);
  return out;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file laid out by hand from the spec: length prefix, header text, data.
std::string st_file(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(SafetensorsDType, NamesRoundTrip) {
  const std::vector<std::pair<std::string, DType>> expected = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16}, {"F8_E4M3", DType::kF8E4M3},
      {"F64", DType::kF64}, {"I64", DType::kI64}, {"I32", DType::kI32},   {"I16", DType::kI16},
      {"I8", DType::kI8},   {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  for (const auto& [name, dt] : expected) {
    EXPECT_EQ(dtype_from_safetensors(name), dt) << name;
    EXPECT_EQ(safetensors_dtype_name(dt), name);
  }
  EXPECT_FALSE(dtype_from_safetensors("F8_E5M2"));
  EXPECT_FALSE(dtype_from_safetensors("f32"));
  EXPECT_EQ(error_kind_of([] { safetensors_dtype_name(DType::kQ4_K); }), ErrorKind::kUnsupported)
      << "q4_k has no safetensors name";
}

TEST_F(SafetensorsTest, EveryDtypeRoundTripsBitExact) {
  struct Case {
    std::string name;
    DType dtype;
    Shape shape;
  };
  const std::vector<Case> cases = {
      {"f32", DType::kF32, {3, 5}},       {"f16", DType::kF16, {7}},        {"bf16", DType::kBF16, {2, 3, 4}},
      {"fp8", DType::kF8E4M3, {5, 3}},    {"f64", DType::kF64, {4}},        {"i64", DType::kI64, {2, 2}},
      {"i32", DType::kI32, {9}},          {"i16", DType::kI16, {1, 1, 1, 3}}, {"i8", DType::kI8, {11}},
      {"u8", DType::kU8, {13}},           {"bool", DType::kBool, {6}},      {"scalar", DType::kF32, {}},
      {"empty", DType::kBF16, {0, 4}},    {"empty2", DType::kI64, {3, 0}},
  };
  SafetensorsWriter w;
  std::vector<std::vector<std::byte>> data;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    data.push_back(random_bytes(static_cast<size_t>(core::dtype_bytes(c.dtype, c.shape.numel())), i,
                                c.dtype == DType::kBool));
    if (i % 2) {  // both add() flavours
      w.add(c.name, Tensor(c.dtype, c.shape, data.back().data()));
    } else {
      const std::vector<std::byte> copy = data.back();
      w.add(c.name, c.dtype, c.shape, [copy](std::span<std::byte> out) {
        ASSERT_EQ(out.size(), copy.size());
        std::copy(copy.begin(), copy.end(), out.begin());  // memcpy of an empty tensor would pass null
      });
    }
  }
  w.write(path("all.safetensors"));

  const SafetensorsFile f = SafetensorsFile::open(path("all.safetensors"));
  ASSERT_EQ(f.entries().size(), cases.size());
  uint64_t total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const SafetensorsEntry* e = f.find(c.name);
    ASSERT_NE(e, nullptr) << c.name;
    EXPECT_EQ(e->dtype, c.dtype) << c.name;
    EXPECT_EQ(e->shape, c.shape) << c.name;
    EXPECT_EQ(e->nbytes, data[i].size()) << c.name;
    const Tensor t = f.view(c.name);
    EXPECT_EQ(t.dtype(), c.dtype);
    EXPECT_EQ(t.shape(), c.shape);
    // (an empty tensor's data() may be null, which memcmp must not get even for 0 bytes)
    EXPECT_TRUE(data[i].empty() || std::memcmp(t.raw(), data[i].data(), data[i].size()) == 0) << c.name;
    // Insertion order is data order, and the data is 8-byte aligned from the start of the file.
    EXPECT_EQ(&f.entries()[i], e);
    EXPECT_EQ(e->offset % 8, total % 8);
    total += e->nbytes;
  }
  EXPECT_EQ(w.data_bytes(), total);
  EXPECT_EQ(fs::file_size(path("all.safetensors")), f.entries()[0].offset + total);
}

TEST_F(SafetensorsTest, MetadataRoundTripsSortedByKey) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("b \"quoted\"\n", "ünïcödé ✓");
  w.set_metadata("a", "first");
  w.set_metadata("format", "np");  // replaces
  w.write(path("m.safetensors"));
  const SafetensorsFile f = SafetensorsFile::open(path("m.safetensors"));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"a", "first"}, {"b \"quoted\"\n", "ünïcödé ✓"}, {"format", "np"}};
  EXPECT_EQ(f.metadata(), expected);
  EXPECT_TRUE(f.entries().empty());
}

TEST_F(SafetensorsTest, HeaderIsPaddedWithSpacesToEightBytes) {
  for (const char* name : {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"}) {
    SafetensorsWriter w;
    const float x = 1.5f;
    w.add(name, Tensor(DType::kF32, {1}, const_cast<float*>(&x)));
    w.write(path("p.safetensors"));
    const std::string bytes = read_bytes(path("p.safetensors"));
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ(n % 8, 0u) << name;
    const std::string header = bytes.substr(8, n);
    const size_t close = header.find_last_of('}');
    EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << header;
    EXPECT_LT(header.size() - close - 1, 8u);
    EXPECT_EQ(bytes.size(), 8 + n + 4);
    EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, &x, 4), 0);
  }
}

TEST_F(SafetensorsTest, HandBuiltFileReadsPerSpec) {
  // Header keys out of data order, metadata in the middle, 13 spaces of padding, no alignment.
  const std::string header =
      R"({"b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},"__metadata__":{"k":"v"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"BOOL","shape":[],"data_offsets":[12,13]}})"
      "             ";
  const float a[2] = {1.0f, -2.5f};
  const int16_t b[2] = {7, -3};
  std::string data(reinterpret_cast<const char*>(a), 8);
  data += std::string(reinterpret_cast<const char*>(b), 4);
  data += '\x01';
  const std::string bytes = st_file(header, data);
  write_bytes(path("hand.safetensors"), bytes);

  for (const SafetensorsFile& f : {SafetensorsFile::open(path("hand.safetensors")),
                                   SafetensorsFile::parse(as_bytes(bytes), nullptr, "in-memory")}) {
    ASSERT_EQ(f.entries().size(), 3u);
    EXPECT_EQ(f.entries()[0].name, "a");
    EXPECT_EQ(f.entries()[1].name, "b");
    EXPECT_EQ(f.entries()[2].name, "c");
    EXPECT_EQ(f.entries()[0].offset, 8 + header.size());
    EXPECT_EQ(f.entries()[1].offset, 8 + header.size() + 8);
    EXPECT_EQ(f.entries()[2].shape.ndim(), 0);
    float fa[2];
    int16_t ib[2];
    std::memcpy(fa, f.view("a").raw(), 8);
    std::memcpy(ib, f.view("b").raw(), 4);
    EXPECT_EQ(fa[0], 1.0f);
    EXPECT_EQ(fa[1], -2.5f);
    EXPECT_EQ(ib[0], 7);
    EXPECT_EQ(ib[1], -3);
    EXPECT_EQ(*f.view("c").data<uint8_t>(), 1);
    EXPECT_EQ(f.metadata(), (std::vector<std::pair<std::string, std::string>>{{"k", "v"}}));
  }
  // parse() is zero-copy: views point into the caller's bytes.
  const SafetensorsFile mem = SafetensorsFile::parse(as_bytes(bytes), nullptr, "in-memory");
  EXPECT_EQ(mem.view("b").raw(), bytes.data() + 8 + header.size() + 8);
  EXPECT_EQ(mem.path(), "in-memory");
}

TEST_F(SafetensorsTest, ViewOfMissingTensorNamesTensorAndFile) {
  SafetensorsWriter().write(path("e.safetensors"));
  const SafetensorsFile f = SafetensorsFile::open(path("e.safetensors"));
  try {
    f.view("nope.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope.weight"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(path("e.safetensors")), std::string::npos);
  }
  EXPECT_EQ(f.find("nope.weight"), nullptr);
}

TEST_F(SafetensorsTest, ProgressAfterEachTensor) {
  SafetensorsWriter w;
  w.add("x", DType::kF32, {3}, [](std::span<std::byte> s) { std::memset(s.data(), 1, s.size()); });
  w.add("y", DType::kI8, {5}, [](std::span<std::byte> s) { std::memset(s.data(), 2, s.size()); });
  std::vector<uint64_t> seen;
  w.write(path("g.safetensors"), [&](uint64_t done) { seen.push_back(done); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{12, 17}));
}

TEST_F(SafetensorsTest, WriterRejectsBadNamesAndTypes) {
  SafetensorsWriter w;
  const auto fill = [](std::span<std::byte>) {};
  w.add("x", DType::kF32, {1}, fill);
  EXPECT_THROW(w.add("x", DType::kF32, {1}, fill), Error);
  EXPECT_THROW(w.add("", DType::kF32, {1}, fill), Error);
  EXPECT_THROW(w.add("bad\xff", DType::kF32, {1}, fill), Error);
  EXPECT_THROW(w.add("\xc0\xaf", DType::kF32, {1}, fill), Error);  // overlong '/'
  EXPECT_THROW(w.add("__metadata__", DType::kF32, {1}, fill), Error);
  EXPECT_THROW(w.add("q", DType::kQ4_K, {256}, fill), Error);
  EXPECT_THROW(w.add("t", Tensor::empty(DType::kF32, {2, 3}).transpose(0, 1)), Error);
  EXPECT_THROW(w.set_metadata("k", "\xed\xa0\x80"), Error);  // a UTF-16 surrogate
  EXPECT_EQ(w.data_bytes(), 4u);
  EXPECT_TRUE(is_valid_utf8("plain ✓ \xf0\x9f\x90\xb3"));
}

TEST_F(SafetensorsTest, FailedWriteLeavesOldFileAndNoTempFiles) {
  SafetensorsWriter good;
  good.add("w", DType::kI32, {4}, [](std::span<std::byte> s) { std::memset(s.data(), 7, s.size()); });
  good.write(path("model.safetensors"));
  const std::string before = read_bytes(path("model.safetensors"));

  SafetensorsWriter bad;
  bad.add("ok", DType::kF32, {1024}, [](std::span<std::byte> s) { std::memset(s.data(), 3, s.size()); });
  bad.add("boom", DType::kF32, {4}, [](std::span<std::byte>) { throw std::runtime_error("fill failed"); });
  EXPECT_THROW(bad.write(path("model.safetensors")), std::runtime_error);
  EXPECT_EQ(read_bytes(path("model.safetensors")), before);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
}

// Each malformed file must throw whale::Error whose message names the file and contains `problem`.
struct Broken {
  const char* name;
  std::string bytes;
  const char* problem;
};

std::vector<Broken> broken_cases() {
  const std::string f32x2 = std::string(8, '\0');
  const auto one = [](const std::string& entry, const std::string& data = std::string(8, '\0')) {
    return st_file(R"({"t":)" + entry + "}", data);
  };
  return {
      {"empty", "", "too short"},
      {"short", std::string(7, '\0'), "too short"},
      {"header_len_past_end", u64_le(100) + "{}", "runs past the end"},
      {"header_len_2p63", u64_le(1ull << 63) + "{}", "runs past the end"},
      {"not_json", st_file("{abc"), "not valid JSON"},
      {"invalid_utf8", st_file("{\"\xff\":1}"), "not valid JSON"},
      {"json_array", st_file("[]"), "must be a JSON object"},
      {"entry_not_object", st_file(R"({"t":5})"), "must be a JSON object"},
      {"unknown_dtype", one(R"({"dtype":"F12","shape":[2],"data_offsets":[0,8]})"), "unknown dtype"},
      {"dtype_not_string", one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), "must be a string"},
      {"missing_dtype", one(R"({"shape":[2],"data_offsets":[0,8]})"), "missing \"dtype\""},
      {"missing_offsets", one(R"({"dtype":"F32","shape":[2]})"), "missing \"data_offsets\""},
      {"shape_not_array", one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), "must be an array"},
      {"shape_negative", one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), "negative"},
      {"shape_float", one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), "non-negative integer"},
      {"shape_string", one(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), "non-negative integer"},
      {"shape_above_i64", one(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]})"),
       "too large"},
      {"shape_2p40_squared", one(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})"),
       "more elements than fit"},
      {"shape_bytes_overflow", one(R"({"dtype":"F32","shape":[4294967296,1073741824],"data_offsets":[0,8]})"),
       "too large"},
      {"shape_five_dims", one(R"({"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]})"), "at most 4"},
      {"offsets_out_of_range", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,1000]})"), "run past the data"},
      {"offsets_end_before_begin", one(R"({"dtype":"F32","shape":[0],"data_offsets":[8,0]})"), "before begin"},
      {"offsets_three", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"), "[begin, end]"},
      {"offsets_negative", one(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"), "negative"},
      {"size_mismatch", one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,8]})"), "needs 4"},
      {"truncated_data", one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), "run past the data"},
      {"overlap",
       st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               std::string(12, '\0')),
       "overlaps"},
      {"gap",
       st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
               std::string(12, '\0')),
       "gap of 4 bytes"},
      {"trailing_data", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", std::string(9, '\0')),
       "after the last tensor"},
      {"duplicate_name",
       st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               f32x2),
       "duplicate key \"a\""},
      {"duplicate_field", one(R"({"dtype":"F32","dtype":"I8","shape":[2],"data_offsets":[0,8]})"), "duplicate key"},
      {"empty_name", st_file(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2), "empty name"},
      {"metadata_not_object", st_file(R"({"__metadata__":["a"]})"), "must be an object"},
      {"metadata_value_int", st_file(R"({"__metadata__":{"k":1}})"), "\"k\" must be a string"},
      {"deep_nesting", st_file(std::string(64, '[') + std::string(64, ']')), "nested deeper"},
  };
}

TEST_F(SafetensorsTest, BrokenInputsThrowNamingFileAndProblem) {
  for (const Broken& b : broken_cases()) {
    const std::string p = path(std::string(b.name) + ".safetensors");
    write_bytes(p, b.bytes);
    try {
      SafetensorsFile::open(p);
      ADD_FAILURE() << b.name << " parsed";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << b.name << ": " << msg;
      EXPECT_NE(msg.find(b.problem), std::string::npos) << b.name << ": " << msg;
    }
  }
}

TEST(SafetensorsBrokenFiles, EveryCommittedBrokenFileThrows) {
  const fs::path dir = fs::path(WHALE_TEST_DATA) / "broken" / "safetensors";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++n;
    EXPECT_THROW(SafetensorsFile::open(e.path().string()), Error) << e.path();
  }
  EXPECT_GE(n, 20);
}

TEST_F(SafetensorsTest, EveryTruncationThrowsAndOnlyTheFullFileParses) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add("a.weight", DType::kBF16, {3, 4}, [](std::span<std::byte> s) { std::memset(s.data(), 0x3f, s.size()); });
  w.add("b.bias", DType::kF32, {5}, [](std::span<std::byte> s) { std::memset(s.data(), 0x41, s.size()); });
  w.add("c.empty", DType::kI8, {0}, [](std::span<std::byte>) {});
  w.write(path("full.safetensors"));
  const std::string bytes = read_bytes(path("full.safetensors"));
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_THROW(SafetensorsFile::parse(as_bytes(bytes).first(len), nullptr, "prefix"), Error) << len;
  }
  EXPECT_EQ(SafetensorsFile::parse(as_bytes(bytes), nullptr, "full").entries().size(), 3u);
}

}  // namespace
}  // namespace whale::formats
