// Each reader: absent or null -> nullopt; present with the wrong type -> bad_request(name).
#include "server/json_fields.h"

#include <string>

#include "server/api_error.h"

namespace whale::server {

using json = nlohmann::json;

json parse_body_object(std::string_view body) {
  if (body.empty()) bad_request("", "the request body is empty; expected a JSON object");
  // The parser itself keeps its own stack; the callback stops it at the first value too deep.
  const json::parser_callback_t depth_limit = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxBodyNesting) {
      bad_request("", "the request body nests arrays and objects deeper than " + std::to_string(kMaxBodyNesting) +
                          " levels");
    }
    return true;
  };
  json j = json::parse(body, depth_limit, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_request("", "the request body is not valid JSON");
  if (!j.is_object()) bad_request("", "the request body must be a JSON object");
  return j;
}

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
