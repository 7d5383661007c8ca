// Parsing and validating a GGUF file. Every count and size comes from untrusted bytes, so each is
// checked against the bytes that remain before anything is allocated or indexed with it.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"

namespace whale::formats {

static_assert(std::endian::native == std::endian::little, "GGUF is read by memcpy: little-endian hosts only");

namespace {

using VT = GgufValueType;

constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, one dim, type, offset

// The fewest bytes one array element of type `t` can take, to bound a count by the bytes left.
uint64_t min_value_bytes(VT t) {
  switch (t) {
    case VT::kU8: case VT::kI8: case VT::kBool: return 1;
    case VT::kU16: case VT::kI16: return 2;
    case VT::kU32: case VT::kI32: case VT::kF32: return 4;
    case VT::kString: case VT::kU64: case VT::kI64: case VT::kF64: return 8;
    case VT::kArray: return 4 + 8;
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(VT::kF64); }

}  // namespace

class GgufParser {
 public:
  GgufParser(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  GgufFile run(std::shared_ptr<const void> owner) {
    GgufFile f;
    f.name_ = name_;
    f.bytes_ = bytes_;
    f.owner_ = std::move(owner);
    read_header(f);
    read_metadata(f);
    read_alignment(f);
    read_tensor_infos(f);
    place_tensor_data(f);
    return f;
  }

 private:
  template <class... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorKind::kFormat, "gguf file ", name_, ": ", args...);
  }

  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      bad("truncated: ", what, " needs ", n, " bytes at offset ", pos_, " but the file has ", remaining(), " left");
    }
  }

  template <class T>
  T scalar(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(std::string_view what) {
    const auto n = scalar<uint64_t>(what);
    if (n > remaining()) {
      bad(what, ": string length ", n, " at offset ", pos_ - 8, " runs past the end of the file (", remaining(),
          " bytes left)");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return s;
  }

  void read_header(GgufFile& f) {
    need(4, "the magic");
    const auto* m = reinterpret_cast<const unsigned char*>(bytes_.data());
    if (std::memcmp(m, "GGUF", 4) != 0) {
      bad("not a GGUF file: magic bytes are ", cat(std::hex, int{m[0]}, ' ', int{m[1]}, ' ', int{m[2]}, ' ', int{m[3]}),
          ", expected 47 47 55 46 (\"GGUF\")");
    }
    pos_ = 4;
    f.version_ = scalar<uint32_t>("the version");
    if (f.version_ != 2 && f.version_ != 3) {
      const bool swapped = f.version_ == 0x02000000u || f.version_ == 0x03000000u;
      fail(ErrorKind::kUnsupported, "gguf file ", name_, ": unsupported version ", f.version_,
           swapped ? " (a big-endian file)" : "", ", expected 2 or 3");
    }
    n_tensors_ = scalar<uint64_t>("tensor_count");
    n_kv_ = scalar<uint64_t>("metadata_kv_count");
    if (n_kv_ > remaining() / kMinKvBytes || n_tensors_ > remaining() / kMinTensorInfoBytes ||
        n_kv_ * kMinKvBytes + n_tensors_ * kMinTensorInfoBytes > remaining()) {
      bad("metadata_kv_count ", n_kv_, " and tensor_count ", n_tensors_, " are impossible in a file of ",
          bytes_.size(), " bytes");
    }
  }

  // `what` names the key ("metadata key \"x\"") for messages; built once per key, not per item.
  GgufValue value(uint32_t type, int depth, const std::string& what) {
    switch (static_cast<VT>(type)) {
      case VT::kU8: return GgufValue::u8(scalar<uint8_t>(what));
      case VT::kI8: return GgufValue::i8(scalar<int8_t>(what));
      case VT::kU16: return GgufValue::u16(scalar<uint16_t>(what));
      case VT::kI16: return GgufValue::i16(scalar<int16_t>(what));
      case VT::kU32: return GgufValue::u32(scalar<uint32_t>(what));
      case VT::kI32: return GgufValue::i32(scalar<int32_t>(what));
      case VT::kU64: return GgufValue::u64(scalar<uint64_t>(what));
      case VT::kI64: return GgufValue::i64(scalar<int64_t>(what));
      case VT::kF32: return GgufValue::f32(scalar<float>(what));
      case VT::kF64: return GgufValue::f64(scalar<double>(what));
      case VT::kBool: {
        const auto b = scalar<uint8_t>(what);
        if (b > 1) bad(what, ": bool byte is ", int{b}, ", expected 0 or 1");
        return GgufValue::boolean(b != 0);
      }
      case VT::kString: return GgufValue::string(string(what));
      case VT::kArray: return array(depth, what);
    }
    bad(what, " has unknown value type ", type, " (expected 0..12)");
  }

  GgufValue array(int depth, const std::string& what) {
    if (depth >= kGgufMaxArrayDepth) bad(what, ": arrays nested more than ", kGgufMaxArrayDepth, " deep");
    const auto elem = scalar<uint32_t>(what);
    if (!valid_value_type(elem)) bad(what, " is an array of unknown value type ", elem, " (expected 0..12)");
    const auto n = scalar<uint64_t>(what);
    if (n > remaining() / min_value_bytes(static_cast<VT>(elem))) {
      bad(what, ": array of ", n, " ", gguf_value_type_name(static_cast<VT>(elem)), " cannot fit in the ",
          remaining(), " bytes left");
    }
    std::vector<GgufValue> items;
    items.reserve(static_cast<size_t>(std::min<uint64_t>(n, 1 << 16)));  // grows only with bytes actually read
    for (uint64_t i = 0; i < n; ++i) items.push_back(value(elem, depth + 1, what));
    return GgufValue::array(static_cast<VT>(elem), std::move(items));
  }

  void read_metadata(GgufFile& f) {
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string key = string(cat("metadata key #", i));
      const std::string what = cat("metadata key \"", key, "\"");
      const auto type = scalar<uint32_t>(what);
      GgufValue v = value(type, 0, what);
      if (!f.key_index_.emplace(key, f.metadata_.size()).second) bad("duplicate ", what);
      f.metadata_.emplace_back(std::move(key), std::move(v));
    }
  }

  void read_alignment(GgufFile& f) {
    const GgufValue* a = f.find("general.alignment");
    if (!a) return;
    if (a->type() != VT::kU32) {
      bad("general.alignment has type ", gguf_value_type_name(a->type()), ", expected u32");
    }
    const uint64_t v = a->as_u64();
    if (v == 0 || !std::has_single_bit(v)) bad("general.alignment is ", v, ", expected a non-zero power of two");
    f.alignment_ = v;
  }

  void read_tensor_infos(GgufFile& f) {
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      GgufTensorInfo t;
      t.name = string(cat("tensor #", i, " name"));
      const std::string what = cat("tensor \"", t.name, "\"");
      const auto n_dims = scalar<uint32_t>(what + " n_dims");
      if (n_dims == 0 || n_dims > static_cast<uint32_t>(core::Shape::kMaxDims)) {
        bad(what, ": n_dims is ", n_dims, ", expected 1..", core::Shape::kMaxDims);
      }
      std::array<int64_t, core::Shape::kMaxDims> dims{};  // whale order: ne reversed
      int64_t numel = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const auto ne = scalar<uint64_t>(what + " dims");
        if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            __builtin_mul_overflow(numel, static_cast<int64_t>(ne), &numel)) {
          bad(what, ": dims overflow 64 bits (ne[", d, "] = ", ne, ")");
        }
        dims[n_dims - 1 - d] = static_cast<int64_t>(ne);
      }
      t.ggml_type = scalar<uint32_t>(what + " type");
      const GgmlTypeInfo* type = ggml_type_info(t.ggml_type);
      if (!type) bad(what, ": unknown ggml type ", t.ggml_type);
      t.dtype = type->dtype;
      t.offset = scalar<uint64_t>(what + " offset");
      if (t.offset % f.alignment_ != 0) {
        bad(what, ": data offset ", t.offset, " is not a multiple of the alignment ", f.alignment_);
      }
      const int64_t row = dims[n_dims - 1];
      if (row % type->block_elems != 0) {
        bad(what, ": row length ", row, " (ne[0]) is not a multiple of ", type->name, "'s block of ",
            type->block_elems, " elements");
      }
      int64_t nbytes = 0;
      if (__builtin_mul_overflow(numel / type->block_elems, type->block_bytes, &nbytes)) {
        bad(what, ": byte size overflows 64 bits");
      }
      t.nbytes = static_cast<uint64_t>(nbytes);
      t.shape = core::Shape(std::span<const int64_t>(dims.data(), n_dims));
      if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second) bad("duplicate tensor name \"", t.name, "\"");
      f.tensors_.push_back(std::move(t));
    }
  }

  void place_tensor_data(GgufFile& f) {
    f.data_offset_ = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    if (f.tensors_.empty()) return;  // a file of metadata alone may stop before the padding
    if (f.data_offset_ > bytes_.size()) {
      bad("truncated: the data section starts at ", f.data_offset_, " but the file has ", bytes_.size(), " bytes");
    }
    const uint64_t data_bytes = bytes_.size() - f.data_offset_;
    for (GgufTensorInfo& t : f.tensors_) {
      if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset) {
        bad("tensor \"", t.name, "\": its ", t.nbytes, " bytes at data offset ", t.offset,
            " run past the end of the data section (", data_bytes, " bytes)");
      }
      t.offset += f.data_offset_;
    }
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(f.tensors_.size());
    for (const GgufTensorInfo& t : f.tensors_) {
      if (t.nbytes > 0) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensorInfo* prev = by_offset[i - 1];
      const GgufTensorInfo* cur = by_offset[i];
      if (prev->offset + prev->nbytes > cur->offset) {
        bad("tensor data overlaps: \"", prev->name, "\" [", prev->offset, ", ", prev->offset + prev->nbytes, ") and \"",
            cur->name, "\" [", cur->offset, ", ", cur->offset + cur->nbytes, ")");
      }
    }
  }

  std::span<const std::byte> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_tensors_ = 0;
};

