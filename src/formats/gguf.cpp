// GGUF's vocabulary: the ggml tensor type table (ids, block sizes, whale dtypes) and GgufValue,
// the metadata value with its checked conversions and one-line display.
#include "formats/gguf.h"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace whale::formats {
namespace {

using core::DType;
using VT = GgufValueType;

// Indexed by ggml type id (ggml.h's enum ggml_type); empty names are ids ggml retired.
constexpr std::array<GgmlTypeInfo, 40> kGgmlTypes = {{
    {"f32", 1, 4, DType::kF32},
    {"f16", 1, 2, DType::kF16},
    {"q4_0", 32, 18, DType::kQ4_0},
    {"q4_1", 32, 20, DType::kQ4_1},
    {"", 0, 0, std::nullopt},  // 4: q4_2, removed
    {"", 0, 0, std::nullopt},  // 5: q4_3, removed
    {"q5_0", 32, 22, DType::kQ5_0},
    {"q5_1", 32, 24, DType::kQ5_1},
    {"q8_0", 32, 34, DType::kQ8_0},
    {"q8_1", 32, 36, std::nullopt},
    {"q2_K", 256, 84, DType::kQ2_K},
    {"q3_K", 256, 110, DType::kQ3_K},
    {"q4_K", 256, 144, DType::kQ4_K},
    {"q5_K", 256, 176, DType::kQ5_K},
    {"q6_K", 256, 210, DType::kQ6_K},
    {"q8_K", 256, 292, std::nullopt},
    {"iq2_xxs", 256, 66, DType::kIQ2_XXS},
    {"iq2_xs", 256, 74, std::nullopt},
    {"iq3_xxs", 256, 98, std::nullopt},
    {"iq1_s", 256, 50, DType::kIQ1_S},
    {"iq4_nl", 32, 18, DType::kIQ4_NL},
    {"iq3_s", 256, 110, std::nullopt},
    {"iq2_s", 256, 82, std::nullopt},
    {"iq4_xs", 256, 136, DType::kIQ4_XS},
    {"i8", 1, 1, DType::kI8},
    {"i16", 1, 2, DType::kI16},
    {"i32", 1, 4, DType::kI32},
    {"i64", 1, 8, DType::kI64},
    {"f64", 1, 8, DType::kF64},
    {"iq1_m", 256, 56, std::nullopt},
    {"bf16", 1, 2, DType::kBF16},
    {"", 0, 0, std::nullopt},  // 31-33: q4_0_4_4 and friends, removed
    {"", 0, 0, std::nullopt},
    {"", 0, 0, std::nullopt},
    {"tq1_0", 256, 54, std::nullopt},
    {"tq2_0", 256, 66, std::nullopt},
    {"", 0, 0, std::nullopt},  // 36-38: iq4_nl_4_4 and friends, removed
    {"", 0, 0, std::nullopt},
    {"", 0, 0, std::nullopt},
    {"mxfp4", 32, 17, std::nullopt},
}};

bool is_integer(VT t) {
  switch (t) {
    case VT::kU8: case VT::kI8: case VT::kU16: case VT::kI16: case VT::kU32: case VT::kI32:
    case VT::kU64: case VT::kI64:
      return true;
    default:
      return false;
  }
}

bool is_signed(VT t) { return t == VT::kI8 || t == VT::kI16 || t == VT::kI32 || t == VT::kI64; }

void escape_into(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;  // UTF-8 passes through
    }
  }
  out += '"';
}

template <class T>
std::string shortest(T v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType t) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < kNames.size() ? kNames[i] : std::string_view("invalid");
}

const GgmlTypeInfo* ggml_type_info(uint32_t ggml_type) {
  if (ggml_type >= kGgmlTypes.size() || kGgmlTypes[ggml_type].name.empty()) return nullptr;
  return &kGgmlTypes[ggml_type];
}

std::string ggml_type_name(uint32_t ggml_type) {
  const GgmlTypeInfo* info = ggml_type_info(ggml_type);
  return info ? std::string(info->name) : cat("unknown(", ggml_type, ")");
}

std::optional<uint32_t> ggml_type_of(DType dtype) {
  for (uint32_t i = 0; i < kGgmlTypes.size(); ++i) {
    if (kGgmlTypes[i].dtype == dtype) return i;
  }
  return std::nullopt;
}

GgufValue GgufValue::scalar(GgufValueType t, uint64_t bits) {
  GgufValue out;
  out.type_ = t;
  out.bits_ = bits;
  return out;
}

// Signed values are stored sign-extended so as_i64 is a plain cast.
GgufValue GgufValue::u8(uint8_t v) { return scalar(VT::kU8, v); }
GgufValue GgufValue::i8(int8_t v) { return scalar(VT::kI8, static_cast<uint64_t>(int64_t{v})); }
GgufValue GgufValue::u16(uint16_t v) { return scalar(VT::kU16, v); }
GgufValue GgufValue::i16(int16_t v) { return scalar(VT::kI16, static_cast<uint64_t>(int64_t{v})); }
GgufValue GgufValue::u32(uint32_t v) { return scalar(VT::kU32, v); }
GgufValue GgufValue::i32(int32_t v) { return scalar(VT::kI32, static_cast<uint64_t>(int64_t{v})); }
GgufValue GgufValue::u64(uint64_t v) { return scalar(VT::kU64, v); }
GgufValue GgufValue::i64(int64_t v) { return scalar(VT::kI64, static_cast<uint64_t>(v)); }
GgufValue GgufValue::boolean(bool v) { return scalar(VT::kBool, v ? 1 : 0); }

