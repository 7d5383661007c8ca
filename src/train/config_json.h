// Reading training configs from JSON, shared by every loop's config: parse an object, read a key
// of a given type, refuse keys nobody reads. Each error names the file and the key.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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

// Leaves `out` (the default) alone when `key` is absent.
template <typename T>
void get_key(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
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