GgufFile GgufFile::open(const std::string& path) {
  std::shared_ptr<const core::MappedFile> file = core::MappedFile::open(path);
  const std::span<const std::byte> bytes = file->bytes();
  return parse(bytes, std::move(file), path);
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                         const std::string& name) {
  return GgufParser(bytes, name).run(std::move(owner));
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = key_index_.find(std::string(key));
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::get(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::kNotFound, "gguf file ", name_, " has no metadata key \"", key, "\"");
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::tensor_bytes(const GgufTensorInfo& info) const {
  return bytes_.subspan(static_cast<size_t>(info.offset), static_cast<size_t>(info.nbytes));
}

core::Tensor GgufFile::view(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) fail(ErrorKind::kNotFound, "gguf file ", name_, " has no tensor \"", name, "\"");
  if (!t->dtype) {
    fail(ErrorKind::kUnsupported, "gguf file ", name_, ": tensor \"", name, "\" has ggml type ",
         ggml_type_name(t->ggml_type), ", which whale cannot compute with");
  }
  // Views are read-only by contract; Tensor's pointer is mutable only for owned buffers.
  auto* data = const_cast<std::byte*>(bytes_.data() + t->offset);
  return core::Tensor(*t->dtype, t->shape, data, owner_);
}

}  // namespace whale::formats
