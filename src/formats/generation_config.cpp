// Typed reads of generation_config.json with errors that name the field.
#include "formats/generation_config.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {

GenerationConfig parse_generation_config(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, source, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail(ErrorKind::kFormat, source, ": expected a JSON object");
  GenerationConfig g;
  auto number = [&](const char* key) -> std::optional<double> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    if (!j[key].is_number()) fail(ErrorKind::kFormat, source, ": field \"", key, "\" must be a number");
    return j[key].get<double>();
  };
  if (auto v = number("temperature")) g.temperature = static_cast<float>(*v);
  if (auto v = number("top_p")) g.top_p = static_cast<float>(*v);
  if (auto v = number("top_k")) g.top_k = static_cast<int32_t>(*v);
  if (auto v = number("max_new_tokens")) g.max_new_tokens = static_cast<int64_t>(*v);
  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) {
      g.eos_token_ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) fail(ErrorKind::kFormat, source, ": eos_token_id entries must be integers");
        g.eos_token_ids.push_back(x.get<int64_t>());
      }
    } else {
      fail(ErrorKind::kFormat, source, ": field \"eos_token_id\" must be an integer or a list");
    }
  }
  return g;
}

GenerationConfig load_generation_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  if (!std::filesystem::exists(path)) return {};
  return parse_generation_config(core::read_file(path), path);
}

}  // namespace whale::formats
