// Typed reads of optional request fields (absent or null = not given); a field of the wrong type
// is a 400 naming it. Shared by the OpenAI/DeepSeek and llama-server request parsers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace whale::server {

// The field if present and not null.
const nlohmann::json* field(const nlohmann::json& j, const char* name);
std::optional<double> number(const nlohmann::json& j, const char* name);
std::optional<int64_t> integer(const nlohmann::json& j, const char* name);
std::optional<bool> boolean(const nlohmann::json& j, const char* name);
// The field's text, or "" when it is absent, null or not a string (for a tag such as "type" whose
// caller refuses anything but the values it knows; nlohmann's value(name, "") throws instead).
std::string string_or_empty(const nlohmann::json& j, const char* name);

}  // namespace whale::server
