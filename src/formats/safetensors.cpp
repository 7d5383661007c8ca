// safetensors parsing (every header field checked against the file's size before any view is
// made) and the streaming writer.
#include "formats/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {
namespace {

using core::DType;
using Json = nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
// The official library's cap; it also bounds the memory a hostile header can make us spend.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep ({name: {shape: [..]}}); the cap stops pathological nesting.
constexpr size_t kMaxJsonDepth = 16;

struct DTypeName {
  DType dtype;
  std::string_view name;
};
constexpr std::array<DTypeName, 11> kDTypeNames = {{
    {DType::kF32, "F32"},
    {DType::kF16, "F16"},
    {DType::kBF16, "BF16"},
    {DType::kF8E4M3, "F8_E4M3"},
    {DType::kF64, "F64"},
    {DType::kI64, "I64"},
    {DType::kI32, "I32"},
    {DType::kI16, "I16"},
    {DType::kI8, "I8"},
    {DType::kU8, "U8"},
    {DType::kBool, "BOOL"},
}};

// A SAX pass run before building the DOM: nlohmann keeps the last of duplicate keys silently, and
// a header where one tensor name maps to two byte ranges is ambiguous, so we reject it instead.
class StrictJsonChecker {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  std::string error;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(size_t) { return push(true); }
  bool start_array(size_t) { return push(false); }
  bool end_object() { return pop(); }
  bool end_array() { return pop(); }
  bool key(string_t& k) {
    if (!frames_.back().insert(k).second) {
      error = cat("has duplicate key \"", k, "\"");
      if (frames_.size() > 1) error += cat(" inside \"", top_key_, "\"");
      return false;
    }
    if (frames_.size() == 1) top_key_ = k;
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    error = cat("is not valid JSON: ", e.what());
    return false;
  }

 private:
  bool push(bool) {
    if (frames_.size() >= kMaxJsonDepth) {
      error = cat("is nested deeper than ", kMaxJsonDepth, " levels");
      return false;
    }
    frames_.emplace_back();
    return true;
  }
  bool pop() {
    frames_.pop_back();
    return true;
  }
  std::vector<std::set<std::string>> frames_;  // keys seen per open object (unused for arrays)
  std::string top_key_;                        // the tensor whose entry is being read
};

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

// A JSON value that must be a non-negative integer fitting in int64; `what` names it in errors.
uint64_t json_uint(const Json& v, const std::string& where, const char* what) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(ErrorKind::kFormat, where, ": ", what, " ", u, " is too large");
    }
    return u;
  }
  if (v.is_number_integer()) fail(ErrorKind::kFormat, where, ": ", what, " ", v.dump(), " is negative");
  fail(ErrorKind::kFormat, where, ": ", what, " must be a non-negative integer, got ", v.dump());
}

const Json& require_field(const Json& entry, const char* field, const std::string& where) {
  const auto it = entry.find(field);
  if (it == entry.end()) fail(ErrorKind::kFormat, where, ": missing \"", field, "\"");
  return *it;
}

SafetensorsEntry parse_entry(const std::string& name, const Json& v, uint64_t data_begin, uint64_t data_len,
                             const std::string& file) {
  const std::string where = cat(file, ": tensor \"", name, "\"");
  if (name.empty()) fail(ErrorKind::kFormat, file, ": a tensor has an empty name");
  if (!v.is_object()) fail(ErrorKind::kFormat, where, ": entry must be a JSON object, got ", v.type_name());

  const Json& dt = require_field(v, "dtype", where);
  if (!dt.is_string()) fail(ErrorKind::kFormat, where, ": \"dtype\" must be a string, got ", dt.dump());
  const std::optional<DType> dtype = dtype_from_safetensors(dt.get_ref<const std::string&>());
  if (!dtype) fail(ErrorKind::kFormat, where, ": unknown dtype ", dt.dump());

  const Json& sh = require_field(v, "shape", where);
  if (!sh.is_array()) fail(ErrorKind::kFormat, where, ": \"shape\" must be an array, got ", sh.dump());
  if (sh.size() > static_cast<size_t>(core::Shape::kMaxDims)) {
    fail(ErrorKind::kUnsupported, where, ": shape ", sh.dump(), " has ", sh.size(), " dims, whale supports at most ",
         core::Shape::kMaxDims);
  }
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  for (const Json& d : sh) {
    const uint64_t n = json_uint(d, where, "shape dimension");
    if (__builtin_mul_overflow(numel, n, &numel)) {
      fail(ErrorKind::kFormat, where, ": shape ", sh.dump(), " has more elements than fit in 64 bits");
    }
    dims.push_back(static_cast<int64_t>(n));
  }
  const uint64_t esize = static_cast<uint64_t>(core::dtype_info(*dtype).block_bytes);
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, esize, &expected)) {
    fail(ErrorKind::kFormat, where, ": shape ", sh.dump(), " is too large for any file");
  }

  const Json& off = require_field(v, "data_offsets", where);
  if (!off.is_array() || off.size() != 2) {
    fail(ErrorKind::kFormat, where, ": \"data_offsets\" must be [begin, end], got ", off.dump());
  }
  const uint64_t begin = json_uint(off[0], where, "data_offsets begin");
  const uint64_t end = json_uint(off[1], where, "data_offsets end");
  if (end < begin) fail(ErrorKind::kFormat, where, ": data_offsets end ", end, " is before begin ", begin);
  if (end > data_len) {
    fail(ErrorKind::kFormat, where, ": data_offsets [", begin, ", ", end, "] run past the data section of ", data_len,
         " bytes (file truncated?)");
  }
  if (end - begin != expected) {
    fail(ErrorKind::kFormat, where, ": data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes, but ",
         dt.get_ref<const std::string&>(), " shape ", sh.dump(), " needs ", expected);
  }
  // Checked above: every dim fits int64 and the product fits the file, so Shape cannot throw.
  return SafetensorsEntry{name, *dtype, core::Shape(std::span<const int64_t>(dims)), data_begin + begin, expected};
}

