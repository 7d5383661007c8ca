// generation_config.json: the sampling defaults a checkpoint ships (temperature, top_p, top_k) and
// its end-of-sequence ids. Every field is optional; a missing file means no defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace whale::formats {

struct GenerationConfig {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<int64_t> max_new_tokens;
  std::vector<int64_t> eos_token_ids;
};

// Reads DIR/generation_config.json when it exists; throws whale::Error naming the file and field
// when it exists but is malformed.
GenerationConfig load_generation_config(const std::string& dir);
GenerationConfig parse_generation_config(const std::string& json_text, const std::string& source);

}  // namespace whale::formats
