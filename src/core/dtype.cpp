// The dtype table: names, block sizes and byte counts.
#include "core/dtype.h"

#include <array>
#include <limits>

#include "core/error.h"

namespace whale::core {
namespace {

constexpr std::array<DTypeInfo, 25> kInfos = {{
    {"f32", 1, 4, true, false},
    {"f16", 1, 2, true, false},
    {"bf16", 1, 2, true, false},
    {"f8_e4m3", 1, 1, true, false},
    {"q8_0", 32, 34, true, true},
    {"q4_0", 32, 18, true, true},
    {"q4_k", 256, 144, true, true},
    {"q6_k", 256, 210, true, true},
    {"f64", 1, 8, true, false},
    {"i64", 1, 8, false, false},
    {"i32", 1, 4, false, false},
    {"i16", 1, 2, false, false},
    {"i8", 1, 1, false, false},
    {"u8", 1, 1, false, false},
    {"bool", 1, 1, false, false},
    {"q2_k", 256, 84, true, true},
    {"q3_k", 256, 110, true, true},
    {"q5_k", 256, 176, true, true},
    {"q4_1", 32, 20, true, true},
    {"q5_0", 32, 22, true, true},
    {"q5_1", 32, 24, true, true},
    {"iq4_nl", 32, 18, true, true},
    {"iq4_xs", 256, 136, true, true},
    {"iq2_xxs", 256, 66, true, true},
    {"iq1_s", 256, 50, true, true},
}};

}  // namespace

const DTypeInfo& dtype_info(DType t) { return kInfos.at(static_cast<size_t>(t)); }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kInfos.size(); ++i) {
    if (kInfos[i].name == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}

int64_t dtype_bytes(DType t, int64_t n_elems) {
  const DTypeInfo& info = dtype_info(t);
  if (n_elems < 0) fail(ErrorKind::kInvalidArgument, "negative element count ", n_elems);
  if (n_elems % info.block_elems != 0) {
    fail(ErrorKind::kInvalidArgument, n_elems, " elements is not a whole number of ", info.name,
         " blocks of ", info.block_elems);
  }
  const int64_t blocks = n_elems / info.block_elems;
  if (blocks > std::numeric_limits<int64_t>::max() / info.block_bytes) {
    fail(ErrorKind::kInvalidArgument, n_elems, " elements of ", info.name, " overflow a byte count");
  }
  return blocks * info.block_bytes;
}

}  // namespace whale::core
