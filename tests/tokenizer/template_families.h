// The chat templates the template tests render with whale and with @huggingface/jinja: the npm
// reference packages' own, R1's, R1-Distill-Llama's, Qwen2.5's and Llama-3.1/3.2's (tests/tokenizer/data,
// sources in its README.md) and whale's placeholder.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "formats/tokenizer_files.h"
#include "oracle.h"

namespace whale::tokenizer::testing {

struct TemplateFamily {
  std::string name;
  std::string source;  // Jinja text
  std::string bos, eos;
};

// `packages` (npm reference tokenizers: "deepseek_v3", "qwen3", "llama3"), then the R1, R1-Distill,
// Qwen2.5, Llama-3.1, Llama-3.2 and placeholder templates.
inline std::vector<TemplateFamily> template_families(std::initializer_list<const char*> packages) {
  using nlohmann::json;
  using whale::testing::read_bytes;
  std::vector<TemplateFamily> out;
  for (const char* pkg : packages) {
    const json cfg = read_json(reference_model_dir(pkg) + "/tokenizer_config.json");
    auto tok = [&](const char* k) {
      const json& v = cfg.value(k, json());
      return v.is_string() ? v.get<std::string>() : v.is_object() ? v.value("content", "") : std::string();
    };
    out.push_back({pkg, cfg["chat_template"].get<std::string>(), tok("bos_token"), tok("eos_token")});
  }
  const std::string bos = "<｜begin▁of▁sentence｜>", eos = "<｜end▁of▁sentence｜>";
  const std::string data = std::string(WHALE_TEST_DATA) + "/../tokenizer/data/";
  out.push_back({"deepseek_r1", read_bytes(data + "deepseek_r1.jinja"), bos, eos});
  out.push_back({"deepseek_r1_distill_llama", read_bytes(data + "deepseek_r1_distill_llama.jinja"), bos, eos});
  out.push_back({"qwen2_5_instruct", read_bytes(data + "qwen2_5_instruct.jinja"), "", "<|im_end|>"});
  out.push_back({"llama3_1_instruct", read_bytes(data + "llama3_1_instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>"});
  out.push_back({"llama3_2_instruct", read_bytes(data + "llama3_2_instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>"});
  const auto specials = formats::deepseek_special_tokens(0, 1);
  const json placeholder = json::parse(formats::deepseek_tokenizer_config_json(specials, 0, 1, 4096));
  out.push_back({"whale_placeholder", placeholder["chat_template"].get<std::string>(), bos, eos});
  return out;
}

}  // namespace whale::tokenizer::testing
