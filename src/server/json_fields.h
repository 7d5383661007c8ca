// Typed reads of optional request fields (absent or null = not given); a field of the wrong type
// is a 400 naming it. Shared by the OpenAI/DeepSeek and llama-server request parsers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace whale::server {

// Arrays and objects a request body may nest (a JSON schema of 128 levels takes ~256).
inline constexpr int kMaxBodyNesting = 512;

// A request body as a JSON object, or a 400: empty, not JSON, not an object, or nesting deeper
// than kMaxBodyNesting (nlohmann copies and compares values recursively, so a body of thousands of
// '[' would overflow the stack of the thread handling it once any part of it is copied).
nlohmann::json parse_body_object(std::string_view body);

// The field if present and not null.
const nlohmann::json* field(const nlohmann::json& j, const char* name);
std::optional<double> number(const nlohmann::json& j, const char* name);
std::optional<int64_t> integer(const nlohmann::json& j, const char* name);
std::optional<bool> boolean(const nlohmann::json& j, const char* name);
// The field's text, or "" when it is absent, null or not a string (for a tag such as "type" whose
// caller refuses anything but the values it knows; nlohmann's value(name, "") throws instead).
std::string string_or_empty(const nlohmann::json& j, const char* name);

}  // namespace whale::server
