// GGUF (versions 2 and 3) read and write: metadata values, tensor infos, zero-copy tensor views of
// an mmap'd file, and an atomic writer that llama.cpp can load. Layout: ggml-org/ggml docs/gguf.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace whale::formats {

// The on-disk value type tags.
enum class GgufValueType : uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64
};
std::string_view gguf_value_type_name(GgufValueType t);  // "u32", "string", "array", ...

// A metadata value: a scalar, a string or a (possibly nested) array. Floats are kept as their bit
// patterns so a read-then-write round trip is bit-exact, NaN payloads included.
class GgufValue {
 public:
  GgufValue() = default;  // u8 0; only for containers
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  // Every item must have type `elem` (throws kInvalidArgument otherwise).
  static GgufValue array(GgufValueType elem, std::vector<GgufValue> items);
  static GgufValue string_array(const std::vector<std::string>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);
  static GgufValue f32_array(const std::vector<float>& items);

  GgufValueType type() const { return type_; }
  GgufValueType array_type() const;  // element type; throws kFormat unless an array

  // Any integer type converts when the value fits; anything else throws kFormat naming the value.
  uint64_t as_u64() const;
  int64_t as_i64() const;
  double as_f64() const;  // f32, f64, or an integer
  bool as_bool() const;
  const std::string& as_string() const;
  const std::vector<GgufValue>& as_array() const;
  float f32_value() const;  // exact f32 (throws unless type() is kF32)
  uint64_t bits() const { return bits_; }  // raw scalar payload (float bit pattern for f32/f64)

  // One line for `whale info`: 7, 1.5, "text", ["a", "b", ... 102400 items]. Control bytes escaped.
  std::string to_display(size_t max_items = 8) const;

  // Structural, bit-exact equality (type, element type, payload).
  bool operator==(const GgufValue& other) const;

 private:
  static GgufValue scalar(GgufValueType t, uint64_t bits);

  GgufValueType type_ = GgufValueType::kU8;
  GgufValueType elem_ = GgufValueType::kU8;  // arrays only
  uint64_t bits_ = 0;                        // scalars: zero-extended value / float bits
  std::string str_;
  std::vector<GgufValue> items_;
};

// What whale knows about a ggml tensor type id.
struct GgmlTypeInfo {
  std::string_view name;           // ggml's spelling: "f32", "q4_K", "iq2_xxs"
  int64_t block_elems;             // elements per block along ne[0]
  int64_t block_bytes;             // bytes per block
  std::optional<core::DType> dtype;  // the whale dtype, when whale can compute with it
};
const GgmlTypeInfo* ggml_type_info(uint32_t ggml_type);  // nullptr for unknown ids
std::string ggml_type_name(uint32_t ggml_type);          // "q4_K", ... "unknown(99)"
std::optional<uint32_t> ggml_type_of(core::DType dtype);  // nullopt: no GGUF counterpart

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::optional<core::DType> dtype;  // nullopt when ggml_type has no whale dtype (q5_K, iq2_xxs...)
  core::Shape shape;                 // whale order (outermost first): GGUF's ne reversed
  uint64_t offset = 0;               // from the start of the file
  uint64_t nbytes = 0;
};

constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr int kGgufMaxArrayDepth = 4;  // arrays nested deeper than this are rejected

class GgufFile {
 public:
  // Maps `path` and validates the whole header; throws whale::Error naming the file.
  static GgufFile open(const std::string& path);
  // Parses `bytes`, which `owner` keeps alive (may be null if the caller outlives every view).
  static GgufFile parse(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                        const std::string& name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return name_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }  // file order
  const GgufValue* find(std::string_view key) const;
  const GgufValue& get(std::string_view key) const;  // throws kNotFound naming the key and file

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // file order
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // A zero-copy view sharing the file's owner. kNotFound for a missing name, kUnsupported for a
  // ggml type whale has no dtype for.
  core::Tensor view(std::string_view name) const;
  // The raw bytes of a tensor of any type (for copying types whale cannot compute with).
  std::span<const std::byte> tensor_bytes(const GgufTensorInfo& info) const;

 private:
  friend class GgufParser;
  std::string name_;
  std::span<const std::byte> bytes_;
  std::shared_ptr<const void> owner_;
  uint32_t version_ = 3;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Builds a GGUF v3 file: metadata in insertion order, then tensors in insertion order, each one's
// bytes produced on demand while writing so only one tensor buffer exists at a time.
class GgufWriter {
 public:
  using Fill = std::function<void(std::span<std::byte>)>;

  // Replaces an existing key in place (keeping its first position) or appends. Setting
  // general.alignment is the same as set_alignment (it must then be a u32 power of two).
  void set(std::string key, GgufValue v);
  const GgufValue* find(std::string_view key) const;

  // `shape` in whale order; `fill` receives a zeroed buffer of exactly the tensor's byte size.
  // Throws kInvalidArgument for a duplicate or over-long name (llama.cpp's limit is 63 bytes) or a
  // bad shape, kUnsupported for a dtype without a ggml type.
  void add_tensor(std::string name, core::DType dtype, const core::Shape& shape, Fill fill);
  // Copies `t` when writing: its bytes must stay alive until write() returns.
  void add_tensor(std::string name, const core::Tensor& t);

  void set_alignment(uint32_t alignment);  // power of two; writes general.alignment when != 32
  uint32_t alignment() const { return alignment_; }

  // Writes atomically (via core::write_file_atomic); each tensor's data is padded to the alignment.
  // `on_progress` gets the number of bytes written so far after the header and after each tensor.
  void write(const std::string& path, const std::function<void(uint64_t)>& on_progress = {}) const;

 private:
  struct PendingTensor {
    std::string name;
    core::DType dtype;
    core::Shape shape;
    uint64_t nbytes;
    Fill fill;
  };
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = kGgufDefaultAlignment;
};

}  // namespace whale::formats