std::vector<std::pair<std::string, std::string>> parse_metadata(const Json& v, const std::string& file) {
  if (!v.is_object()) fail(ErrorKind::kFormat, file, ": \"__metadata__\" must be an object, got ", v.type_name());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, val] : v.items()) {
    if (!val.is_string()) {
      fail(ErrorKind::kFormat, file, ": \"__metadata__\" value of \"", k, "\" must be a string, got ", val.dump());
    }
    out.emplace_back(k, val.get<std::string>());
  }
  return out;
}

// Data regions must tile [0, data_len) exactly, as the official library requires: overlap would
// let two tensors alias, and gaps or trailing bytes mean the header and data disagree.
void check_tiling(const std::vector<SafetensorsEntry>& sorted, uint64_t data_begin, uint64_t data_len,
                  const std::string& file) {
  uint64_t cursor = data_begin;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : sorted) {
    if (e.offset < cursor) {
      fail(ErrorKind::kFormat, file, ": tensor \"", e.name, "\" overlaps tensor \"", prev->name, "\" (data offset ",
           e.offset - data_begin, " < ", cursor - data_begin, ")");
    }
    if (e.offset > cursor) {
      fail(ErrorKind::kFormat, file, ": gap of ", e.offset - cursor, " bytes in the data section before tensor \"",
           e.name, "\"");
    }
    cursor = e.offset + e.nbytes;
    prev = &e;
  }
  if (cursor != data_begin + data_len) {
    fail(ErrorKind::kFormat, file, ": ", data_begin + data_len - cursor,
         " bytes after the last tensor are not described by the header");
  }
}

void write_json_string(std::string& out, const std::string& s) { out += Json(s).dump(); }

}  // namespace

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  for (const DTypeName& d : kDTypeNames) {
    if (d.name == name) return d.dtype;
  }
  return std::nullopt;
}

std::string_view safetensors_dtype_name(DType t) {
  for (const DTypeName& d : kDTypeNames) {
    if (d.dtype == t) return d.name;
  }
  fail(ErrorKind::kUnsupported, "dtype ", core::dtype_name(t), " has no safetensors equivalent");
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLen[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<core::MappedFile> file = core::MappedFile::open(path);
  const std::span<const std::byte> bytes = file->bytes();
  return parse(bytes, std::move(file), path);
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                                       const std::string& name) {
  const std::string file = cat("safetensors file ", name);
  if (bytes.size() < 8) {
    fail(ErrorKind::kFormat, file, ": ", bytes.size(), " bytes is too short for the 8-byte header length");
  }
  const uint64_t header_len = read_u64_le(bytes.data());
  if (header_len > bytes.size() - 8) {
    fail(ErrorKind::kFormat, file, ": header length ", header_len, " runs past the end of the file (",
         bytes.size(), " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    fail(ErrorKind::kFormat, file, ": header length ", header_len, " exceeds the limit of ", kMaxHeaderBytes,
         " bytes");
  }
  const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
  const std::string_view header(text, static_cast<size_t>(header_len));

  StrictJsonChecker checker;
  if (!Json::sax_parse(header, &checker) || !checker.error.empty()) {
    fail(ErrorKind::kFormat, file, ": header ", checker.error);
  }
  Json root;
  try {
    root = Json::parse(header);
  } catch (const Json::exception& e) {  // unreachable after the SAX pass, but never let it escape
    fail(ErrorKind::kFormat, file, ": header is not valid JSON: ", e.what());
  }
  if (!root.is_object()) fail(ErrorKind::kFormat, file, ": header must be a JSON object, got ", root.type_name());

  SafetensorsFile out;
  out.path_ = name;
  out.bytes_ = bytes;
  out.owner_ = std::move(owner);
  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_len = bytes.size() - data_begin;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey) {
      out.metadata_ = parse_metadata(value, file);
    } else {
      out.entries_.push_back(parse_entry(key, value, data_begin, data_len, file));
    }
  }
  std::sort(out.entries_.begin(), out.entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    return a.nbytes != b.nbytes ? a.nbytes < b.nbytes : a.name < b.name;  // deterministic for empty tensors
  });
  check_tiling(out.entries_, data_begin, data_len, file);
  for (size_t i = 0; i < out.entries_.size(); ++i) out.index_.emplace(out.entries_[i].name, i);
  return out;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

