// Reading training configs from JSON, shared by every loop's config: parse an object, read a key
// of a given type, refuse keys nobody reads. Each error names the file and the key.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace whale::train {

inline nlohmann::json parse_config_object(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, source, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail(ErrorKind::kFormat, source, ": expected a JSON object");
  return j;
}

// Leaves `out` (the default) alone when `key` is absent. A number T cannot hold is refused, not
// cast: JSON keeps an integer past 64 bits as a double, and a double past an integer type's (or a
// float's) range converts with undefined behaviour (found by train_config_fuzz: "max_number": 5.5e34).
template <typename T>
void get_key(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key)) return;
  const nlohmann::json& v = j.at(key);
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    using L = std::numeric_limits<T>;
    bool fits = true;  // not a number at all: get<T>() below names the wrong type
    if constexpr (std::is_floating_point_v<T>) {
      if (v.is_number_float()) fits = std::isfinite(v.get<double>()) && std::fabs(v.get<double>()) <= L::max();
    } else if (v.is_number_unsigned()) {
      fits = v.get<uint64_t>() <= static_cast<uint64_t>(L::max());
    } else if (v.is_number_integer()) {  // negative
      fits = std::is_signed_v<T> && v.get<int64_t>() >= static_cast<int64_t>(L::lowest());
    } else if (v.is_number_float()) {
      // [lowest, max + 1): max + 1 is a power of two, exact as a double where max is not.
      const double d = v.get<double>();
      fits = d == std::trunc(d) && d >= static_cast<double>(L::lowest()) &&
             d < 2.0 * static_cast<double>(L::max() / 2 + 1);
    }
    if (!fits) {
      fail(ErrorKind::kInvalidArgument, source, ": key \"", key, "\" must be ",
           std::is_integral_v<T> ? "an integer" : "a finite number", " in [", +L::lowest(), ", ", +L::max(), "], got ",
           v.dump());
    }
  }
  try {
    out = v.get<T>();
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, source, ": key \"", key, "\" has the wrong type (", e.what(), ")");
  }
}

// A typo must not silently fall back to a default. `path` names a nested object ("loss") so the
// error names the key's place in the file ("loss.clip_hgh").
inline void check_known_keys(const nlohmann::json& j, std::initializer_list<std::string_view> known,
                             const std::string& source, std::string_view path = {}) {
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || key == k;
    if (!ok) {
      fail(ErrorKind::kInvalidArgument, source, ": unknown key \"", path, path.empty() ? "" : ".", key, "\"");
    }
  }
}

// The nested object under `key` of `j` with its keys checked, or nullptr when `key` is absent.
inline const nlohmann::json* nested_object(const nlohmann::json& j, const char* key,
                                           std::initializer_list<std::string_view> known, const std::string& source) {
  if (!j.contains(key)) return nullptr;
  const nlohmann::json& o = j.at(key);
  if (!o.is_object()) fail(ErrorKind::kFormat, source, ": \"", key, "\" must be a JSON object");
  check_known_keys(o, known, source, key);
  return &o;
}

}  // namespace whale::train
