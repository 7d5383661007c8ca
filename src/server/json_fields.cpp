// Each reader: absent or null -> nullopt; present with the wrong type -> bad_request(name).
#include "server/json_fields.h"

#include <string>

#include "server/api_error.h"

namespace whale::server {

using json = nlohmann::json;

const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad_request(name, std::string("`") + name + "` must be a number");
  return v->get<double>();
}

std::optional<int64_t> integer(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) bad_request(name, std::string("`") + name + "` must be an integer");
  return v->get<int64_t>();
}

std::optional<bool> boolean(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad_request(name, std::string("`") + name + "` must be true or false");
  return v->get<bool>();
}

std::string string_or_empty(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return "";
  const auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace whale::server