core::Tensor SafetensorsFile::view(std::string_view name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail(ErrorKind::kNotFound, "tensor ", name, " not found in safetensors file ", path_);
  // The bytes are read-only (mmap'd PROT_READ); Tensor has no const flavour, so callers must not write.
  auto* data = const_cast<std::byte*>(bytes_.data() + e->offset);
  return core::Tensor(e->dtype, e->shape, data, owner_);
}

void SafetensorsWriter::add(std::string name, DType dtype, const core::Shape& shape, Fill fill) {
  if (name.empty()) fail(ErrorKind::kInvalidArgument, "safetensors tensor name must not be empty");
  if (!is_valid_utf8(name)) fail(ErrorKind::kInvalidArgument, "safetensors tensor name is not valid UTF-8: ", name);
  if (name == kMetadataKey) fail(ErrorKind::kInvalidArgument, "\"", kMetadataKey, "\" is reserved, not a tensor name");
  if (names_.count(name)) fail(ErrorKind::kInvalidArgument, "tensor ", name, " added twice to a safetensors file");
  safetensors_dtype_name(dtype);  // throws kUnsupported for block types
  const auto nbytes = static_cast<uint64_t>(core::dtype_bytes(dtype, shape.numel()));
  if (!fill) fail(ErrorKind::kInvalidArgument, "tensor ", name, " has no fill function");
  names_.emplace(name, pending_.size());
  data_bytes_ += nbytes;
  pending_.push_back(Pending{std::move(name), dtype, shape, nbytes, std::move(fill)});
}

void SafetensorsWriter::add(std::string name, const core::Tensor& t) {
  if (!t.is_contiguous()) fail(ErrorKind::kInvalidArgument, "tensor ", name, " is not contiguous");
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "tensor ", name, " has no data");
  add(std::move(name), t.dtype(), t.shape(), [t](std::span<std::byte> out) {
    if (!out.empty()) std::memcpy(out.data(), t.raw(), out.size());
  });
}

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
    fail(ErrorKind::kInvalidArgument, "safetensors metadata \"", key, "\" is not valid UTF-8");
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void SafetensorsWriter::write(const std::string& path, const std::function<void(uint64_t)>& on_progress) const {
  std::string header = "{";
  if (!metadata_.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata_.size(); ++i) {
      if (i) header += ',';
      write_json_string(header, metadata_[i].first);
      header += ':';
      write_json_string(header, metadata_[i].second);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const Pending& p : pending_) {
    if (header.size() > 1) header += ',';
    write_json_string(header, p.name);
    header += cat(":{\"dtype\":\"", safetensors_dtype_name(p.dtype), "\",\"shape\":[");
    for (int i = 0; i < p.shape.ndim(); ++i) header += cat(i ? "," : "", p.shape[i]);
    header += cat("],\"data_offsets\":[", offset, ",", offset + p.nbytes, "]}");
    offset += p.nbytes;
  }
  header += '}';
  // Pad so the data section starts 8-byte aligned (the length prefix is itself 8 bytes).
  header.append((8 - header.size() % 8) % 8, ' ');

  core::write_file_atomic(path, [&](std::FILE* f) {
    std::array<unsigned char, 8> len{};
    for (size_t i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(header.size() >> (8 * i));
    core::write_all(f, len.data(), len.size(), path);
    core::write_all(f, header.data(), header.size(), path);
    std::vector<std::byte> buffer;
    uint64_t done = 0;
    for (const Pending& p : pending_) {
      buffer.assign(static_cast<size_t>(p.nbytes), std::byte{0});
      p.fill(std::span<std::byte>(buffer));
      core::write_all(f, buffer.data(), buffer.size(), cat(path, " (tensor ", p.name, ")"));
      done += p.nbytes;
      if (on_progress) on_progress(done);
    }
  });
}

}  // namespace whale::formats
