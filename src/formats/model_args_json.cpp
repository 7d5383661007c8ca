// ModelArgs -> config.json in the layout Hugging Face's DeepSeek, Qwen2 and Llama configs use, so
// checkpoints whale writes load in transformers and in whale alike.
#include <nlohmann/json.hpp>

#include "formats/model_args.h"

namespace whale::formats {

std::string model_args_to_json(const ModelArgs& a) {
  nlohmann::ordered_json j;
  const char* arch = "DeepseekV3ForCausalLM";
  switch (a.family) {
    case Family::kDeepseekV3: arch = "DeepseekV3ForCausalLM"; break;
    case Family::kDeepseekV2: arch = "DeepseekV2ForCausalLM"; break;
    case Family::kQwen2: arch = "Qwen2ForCausalLM"; break;
    case Family::kLlama: arch = "LlamaForCausalLM"; break;
  }
  j["architectures"] = {arch};
  j["model_type"] = a.model_type;
  j["vocab_size"] = a.vocab_size;
  j["hidden_size"] = a.hidden_size;
  j["intermediate_size"] = a.intermediate_size;
  j["num_hidden_layers"] = a.num_hidden_layers;
  j["num_attention_heads"] = a.num_attention_heads;
  j["num_key_value_heads"] = a.num_key_value_heads;
  j["max_position_embeddings"] = a.max_position_embeddings;
  j["rms_norm_eps"] = a.rms_norm_eps;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = a.tie_word_embeddings;
  if (a.bos_token_id >= 0) j["bos_token_id"] = a.bos_token_id;
  if (a.eos_token_ids.size() == 1) j["eos_token_id"] = a.eos_token_ids[0];
  if (a.eos_token_ids.size() > 1) j["eos_token_id"] = a.eos_token_ids;
  j["rope_theta"] = a.rope_theta;
  if (a.rope_scaling.type == RopeType::kNone) {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json rs;
    const RopeScaling& r = a.rope_scaling;
    if (r.type == RopeType::kYarn) {
      rs["type"] = "yarn";
      rs["factor"] = r.factor;
      rs["original_max_position_embeddings"] = r.original_max_position_embeddings;
      rs["beta_fast"] = r.beta_fast;
      rs["beta_slow"] = r.beta_slow;
      rs["mscale"] = r.mscale;
      rs["mscale_all_dim"] = r.mscale_all_dim;
    } else if (r.type == RopeType::kLlama3) {
      rs["rope_type"] = "llama3";
      rs["factor"] = r.factor;
      rs["original_max_position_embeddings"] = r.original_max_position_embeddings;
      rs["low_freq_factor"] = r.low_freq_factor;
      rs["high_freq_factor"] = r.high_freq_factor;
    } else {
      rs["type"] = rope_type_name(r.type);
      rs["factor"] = r.factor;
    }
    j["rope_scaling"] = rs;
  }
  if (a.is_deepseek()) {
    j["attention_bias"] = false;
    if (a.q_lora_rank > 0) {
      j["q_lora_rank"] = a.q_lora_rank;
    } else {
      j["q_lora_rank"] = nullptr;
    }
    j["kv_lora_rank"] = a.kv_lora_rank;
    j["qk_nope_head_dim"] = a.qk_nope_head_dim;
    j["qk_rope_head_dim"] = a.qk_rope_head_dim;
    j["v_head_dim"] = a.v_head_dim;
    j["n_routed_experts"] = a.n_routed_experts;
    j["n_shared_experts"] = a.n_shared_experts;
    j["num_experts_per_tok"] = a.num_experts_per_tok;
    j["moe_intermediate_size"] = a.moe_intermediate_size;
    j["moe_layer_freq"] = a.moe_layer_freq;
    j["first_k_dense_replace"] = a.first_k_dense_replace;
    j["n_group"] = a.n_group;
    j["topk_group"] = a.topk_group;
    j["topk_method"] = topk_method_name(a.topk_method);
    j["scoring_func"] = scoring_func_name(a.scoring_func);
    j["norm_topk_prob"] = a.norm_topk_prob;
    j["routed_scaling_factor"] = a.routed_scaling_factor;
    j["num_nextn_predict_layers"] = a.num_nextn_predict_layers;
  } else {
    j["head_dim"] = a.head_dim;
    if (a.family == Family::kLlama) j["attention_bias"] = a.attention_bias;
  }
  if (a.fp8) {
    j["quantization_config"] = {{"activation_scheme", "dynamic"},
                                {"fmt", "e4m3"},
                                {"quant_method", "fp8"},
                                {"weight_block_size", {a.fp8_block_rows, a.fp8_block_cols}}};
  }
  j["torch_dtype"] = a.torch_dtype;
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace whale::formats
