// ModelArgs: a model's hyper-parameters under Hugging Face's config.json names, for every family
// whale runs (deepseek_v2, deepseek_v3, qwen2, llama). Parsed and validated here, used everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace whale::formats {

enum class Family { kDeepseekV2, kDeepseekV3, kQwen2, kLlama };

// The config's string-valued choices, parsed once so the forward pass compares enums. Each has
// its config.json spelling (*_name) and the reverse lookup (nullopt for an unknown spelling).
enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };  // greedy | group_limited_greedy | noaux_tc
enum class ScoringFunc { kSoftmax, kSigmoid };                     // softmax | sigmoid
enum class RopeType { kNone, kYarn, kLlama3, kLinear };            // "" | yarn | llama3 | linear

const char* topk_method_name(TopkMethod m);
const char* scoring_func_name(ScoringFunc f);
const char* rope_type_name(RopeType t);  // "" for kNone
std::optional<TopkMethod> topk_method_from_name(std::string_view name);
std::optional<ScoringFunc> scoring_func_from_name(std::string_view name);
std::optional<RopeType> rope_type_from_name(std::string_view name);  // "" is kNone

struct RopeScaling {
  RopeType type = RopeType::kNone;
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
};

struct ModelArgs {
  std::string model_type;  // "deepseek_v3", "deepseek_v2", "qwen2", "llama"
  Family family = Family::kDeepseekV3;
  std::string torch_dtype = "bfloat16";

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense MLP width (deepseek: the first_k_dense_replace layers)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  // dense attention (qwen2, llama)
  int64_t head_dim = 0;          // hidden_size / num_attention_heads unless the config says
  bool attention_bias = false;   // q/k/v biases (always true for qwen2)

  // mla
  int64_t q_lora_rank = 0;  // 0: no query compression (V2-Lite), q_proj instead of q_a/q_b
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // moe
  int64_t n_routed_experts = 0;  // 0: every layer dense
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t moe_layer_freq = 1;
  int64_t first_k_dense_replace = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;

  // mtp
  int64_t num_nextn_predict_layers = 0;

  // rope
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;

  // fp8 (quantization_config)
  bool fp8 = false;
  int64_t fp8_block_rows = 128;
  int64_t fp8_block_cols = 128;

  bool is_deepseek() const { return family == Family::kDeepseekV2 || family == Family::kDeepseekV3; }
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Layers with routed experts (deepseek): from first_k_dense_replace on, every moe_layer_freq-th.
  bool is_moe_layer(int64_t layer) const;
  // Layers of the whole checkpoint: the main stack plus the MTP modules after it.
  int64_t total_layers() const { return num_hidden_layers + num_nextn_predict_layers; }
};

// Parses config.json text; `source` names the file in messages. Throws whale::Error (kFormat for
// malformed JSON or wrong types, kInvalidArgument for bad values, kUnsupported for unknown families).
ModelArgs parse_model_args(const std::string& json_text, const std::string& source = "config.json");
// Reads DIR/config.json (or the file itself when PATH is a file).
ModelArgs load_model_args(const std::string& path);
// Checks ranges, divisibility and consistency between fields; throws kInvalidArgument naming them.
void validate_model_args(const ModelArgs& args, const std::string& source = "config.json");
// The config.json Hugging Face writes for this family (parse_model_args(to_json(a)) == a).
std::string model_args_to_json(const ModelArgs& args);

}  // namespace whale::formats
