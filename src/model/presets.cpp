// Preset configs. The full-size ones copy the released config.json values (REFERENCE.md §5); the
// tiny ones keep every feature of their family (MLA with/without q_lora, each routing method,
// shared experts, MTP, qkv bias, llama3 rope) at widths that run in milliseconds.
#include "model/presets.h"

#include "core/error.h"

namespace whale::model {
namespace {

using formats::Family;
using formats::ModelArgs;
using formats::RopeType;
using formats::ScoringFunc;
using formats::TopkMethod;

ModelArgs deepseek_v3() {
  ModelArgs a;
  a.model_type = "deepseek_v3";
  a.family = Family::kDeepseekV3;
  a.vocab_size = 129280;
  a.hidden_size = 7168;
  a.intermediate_size = 18432;
  a.num_hidden_layers = 61;
  a.num_attention_heads = 128;
  a.num_key_value_heads = 128;
  a.max_position_embeddings = 163840;
  a.rms_norm_eps = 1e-6;
  a.bos_token_id = 0;
  a.eos_token_ids = {1};
  a.q_lora_rank = 1536;
  a.kv_lora_rank = 512;
  a.qk_nope_head_dim = 128;
  a.qk_rope_head_dim = 64;
  a.v_head_dim = 128;
  a.n_routed_experts = 256;
  a.n_shared_experts = 1;
  a.num_experts_per_tok = 8;
  a.moe_intermediate_size = 2048;
  a.first_k_dense_replace = 3;
  a.n_group = 8;
  a.topk_group = 4;
  a.topk_method = TopkMethod::kNoauxTc;
  a.scoring_func = ScoringFunc::kSigmoid;
  a.norm_topk_prob = true;
  a.routed_scaling_factor = 2.5;
  a.num_nextn_predict_layers = 1;
  a.rope_theta = 10000;
  a.rope_scaling = {.type = RopeType::kYarn,
                    .factor = 40.0,
                    .original_max_position_embeddings = 4096,
                    .beta_fast = 32.0,
                    .beta_slow = 1.0,
                    .mscale = 1.0,
                    .mscale_all_dim = 1.0};
  a.fp8 = true;
  return a;
}

ModelArgs deepseek_v2() {
  ModelArgs a;
  a.model_type = "deepseek_v2";
  a.family = Family::kDeepseekV2;
  a.vocab_size = 102400;
  a.hidden_size = 5120;
  a.intermediate_size = 12288;
  a.num_hidden_layers = 60;
  a.num_attention_heads = 128;
  a.num_key_value_heads = 128;
  a.max_position_embeddings = 163840;
  a.bos_token_id = 100000;
  a.eos_token_ids = {100001};
  a.q_lora_rank = 1536;
  a.kv_lora_rank = 512;
  a.qk_nope_head_dim = 128;
  a.qk_rope_head_dim = 64;
  a.v_head_dim = 128;
  a.n_routed_experts = 160;
  a.n_shared_experts = 2;
  a.num_experts_per_tok = 6;
  a.moe_intermediate_size = 1536;
  a.first_k_dense_replace = 1;
  a.n_group = 8;
  a.topk_group = 3;
  a.topk_method = TopkMethod::kGroupLimitedGreedy;
  a.scoring_func = ScoringFunc::kSoftmax;
  a.norm_topk_prob = false;
  a.routed_scaling_factor = 16.0;
  a.rope_scaling = {.type = RopeType::kYarn,
                    .factor = 40.0,
                    .original_max_position_embeddings = 4096,
                    .beta_fast = 32.0,
                    .beta_slow = 1.0,
                    .mscale = 0.707,
                    .mscale_all_dim = 0.707};
  return a;
}

ModelArgs deepseek_v2_lite() {
  ModelArgs a = deepseek_v2();
  a.hidden_size = 2048;
  a.intermediate_size = 10944;
  a.num_hidden_layers = 27;
  a.num_attention_heads = 16;
  a.num_key_value_heads = 16;
  a.q_lora_rank = 0;
  a.n_routed_experts = 64;
  a.n_shared_experts = 2;
  a.num_experts_per_tok = 6;
  a.moe_intermediate_size = 1408;
  a.n_group = 1;
  a.topk_group = 1;
  a.topk_method = TopkMethod::kGreedy;
  a.routed_scaling_factor = 1.0;
  return a;
}

ModelArgs r1_distill_qwen_1_5b() {
  ModelArgs a;
  a.model_type = "qwen2";
  a.family = Family::kQwen2;
  a.vocab_size = 151936;
  a.hidden_size = 1536;
  a.intermediate_size = 8960;
  a.num_hidden_layers = 28;
  a.num_attention_heads = 12;
  a.num_key_value_heads = 2;
  a.head_dim = 128;
  a.attention_bias = true;
  a.max_position_embeddings = 131072;
  a.bos_token_id = 151643;
  a.eos_token_ids = {151643};
  a.rope_theta = 10000;
  return a;
}

ModelArgs r1_distill_llama_8b() {
  ModelArgs a;
  a.model_type = "llama";
  a.family = Family::kLlama;
  a.vocab_size = 128256;
  a.hidden_size = 4096;
  a.intermediate_size = 14336;
  a.num_hidden_layers = 32;
  a.num_attention_heads = 32;
  a.num_key_value_heads = 8;
  a.head_dim = 128;
  a.max_position_embeddings = 131072;
  a.rms_norm_eps = 1e-5;
  a.bos_token_id = 128000;
  a.eos_token_ids = {128001};
  a.rope_theta = 500000;
  a.rope_scaling = {.type = RopeType::kLlama3,
                    .factor = 8.0,
                    .original_max_position_embeddings = 8192,
                    .low_freq_factor = 1.0,
                    .high_freq_factor = 4.0};
  return a;
}

// Tiny versions: vocabulary 512 (room for a small trained tokenizer), 2-3 layers.
void shrink_common(ModelArgs& a) {
  a.vocab_size = 512;
  a.max_position_embeddings = 2048;
  a.bos_token_id = 256;
  a.eos_token_ids = {257};
  a.fp8 = false;
  a.torch_dtype = "float32";
}

ModelArgs tiny_deepseek(ModelArgs a) {
  shrink_common(a);
  a.hidden_size = 64;
  a.intermediate_size = 128;
  a.num_hidden_layers = 3;
  a.num_attention_heads = 4;
  a.num_key_value_heads = 4;
  if (a.q_lora_rank > 0) a.q_lora_rank = 48;
  a.kv_lora_rank = 32;
  a.qk_nope_head_dim = 16;
  a.qk_rope_head_dim = 8;
  a.v_head_dim = 16;
  a.moe_intermediate_size = 32;
  a.first_k_dense_replace = 1;
  if (a.rope_scaling.type == RopeType::kYarn) a.rope_scaling.original_max_position_embeddings = 256;
  a.rope_scaling.factor = 4.0;
  return a;
}

ModelArgs tiny_deepseek_v3() {
  ModelArgs a = tiny_deepseek(deepseek_v3());
  a.n_routed_experts = 16;
  a.num_experts_per_tok = 4;
  a.n_group = 4;
  a.topk_group = 2;
  return a;
}

ModelArgs tiny_deepseek_v2() {
  ModelArgs a = tiny_deepseek(deepseek_v2());
  a.n_routed_experts = 16;
  a.num_experts_per_tok = 3;
  a.n_group = 4;
  a.topk_group = 2;
  a.routed_scaling_factor = 2.0;
  return a;
}

ModelArgs tiny_deepseek_v2_lite() {
  ModelArgs a = tiny_deepseek(deepseek_v2_lite());
  a.n_routed_experts = 8;
  a.num_experts_per_tok = 2;
  return a;
}

ModelArgs tiny_dense(ModelArgs a) {
  shrink_common(a);
  a.hidden_size = 64;
  a.intermediate_size = 160;
  a.num_hidden_layers = 2;
  a.num_attention_heads = 4;
  a.num_key_value_heads = 2;
  a.head_dim = 16;
  if (a.rope_scaling.type == RopeType::kLlama3) a.rope_scaling.original_max_position_embeddings = 256;
  return a;
}

// tiny_dense with every matrix row a multiple of 256 elements, so the K-quants (q2_k..q6_k) apply
// to every matrix rather than falling back to q8_0.
ModelArgs wide_dense(ModelArgs a) {
  a = tiny_dense(a);
  a.hidden_size = 256;
  a.intermediate_size = 512;
  a.head_dim = 64;  // o_proj rows: 4 heads * 64 = 256
  return a;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = {
      {"deepseek-v3", "DeepSeek-V3/R1 671B (FP8, MLA, 256 experts, MTP)", deepseek_v3()},
      {"deepseek-v2", "DeepSeek-V2 236B (MLA, 160 experts, group-limited softmax routing)", deepseek_v2()},
      {"deepseek-v2-lite", "DeepSeek-V2-Lite 16B (MLA without q_lora, 64 experts)", deepseek_v2_lite()},
      {"r1-distill-qwen-1.5b", "DeepSeek-R1-Distill-Qwen-1.5B (qwen2)", r1_distill_qwen_1_5b()},
      {"r1-distill-llama-8b", "DeepSeek-R1-Distill-Llama-8B (llama, llama3 rope)", r1_distill_llama_8b()},
      {"tiny-deepseek-v3", "tiny deepseek_v3: q_lora, sigmoid noaux_tc in groups, shared expert, MTP", tiny_deepseek_v3()},
      {"tiny-deepseek-v2", "tiny deepseek_v2: q_lora, softmax group-limited greedy", tiny_deepseek_v2()},
      {"tiny-deepseek-v2-lite", "tiny deepseek_v2: no q_lora, softmax greedy, 2 shared experts", tiny_deepseek_v2_lite()},
      {"tiny-qwen2", "tiny qwen2: GQA, qkv bias", tiny_dense(r1_distill_qwen_1_5b())},
      {"tiny-llama", "tiny llama: GQA, llama3 rope scaling", tiny_dense(r1_distill_llama_8b())},
      {"wide-qwen2", "tiny-qwen2 with 256-wide rows (K-quants apply)", wide_dense(r1_distill_qwen_1_5b())},
      {"wide-llama", "tiny-llama with 256-wide rows (K-quants apply)", wide_dense(r1_distill_llama_8b())},
  };
  return kPresets;
}

const Preset& find_preset(const std::string& name) {
  std::string known;
  for (const Preset& p : presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  fail(ErrorKind::kNotFound, "unknown preset \"", name, "\" (known: ", known, ")");
}

}  // namespace whale::model
