// Writing GGUF v3: the header is serialized in memory, then each tensor's bytes are produced by its
// Fill callback into one reused buffer and streamed out, padded to the alignment.
#include <algorithm>
#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"

namespace whale::formats {
namespace {

using VT = GgufValueType;

// llama.cpp's GGML_MAX_NAME is 64 including the terminating NUL.
constexpr size_t kMaxTensorName = 63;
constexpr std::string_view kAlignmentKey = "general.alignment";

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

class HeaderBuffer {
 public:
  template <class T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  // A value's payload (its type tag is written by the caller: per key, or once per array).
  void put_value(const GgufValue& v) {
    switch (v.type()) {
      case VT::kU8: case VT::kI8: case VT::kBool: put(static_cast<uint8_t>(v.bits())); break;
      case VT::kU16: case VT::kI16: put(static_cast<uint16_t>(v.bits())); break;
      case VT::kU32: case VT::kI32: case VT::kF32: put(static_cast<uint32_t>(v.bits())); break;
      case VT::kU64: case VT::kI64: case VT::kF64: put(v.bits()); break;
      case VT::kString: put_string(v.as_string()); break;
      case VT::kArray:
        put(static_cast<uint32_t>(v.array_type()));
        put<uint64_t>(v.as_array().size());
        for (const GgufValue& item : v.as_array()) put_value(item);
        break;
    }
  }
  void pad_to(uint64_t alignment) { out_.resize(static_cast<size_t>(align_up(out_.size(), alignment)), '\0'); }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

void check_alignment(uint64_t a) {
  if (a == 0 || !std::has_single_bit(a) || a > (uint64_t{1} << 31)) {
    fail(ErrorKind::kInvalidArgument, "gguf alignment ", a, " is not a power of two in [1, 2^31]");
  }
}

}  // namespace

const GgufValue* GgufWriter::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void GgufWriter::set(std::string key, GgufValue v) {
  if (key == kAlignmentKey) {
    if (v.type() != VT::kU32) {
      fail(ErrorKind::kInvalidArgument, "general.alignment must be a u32, got ", gguf_value_type_name(v.type()));
    }
    check_alignment(v.as_u64());
    alignment_ = static_cast<uint32_t>(v.as_u64());
  }
  for (auto& [k, old] : metadata_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  check_alignment(alignment);
  if (alignment != kGgufDefaultAlignment) {
    set(std::string(kAlignmentKey), GgufValue::u32(alignment));
    return;
  }
  alignment_ = alignment;
  std::erase_if(metadata_, [](const auto& kv) { return kv.first == kAlignmentKey; });
}

void GgufWriter::add_tensor(std::string name, core::DType dtype, const core::Shape& shape, Fill fill) {
  if (name.size() > kMaxTensorName) {
    fail(ErrorKind::kInvalidArgument, "gguf tensor name \"", name, "\" is ", name.size(),
         " bytes; llama.cpp allows at most ", kMaxTensorName);
  }
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) fail(ErrorKind::kInvalidArgument, "gguf tensor \"", name, "\" added twice");
  }
  if (!ggml_type_of(dtype)) {
    fail(ErrorKind::kUnsupported, "gguf tensor \"", name, "\": dtype ", core::dtype_name(dtype),
         " has no ggml type");
  }
  if (shape.ndim() == 0) fail(ErrorKind::kInvalidArgument, "gguf tensor \"", name, "\" needs at least one dim");
  const int64_t block = core::dtype_info(dtype).block_elems;
  if (shape[shape.ndim() - 1] % block != 0) {
    fail(ErrorKind::kInvalidArgument, "gguf tensor \"", name, "\": rows of ", shape.str(), " are not whole ",
         core::dtype_name(dtype), " blocks of ", block);
  }
  const auto nbytes = static_cast<uint64_t>(core::dtype_bytes(dtype, shape.numel()));
  tensors_.push_back({std::move(name), dtype, shape, nbytes, std::move(fill)});
}

void GgufWriter::add_tensor(std::string name, const core::Tensor& t) {
  add_tensor(std::move(name), t.dtype(), t.shape(), [t](std::span<std::byte> out) {
    const core::Tensor src = t.is_contiguous() ? t : t.clone();
    std::memcpy(out.data(), src.raw(), out.size());
  });
}

void GgufWriter::write(const std::string& path, const std::function<void(uint64_t)>& on_progress) const {
  HeaderBuffer h;
  h.put<uint32_t>(0x46554747);  // "GGUF" read as a little-endian u32
  h.put<uint32_t>(3);
  h.put<uint64_t>(tensors_.size());
  h.put<uint64_t>(metadata_.size());
  for (const auto& [key, v] : metadata_) {
    h.put_string(key);
    h.put(static_cast<uint32_t>(v.type()));
    h.put_value(v);
  }
  uint64_t offset = 0;  // relative to the data section
  size_t max_bytes = 0;
  for (const PendingTensor& t : tensors_) {
    h.put_string(t.name);
    h.put<uint32_t>(static_cast<uint32_t>(t.shape.ndim()));
    for (int d = t.shape.ndim() - 1; d >= 0; --d) h.put<uint64_t>(static_cast<uint64_t>(t.shape[d]));
    h.put<uint32_t>(*ggml_type_of(t.dtype));
    h.put<uint64_t>(offset);
    offset = align_up(offset + t.nbytes, alignment_);
    max_bytes = std::max(max_bytes, static_cast<size_t>(t.nbytes));
  }
  h.pad_to(alignment_);

  core::write_file_atomic(path, [&](std::FILE* f) {
    core::write_all(f, h.str().data(), h.str().size(), path);
    uint64_t written = h.str().size();
    if (on_progress) on_progress(written);
    std::vector<std::byte> buf;
    buf.reserve(max_bytes + alignment_);
    for (const PendingTensor& t : tensors_) {
      const uint64_t padded = align_up(t.nbytes, alignment_);
      buf.assign(static_cast<size_t>(padded), std::byte{0});
      t.fill(std::span<std::byte>(buf.data(), static_cast<size_t>(t.nbytes)));
      core::write_all(f, buf.data(), buf.size(), cat(path, " (tensor ", t.name, ")"));
      written += padded;
      if (on_progress) on_progress(written);
    }
  });
}

}  // namespace whale::formats
