// Validation of ModelArgs: every size positive and sane, every ratio divisible (enums are known by type),
// so later code can trust the numbers without re-checking (and never allocates 2^40 of anything).
#include <algorithm>

#include "core/error.h"
#include "formats/model_args.h"

namespace whale::formats {
namespace {

class Checker {
 public:
  explicit Checker(const std::string& source) : source_(source) {}

  void range(const char* field, int64_t v, int64_t lo, int64_t hi) const {
    if (v < lo || v > hi) {
      fail(ErrorKind::kInvalidArgument, source_, ": field \"", field, "\" = ", v, " is out of range [", lo, ", ",
           hi, "]");
    }
  }
  void divides(const char* what, int64_t num, int64_t den) const {
    if (den <= 0 || num % den != 0) {
      fail(ErrorKind::kInvalidArgument, source_, ": ", what, " (", num, " is not a multiple of ", den, ")");
    }
  }
  void require(bool ok, const std::string& message) const {
    if (!ok) fail(ErrorKind::kInvalidArgument, source_, ": ", message);
  }

 private:
  const std::string& source_;
};

constexpr int64_t kMaxWidth = int64_t{1} << 20;   // hidden/intermediate sizes
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxExperts = 65536;
constexpr int64_t kMaxPositions = int64_t{1} << 30;

}  // namespace

void validate_model_args(const ModelArgs& a, const std::string& source) {
  Checker c(source);
  c.range("vocab_size", a.vocab_size, 1, kMaxVocab);
  c.range("hidden_size", a.hidden_size, 1, kMaxWidth);
  c.range("num_hidden_layers", a.num_hidden_layers, 1, kMaxLayers);
  c.range("num_attention_heads", a.num_attention_heads, 1, kMaxHeads);
  c.range("max_position_embeddings", a.max_position_embeddings, 1, kMaxPositions);
  c.require(a.rms_norm_eps > 0 && a.rms_norm_eps < 1, "field \"rms_norm_eps\" must be in (0, 1)");
  c.require(a.rope_theta > 0, "field \"rope_theta\" must be positive");
  if (a.bos_token_id >= a.vocab_size) c.range("bos_token_id", a.bos_token_id, -1, a.vocab_size - 1);
  for (int64_t id : a.eos_token_ids) c.range("eos_token_id", id, 0, a.vocab_size - 1);

  const RopeScaling& rs = a.rope_scaling;
  if (rs.type != RopeType::kNone) {
    c.require(rs.factor >= 1.0, "rope_scaling.factor must be >= 1");
    if (rs.type == RopeType::kYarn || rs.type == RopeType::kLlama3) {
      c.range("rope_scaling.original_max_position_embeddings", rs.original_max_position_embeddings, 1, kMaxPositions);
    }
    if (rs.type == RopeType::kYarn) c.require(rs.beta_fast > rs.beta_slow && rs.beta_slow > 0, "rope_scaling needs beta_fast > beta_slow > 0");
    if (rs.type == RopeType::kLlama3) c.require(rs.high_freq_factor > rs.low_freq_factor && rs.low_freq_factor > 0, "rope_scaling needs high_freq_factor > low_freq_factor > 0");
  }
  if (a.fp8) {
    c.range("quantization_config.weight_block_size[0]", a.fp8_block_rows, 1, 1 << 16);
    c.range("quantization_config.weight_block_size[1]", a.fp8_block_cols, 1, 1 << 16);
  }

  if (!a.is_deepseek()) {
    c.range("intermediate_size", a.intermediate_size, 1, kMaxWidth);
    c.range("num_key_value_heads", a.num_key_value_heads, 1, a.num_attention_heads);
    c.divides("num_attention_heads must be a multiple of num_key_value_heads", a.num_attention_heads, a.num_key_value_heads);
    c.range("head_dim", a.head_dim, 2, 4096);
    c.divides("head_dim must be even for rotary embeddings", a.head_dim, 2);
    return;
  }

  // mla
  c.range("q_lora_rank", a.q_lora_rank, 0, kMaxWidth);
  c.range("kv_lora_rank", a.kv_lora_rank, 1, kMaxWidth);
  c.range("qk_nope_head_dim", a.qk_nope_head_dim, 1, 4096);
  c.range("qk_rope_head_dim", a.qk_rope_head_dim, 2, 4096);
  c.divides("qk_rope_head_dim must be even (rope rotates pairs)", a.qk_rope_head_dim, 2);
  c.range("v_head_dim", a.v_head_dim, 1, 4096);
  c.range("num_nextn_predict_layers", a.num_nextn_predict_layers, 0, 16);

  // moe
  c.range("first_k_dense_replace", a.first_k_dense_replace, 0, a.num_hidden_layers);
  if (a.first_k_dense_replace > 0 || a.n_routed_experts == 0) c.range("intermediate_size", a.intermediate_size, 1, kMaxWidth);
  if (a.n_routed_experts == 0) return;
  c.range("n_routed_experts", a.n_routed_experts, 1, kMaxExperts);
  c.range("num_experts_per_tok", a.num_experts_per_tok, 1, a.n_routed_experts);
  c.range("n_shared_experts", a.n_shared_experts, 0, kMaxExperts);
  c.range("moe_intermediate_size", a.moe_intermediate_size, 1, kMaxWidth);
  c.range("moe_layer_freq", a.moe_layer_freq, 1, a.num_hidden_layers);
  c.range("n_group", a.n_group, 1, a.n_routed_experts);
  c.divides("n_routed_experts must be a multiple of n_group", a.n_routed_experts, a.n_group);
  c.range("topk_group", a.topk_group, 1, a.n_group);
  c.require(a.routed_scaling_factor > 0, "field \"routed_scaling_factor\" must be positive");
  const int64_t per_group = a.n_routed_experts / a.n_group;
  if (a.topk_method != TopkMethod::kGreedy) {
    c.require(a.num_experts_per_tok <= a.topk_group * per_group,
              "num_experts_per_tok exceeds the experts in topk_group groups");
  }
  // noaux_tc scores a group by the sum of its two best experts.
  if (a.topk_method == TopkMethod::kNoauxTc) {
    c.require(per_group >= 2 || a.n_group == 1, "noaux_tc needs at least 2 experts per group");
  }
}

}  // namespace whale::formats