GgufValue GgufValue::f32(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return scalar(VT::kF32, b);
}

GgufValue GgufValue::f64(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return scalar(VT::kF64, b);
}

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = VT::kString;
  out.str_ = std::move(v);
  return out;
}

GgufValue GgufValue::array(GgufValueType elem, std::vector<GgufValue> items) {
  if (static_cast<uint32_t>(elem) > static_cast<uint32_t>(VT::kF64)) {
    fail(ErrorKind::kInvalidArgument, "gguf array with invalid element type ", static_cast<uint32_t>(elem));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].type_ != elem) {
      fail(ErrorKind::kInvalidArgument, "gguf array of ", gguf_value_type_name(elem), " has item ", i,
           " of type ", gguf_value_type_name(items[i].type_));
    }
  }
  GgufValue out;
  out.type_ = VT::kArray;
  out.elem_ = elem;
  out.items_ = std::move(items);
  return out;
}

GgufValue GgufValue::string_array(const std::vector<std::string>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const auto& s : items) v.push_back(string(s));
  return array(VT::kString, std::move(v));
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const int32_t x : items) v.push_back(i32(x));
  return array(VT::kI32, std::move(v));
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const float x : items) v.push_back(f32(x));
  return array(VT::kF32, std::move(v));
}

GgufValueType GgufValue::array_type() const {
  if (type_ != VT::kArray) fail(ErrorKind::kFormat, "gguf value ", to_display(), " is not an array");
  return elem_;
}

uint64_t GgufValue::as_u64() const {
  if (!is_integer(type_)) {
    fail(ErrorKind::kFormat, "gguf value ", to_display(), " (", gguf_value_type_name(type_), ") is not an integer");
  }
  if (is_signed(type_) && static_cast<int64_t>(bits_) < 0) {
    fail(ErrorKind::kFormat, "gguf value ", to_display(), " is negative, expected an unsigned integer");
  }
  return bits_;
}

int64_t GgufValue::as_i64() const {
  if (!is_integer(type_)) {
    fail(ErrorKind::kFormat, "gguf value ", to_display(), " (", gguf_value_type_name(type_), ") is not an integer");
  }
  if (!is_signed(type_) && bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail(ErrorKind::kFormat, "gguf value ", to_display(), " does not fit in a signed 64-bit integer");
  }
  return static_cast<int64_t>(bits_);
}

double GgufValue::as_f64() const {
  if (type_ == VT::kF32) return f32_value();
  if (type_ == VT::kF64) {
    double d;
    std::memcpy(&d, &bits_, 8);
    return d;
  }
  if (is_integer(type_)) {
    return is_signed(type_) ? static_cast<double>(static_cast<int64_t>(bits_)) : static_cast<double>(bits_);
  }
  fail(ErrorKind::kFormat, "gguf value ", to_display(), " (", gguf_value_type_name(type_), ") is not a number");
}

float GgufValue::f32_value() const {
  if (type_ != VT::kF32) fail(ErrorKind::kFormat, "gguf value ", to_display(), " is not an f32");
  const auto b = static_cast<uint32_t>(bits_);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

bool GgufValue::as_bool() const {
  if (type_ != VT::kBool) fail(ErrorKind::kFormat, "gguf value ", to_display(), " is not a bool");
  return bits_ != 0;
}

const std::string& GgufValue::as_string() const {
  if (type_ != VT::kString) fail(ErrorKind::kFormat, "gguf value ", to_display(), " is not a string");
  return str_;
}

const std::vector<GgufValue>& GgufValue::as_array() const {
  if (type_ != VT::kArray) fail(ErrorKind::kFormat, "gguf value ", to_display(), " is not an array");
  return items_;
}

std::string GgufValue::to_display(size_t max_items) const {
  std::string out;
  switch (type_) {
    case VT::kString:
      escape_into(out, str_);
      return out;
    case VT::kBool:
      return bits_ ? "true" : "false";
    case VT::kF32:
      return shortest(f32_value());
    case VT::kF64:
      return shortest(as_f64());
    case VT::kArray: {
      out = "[";
      const size_t shown = std::min(items_.size(), max_items);
      for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        out += items_[i].to_display(max_items);
      }
      if (shown < items_.size()) out += cat(shown ? ", " : "", "... ", items_.size(), " items");
      return out + "]";
    }
    default:
      return is_signed(type_) ? std::to_string(static_cast<int64_t>(bits_)) : std::to_string(bits_);
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && elem_ == other.elem_ && bits_ == other.bits_ && str_ == other.str_ &&
         items_ == other.items_;
}

}  // namespace whale::formats
