// ModelArgs <-> GGUF metadata. Writing follows llama.cpp's convert_hf_to_gguf.py key for key; reading
// accepts its files too, filling what llama.cpp leaves implicit with the defaults its loader uses.
#include "formats/gguf_model_args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"

namespace whale::formats {
namespace {

using V = GgufValue;

// The shortest decimal that maps to the same f32: 1e-6 comes back as 1e-6, not 9.99999997e-07.
double shortest_decimal(float f) {
  char buf[40];
  for (int p = 1; p <= 9; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, static_cast<double>(f));
    if (std::strtof(buf, nullptr) == f) return std::strtod(buf, nullptr);
  }
  return f;
}

double round_significant(double x, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return std::strtod(buf, nullptr);
}

class Emitter {
 public:
  explicit Emitter(std::string arch) : arch_(std::move(arch)) {}
  void put(std::string key, GgufValue v) { out.emplace_back(std::move(key), std::move(v)); }
  void arch(const std::string& key, GgufValue v) { put(arch_ + "." + key, std::move(v)); }
  void u32(const std::string& key, int64_t v) { arch(key, V::u32(static_cast<uint32_t>(v))); }
  void f32(const std::string& key, double v) { arch(key, V::f32(static_cast<float>(v))); }

  GgufMetadata out;

 private:
  std::string arch_;
};

void deepseek_keys(const ModelArgs& a, Emitter& e) {
  e.u32("leading_dense_block_count", a.first_k_dense_replace);
  if (a.q_lora_rank > 0) e.u32("attention.q_lora_rank", a.q_lora_rank);
  e.u32("attention.kv_lora_rank", a.kv_lora_rank);
  // MLA as llama.cpp runs it: MQA over the latent, so one KV head of 576 (key) / 512 (value).
  e.u32("attention.key_length", a.kv_lora_rank + a.qk_rope_head_dim);
  e.u32("attention.value_length", a.kv_lora_rank);
  e.u32("attention.key_length_mla", a.qk_head_dim());
  e.u32("attention.value_length_mla", a.v_head_dim);
  e.u32("expert_feed_forward_length", a.moe_intermediate_size);
  e.u32("expert_count", a.n_routed_experts);
  e.u32("expert_shared_count", a.n_shared_experts);
  e.u32("expert_used_count", a.num_experts_per_tok);
  e.u32("expert_group_count", a.n_group);
  e.u32("expert_group_used_count", a.topk_group);
  e.f32("expert_weights_scale", a.routed_scaling_factor);
  if (a.norm_topk_prob) e.arch("expert_weights_norm", V::boolean(true));
  e.u32("expert_gating_func", a.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
  e.u32("rope.dimension_count", a.qk_rope_head_dim);
}

void rope_scaling_keys(const ModelArgs& a, Emitter& e) {
  const RopeScaling& r = a.rope_scaling;
  if (r.type == RopeType::kYarn) {
    e.arch("rope.scaling.type", V::string("yarn"));
    e.f32("rope.scaling.factor", r.factor);
    e.u32("rope.scaling.original_context_length", r.original_max_position_embeddings);
    e.f32("rope.scaling.yarn_beta_fast", r.beta_fast);
    e.f32("rope.scaling.yarn_beta_slow", r.beta_slow);
    // llama.cpp's loader divides by 0.1 again (deepseek2 only).
    if (a.is_deepseek()) e.f32("rope.scaling.yarn_log_multiplier", 0.1 * r.mscale_all_dim);
  } else if (r.type == RopeType::kLinear) {
    e.arch("rope.scaling.type", V::string("linear"));
    e.f32("rope.scaling.factor", r.factor);
  }
  // llama3 scaling travels as the rope_freqs.weight tensor, which the converter writes.
}

void whale_keys(const ModelArgs& a, Emitter& e) {
  e.put("whale.model_type", V::string(a.model_type));
  e.put("whale.torch_dtype", V::string(a.torch_dtype));
  e.put("whale.fp8", V::boolean(a.fp8));
  if (a.fp8) {
    e.put("whale.fp8_block_rows", V::u32(static_cast<uint32_t>(a.fp8_block_rows)));
    e.put("whale.fp8_block_cols", V::u32(static_cast<uint32_t>(a.fp8_block_cols)));
  }
  e.put("whale.rms_norm_eps", V::f64(a.rms_norm_eps));
  e.put("whale.rope_theta", V::f64(a.rope_theta));
  e.put("whale.bos_token_id", V::i64(a.bos_token_id));
  std::vector<GgufValue> eos;
  for (int64_t id : a.eos_token_ids) eos.push_back(V::i64(id));
  e.put("whale.eos_token_ids", V::array(GgufValueType::kI64, std::move(eos)));
  e.put("whale.tie_word_embeddings", V::boolean(a.tie_word_embeddings));
  if (a.is_deepseek()) {
    e.put("whale.num_key_value_heads", V::u32(static_cast<uint32_t>(a.num_key_value_heads)));
    e.put("whale.topk_method", V::string(topk_method_name(a.topk_method)));
    e.put("whale.scoring_func", V::string(scoring_func_name(a.scoring_func)));
    e.put("whale.moe_layer_freq", V::u32(static_cast<uint32_t>(a.moe_layer_freq)));
    e.put("whale.routed_scaling_factor", V::f64(a.routed_scaling_factor));
  } else {
    e.put("whale.attention_bias", V::boolean(a.attention_bias));
  }
  const RopeScaling& r = a.rope_scaling;
  if (r.type != RopeType::kNone) {
    e.put("whale.rope_scaling.type", V::string(rope_type_name(r.type)));
    e.put("whale.rope_scaling.factor", V::f64(r.factor));
    e.put("whale.rope_scaling.original_max_position_embeddings",
          V::u64(static_cast<uint64_t>(r.original_max_position_embeddings)));
    e.put("whale.rope_scaling.beta_fast", V::f64(r.beta_fast));
    e.put("whale.rope_scaling.beta_slow", V::f64(r.beta_slow));
    e.put("whale.rope_scaling.mscale", V::f64(r.mscale));
    e.put("whale.rope_scaling.mscale_all_dim", V::f64(r.mscale_all_dim));
    e.put("whale.rope_scaling.low_freq_factor", V::f64(r.low_freq_factor));
    e.put("whale.rope_scaling.high_freq_factor", V::f64(r.high_freq_factor));
  }
}

// Typed reads of one file's keys; every error names the key and the file.
class Keys {
 public:
  Keys(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}

  std::string a(const std::string& key) const { return arch_ + "." + key; }
  bool has(const std::string& key) const { return f_.find(key) != nullptr; }

  const GgufValue& need(const std::string& key) const {
    const GgufValue* v = f_.find(key);
    if (!v) fail(ErrorKind::kFormat, f_.path(), ": missing required key ", key);
    return *v;
  }
  int64_t integer(const std::string& key) const { return convert(key, [&] { return need(key).as_i64(); }); }
  int64_t integer(const std::string& key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  double real(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const GgufValue& v = need(key);
    return convert(key, [&] { return v.type() == GgufValueType::kF32 ? shortest_decimal(v.f32_value()) : v.as_f64(); });
  }
  bool flag(const std::string& key, bool fallback) const {
    return has(key) ? convert(key, [&] { return need(key).as_bool(); }) : fallback;
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    return has(key) ? convert(key, [&] { return need(key).as_string(); }) : fallback;
  }
  // A string key holding one of an enum's config.json spellings (`known` lists them).
  template <class E>
  E spelling(const std::string& key, std::optional<E> (*from_name)(std::string_view), const char* known) const {
    const std::string name = text(key, "");
    const std::optional<E> v = from_name(name);
    if (!v) fail(ErrorKind::kInvalidArgument, f_.path(), ": key ", key, " = \"", name, "\" (known: ", known, ")");
    return *v;
  }
  const std::string& path() const { return f_.path(); }
  const GgufFile& file() const { return f_; }

 private:
  template <class F>
  auto convert(const std::string& key, F&& fn) const -> decltype(fn()) {
    try {
      return fn();
    } catch (const Error& e) {
      fail(ErrorKind::kFormat, f_.path(), ": key ", key, ": ", e.what());
    }
  }

  const GgufFile& f_;
  std::string arch_;
};

// noaux_tc is the only method that uses a correction bias, so its tensor decides; without one,
// groups mean group-limited selection (V2), otherwise plain top-k (V2-Lite).
TopkMethod infer_topk_method(const ModelArgs& a, const GgufFile& f) {
  for (int64_t i = 0; i < a.total_layers(); ++i) {
    if (f.find_tensor("blk." + std::to_string(i) + ".exp_probs_b.bias")) return TopkMethod::kNoauxTc;
  }
  return a.n_group > 1 ? TopkMethod::kGroupLimitedGreedy : TopkMethod::kGreedy;
}

void read_deepseek(const Keys& k, ModelArgs& a) {
  a.num_nextn_predict_layers = k.integer(k.a("nextn_predict_layers"), 0);
  a.num_hidden_layers -= a.num_nextn_predict_layers;
  a.num_key_value_heads = k.integer("whale.num_key_value_heads", a.num_attention_heads);
  a.intermediate_size = k.integer(k.a("feed_forward_length"), 0);
  a.q_lora_rank = k.integer(k.a("attention.q_lora_rank"), 0);
  a.kv_lora_rank = k.integer(k.a("attention.kv_lora_rank"));
  a.qk_rope_head_dim = k.integer(k.a("rope.dimension_count"));
  int64_t qk_head = 0;
  if (k.has(k.a("attention.key_length_mla"))) {
    qk_head = k.integer(k.a("attention.key_length_mla"));
    a.v_head_dim = k.integer(k.a("attention.value_length_mla"));
    const int64_t key_length = k.integer(k.a("attention.key_length"), a.kv_lora_rank + a.qk_rope_head_dim);
    if (key_length != a.kv_lora_rank + a.qk_rope_head_dim) {
      fail(ErrorKind::kFormat, k.path(), ": key ", k.a("attention.key_length"), " = ", key_length,
           ", expected kv_lora_rank + rope.dimension_count = ", a.kv_lora_rank + a.qk_rope_head_dim);
    }
  } else {  // older files: per-head K/V lengths, one attn_kv_b tensor
    qk_head = k.integer(k.a("attention.key_length"));
    a.v_head_dim = k.integer(k.a("attention.value_length"));
  }
  a.qk_nope_head_dim = qk_head - a.qk_rope_head_dim;
  if (a.qk_nope_head_dim < 1) {
    fail(ErrorKind::kFormat, k.path(), ": key length ", qk_head, " leaves no room beside ", k.a("rope.dimension_count"),
         " = ", a.qk_rope_head_dim);
  }
  a.n_routed_experts = k.integer(k.a("expert_count"), 0);
  if (a.n_routed_experts > 0) {
    a.num_experts_per_tok = k.integer(k.a("expert_used_count"));
    a.moe_intermediate_size = k.integer(k.a("expert_feed_forward_length"));
    a.n_shared_experts = k.integer(k.a("expert_shared_count"));
  }
  a.n_group = k.integer(k.a("expert_group_count"), 1);
  a.topk_group = k.integer(k.a("expert_group_used_count"), 1);
  a.first_k_dense_replace = k.integer(k.a("leading_dense_block_count"), 0);
  const int64_t gating = k.integer(k.a("expert_gating_func"), 0);
  if (gating < 0 || gating > 2) {
    fail(ErrorKind::kUnsupported, k.path(), ": key ", k.a("expert_gating_func"), " = ", gating,
         " (known: 1 softmax, 2 sigmoid)");
  }
  a.scoring_func = k.has("whale.scoring_func")
                       ? k.spelling("whale.scoring_func", scoring_func_from_name, "softmax, sigmoid")
                       : (gating == 2 ? ScoringFunc::kSigmoid : ScoringFunc::kSoftmax);  // 0: llama.cpp's softmax
  a.norm_topk_prob = k.flag(k.a("expert_weights_norm"), false);
  a.routed_scaling_factor = k.real("whale.routed_scaling_factor", k.real(k.a("expert_weights_scale"), 1.0));
  a.moe_layer_freq = k.integer("whale.moe_layer_freq", 1);
  a.topk_method = k.has("whale.topk_method")
                      ? k.spelling("whale.topk_method", topk_method_from_name, "greedy, group_limited_greedy, noaux_tc")
                      : infer_topk_method(a, k.file());
  a.model_type = a.scoring_func == ScoringFunc::kSigmoid ? "deepseek_v3" : "deepseek_v2";
  if (a.rope_scaling.type == RopeType::kYarn && k.has(k.a("rope.scaling.yarn_log_multiplier"))) {
    // DeepSeek's configs set mscale == mscale_all_dim; llama.cpp keeps only the latter.
    const double m = round_significant(k.real(k.a("rope.scaling.yarn_log_multiplier"), 0.0) / 0.1, 12);
    a.rope_scaling.mscale = m;
    a.rope_scaling.mscale_all_dim = m;
  }
}

// Frequency i of a head_dim rotation as torch computes it in the converter: f32 throughout.
float rope_freq(const ModelArgs& a, int64_t i) {
  return 1.0f / std::pow(static_cast<float>(a.rope_theta), static_cast<float>(2 * i) / static_cast<float>(a.head_dim));
}

// llama.cpp's converter bakes llama3 scaling into rope_freqs.weight with low/high_freq_factor 1/4
// (Llama 3's values); the original context follows from any frequency in the smoothed band.
void infer_llama3(const Keys& k, const GgufTensorInfo& t, ModelArgs& a) {
  const core::Tensor view = k.file().view(t.name);
  if (view.dtype() != core::DType::kF32 || view.numel() != a.head_dim / 2) {
    fail(ErrorKind::kFormat, k.path(), ": tensor ", t.name, " must be f32 [", a.head_dim / 2, "]");
  }
  const float* r = view.data<const float>();
  RopeScaling& s = a.rope_scaling;
  s.type = RopeType::kLlama3;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  float factor = 1;
  for (int64_t i = 0; i < view.numel(); ++i) factor = std::max(factor, r[i]);
  s.factor = shortest_decimal(factor);
  for (int64_t i = 0; i < view.numel(); ++i) {
    if (r[i] > 1.0f && r[i] < factor) {
      const double wavelen = 2 * 3.141592653589793 / rope_freq(a, i);
      const double smooth = (1.0 / r[i] - 1.0 / s.factor) / (1.0 - 1.0 / s.factor);
      s.original_max_position_embeddings = std::llround(wavelen * (smooth * 3.0 + 1.0));
      break;
    }
  }
  if (s.original_max_position_embeddings > 0) {
    const std::vector<float> expect = llama3_rope_freqs(a);
    bool same = true;
    for (int64_t i = 0; i < view.numel(); ++i) same = same && std::fabs(expect[i] - r[i]) <= 1e-4f * r[i];
    if (same) return;
  }
  fail(ErrorKind::kUnsupported, k.path(), ": tensor ", t.name,
       " is not llama3 rope scaling with low_freq_factor 1 and high_freq_factor 4 (add whale.rope_scaling.* keys)");
}

void read_dense(const Keys& k, ModelArgs& a, Family family) {
  a.num_key_value_heads = k.integer(k.a("attention.head_count_kv"), a.num_attention_heads);
  a.intermediate_size = k.integer(k.a("feed_forward_length"));
  a.head_dim = k.integer(k.a("attention.key_length"), a.num_attention_heads > 0 ? a.hidden_size / a.num_attention_heads : 0);
  a.attention_bias = family == Family::kQwen2 ||
                     k.flag("whale.attention_bias", k.file().find_tensor("blk.0.attn_q.bias") != nullptr);
  a.model_type = family == Family::kQwen2 ? "qwen2" : "llama";
  const GgufTensorInfo* freqs = k.file().find_tensor("rope_freqs.weight");
  if (freqs && !k.has("whale.rope_scaling.type") && a.rope_scaling.type == RopeType::kNone) infer_llama3(k, *freqs, a);
}

int64_t read_vocab_size(const Keys& k) {
  if (k.has(k.a("vocab_size"))) return k.integer(k.a("vocab_size"));
  if (const GgufValue* t = k.file().find("tokenizer.ggml.tokens"); t && t->type() == GgufValueType::kArray) {
    return static_cast<int64_t>(t->as_array().size());
  }
  if (const GgufTensorInfo* e = k.file().find_tensor("token_embd.weight"); e && e->shape.ndim() == 2) return e->shape[0];
  fail(ErrorKind::kFormat, k.path(), ": missing required key ", k.a("vocab_size"),
       " (and no tokenizer.ggml.tokens or token_embd.weight to count)");
}

void read_whale_rope(const Keys& k, RopeScaling& r) {
  if (!k.has("whale.rope_scaling.type")) return;
  r.type = k.spelling("whale.rope_scaling.type", rope_type_from_name, "yarn, llama3, linear");
  r.factor = k.real("whale.rope_scaling.factor", r.factor);
  r.original_max_position_embeddings =
      k.integer("whale.rope_scaling.original_max_position_embeddings", r.original_max_position_embeddings);
  r.beta_fast = k.real("whale.rope_scaling.beta_fast", r.beta_fast);
  r.beta_slow = k.real("whale.rope_scaling.beta_slow", r.beta_slow);
  r.mscale = k.real("whale.rope_scaling.mscale", r.mscale);
  r.mscale_all_dim = k.real("whale.rope_scaling.mscale_all_dim", r.mscale_all_dim);
  r.low_freq_factor = k.real("whale.rope_scaling.low_freq_factor", r.low_freq_factor);
  r.high_freq_factor = k.real("whale.rope_scaling.high_freq_factor", r.high_freq_factor);
}

}  // namespace

const char* gguf_architecture(Family family) {
  switch (family) {
    case Family::kDeepseekV2: case Family::kDeepseekV3: return "deepseek2";
    case Family::kQwen2: return "qwen2";
    case Family::kLlama: return "llama";
  }
  return "?";
}

const char* gguf_tokenizer_pre(Family family) {
  switch (family) {
    case Family::kDeepseekV3: return "deepseek-v3";
    case Family::kDeepseekV2: return "deepseek-llm";
    case Family::kQwen2: return "deepseek-r1-qwen";
    case Family::kLlama: return "llama-bpe";
  }
  return "default";
}

GgufMetadata model_args_to_gguf(const ModelArgs& a, const GgufArgsOptions& o) {
  const std::string arch = gguf_architecture(a.family);
  Emitter e(arch);
  e.put("general.architecture", V::string(arch));
  e.put("general.name", V::string(o.name.empty() ? a.model_type : o.name));
  const bool mtp = o.keep_mtp && a.is_deepseek() && a.num_nextn_predict_layers > 0;
  e.u32("block_count", a.num_hidden_layers + (mtp ? a.num_nextn_predict_layers : 0));
  e.u32("context_length", a.max_position_embeddings);
  e.u32("embedding_length", a.hidden_size);
  e.u32("feed_forward_length", a.intermediate_size);
  e.u32("attention.head_count", a.num_attention_heads);
  e.u32("attention.head_count_kv", a.is_deepseek() ? 1 : a.num_key_value_heads);
  e.f32("rope.freq_base", a.rope_theta);
  e.f32("attention.layer_norm_rms_epsilon", a.rms_norm_eps);
  e.put("general.file_type", V::u32(static_cast<uint32_t>(o.file_type)));
  e.u32("vocab_size", a.vocab_size);
  if (a.is_deepseek()) {
    deepseek_keys(a, e);
  } else {
    e.u32("rope.dimension_count", a.head_dim);
    e.u32("attention.key_length", a.head_dim);
    e.u32("attention.value_length", a.head_dim);
  }
  if (mtp) e.u32("nextn_predict_layers", a.num_nextn_predict_layers);
  rope_scaling_keys(a, e);
  if (o.quantized) e.put("general.quantization_version", V::u32(2));
  if (a.bos_token_id >= 0) e.put("tokenizer.ggml.bos_token_id", V::u32(static_cast<uint32_t>(a.bos_token_id)));
  if (!a.eos_token_ids.empty()) {
    e.put("tokenizer.ggml.eos_token_id", V::u32(static_cast<uint32_t>(a.eos_token_ids[0])));
  }
  whale_keys(a, e);
  return std::move(e.out);
}

ModelArgs model_args_from_gguf(const GgufFile& file) {
  const std::string arch = Keys(file, "").text("general.architecture", "");
  Family family;
  if (arch == "deepseek2") {
    family = Family::kDeepseekV3;  // refined below from the gating function
  } else if (arch == "qwen2") {
    family = Family::kQwen2;
  } else if (arch == "llama") {
    family = Family::kLlama;
  } else if (arch.empty()) {
    fail(ErrorKind::kFormat, file.path(), ": missing required key general.architecture");
  } else {
    fail(ErrorKind::kUnsupported, file.path(), ": general.architecture \"", arch,
         "\" (whale reads deepseek2, qwen2 and llama)");
  }
  const Keys k(file, arch);
  ModelArgs a;
  a.torch_dtype = k.text("whale.torch_dtype", "bfloat16");
  a.fp8 = k.flag("whale.fp8", false);
  if (a.fp8) {
    a.fp8_block_rows = k.integer("whale.fp8_block_rows", 128);
    a.fp8_block_cols = k.integer("whale.fp8_block_cols", 128);
  }
  a.num_hidden_layers = k.integer(k.a("block_count"));
  a.max_position_embeddings = k.integer(k.a("context_length"));
  a.hidden_size = k.integer(k.a("embedding_length"));
  a.num_attention_heads = k.integer(k.a("attention.head_count"));
  a.rms_norm_eps = k.real("whale.rms_norm_eps", k.real(k.a("attention.layer_norm_rms_epsilon"), 0.0));
  if (!k.has("whale.rms_norm_eps")) k.need(k.a("attention.layer_norm_rms_epsilon"));
  a.rope_theta = k.real("whale.rope_theta", k.real(k.a("rope.freq_base"), 10000.0));
  a.vocab_size = read_vocab_size(k);
  a.bos_token_id = k.integer("whale.bos_token_id", k.integer("tokenizer.ggml.bos_token_id", -1));
  if (k.has("whale.eos_token_ids")) {
    const GgufValue& v = k.need("whale.eos_token_ids");
    if (v.type() != GgufValueType::kArray) fail(ErrorKind::kFormat, file.path(), ": key whale.eos_token_ids must be an array");
    for (const GgufValue& id : v.as_array()) a.eos_token_ids.push_back(id.as_i64());
  } else if (k.has("tokenizer.ggml.eos_token_id")) {
    a.eos_token_ids = {k.integer("tokenizer.ggml.eos_token_id")};
  }
  a.tie_word_embeddings = k.flag("whale.tie_word_embeddings", file.find_tensor("output.weight") == nullptr);

  RopeScaling& r = a.rope_scaling;
  std::string rope_type = k.text(k.a("rope.scaling.type"), "");
  if (rope_type == "none") rope_type.clear();
  if (!rope_type.empty() && rope_type != "yarn" && rope_type != "linear") {
    fail(ErrorKind::kUnsupported, file.path(), ": key ", k.a("rope.scaling.type"), " = \"", rope_type,
         "\" (whale runs yarn and linear)");
  }
  r.type = *rope_type_from_name(rope_type);
  r.factor = k.real(k.a("rope.scaling.factor"), 1.0);
  if (r.type == RopeType::kYarn) {
    r.original_max_position_embeddings = k.integer(k.a("rope.scaling.original_context_length"), a.max_position_embeddings);
    r.beta_fast = k.real(k.a("rope.scaling.yarn_beta_fast"), 32.0);
    r.beta_slow = k.real(k.a("rope.scaling.yarn_beta_slow"), 1.0);
  }

  if (family == Family::kDeepseekV3) {
    read_deepseek(k, a);
  } else {
    read_dense(k, a, family);
  }
  a.model_type = k.text("whale.model_type", a.model_type);
  if (a.model_type != "deepseek_v3" && a.model_type != "deepseek_v2" && a.model_type != "qwen2" && a.model_type != "llama") {
    fail(ErrorKind::kUnsupported, file.path(), ": key whale.model_type = \"", a.model_type, "\"");
  }
  a.family = a.model_type == "deepseek_v3" ? Family::kDeepseekV3
             : a.model_type == "deepseek_v2" ? Family::kDeepseekV2
             : a.model_type == "qwen2"       ? Family::kQwen2
                                             : Family::kLlama;
  if (gguf_architecture(a.family) != arch) {
    fail(ErrorKind::kFormat, file.path(), ": whale.model_type \"", a.model_type, "\" does not match general.architecture \"",
         arch, "\"");
  }
  read_whale_rope(k, r);
  validate_model_args(a, file.path());
  return a;
}

std::vector<float> llama3_rope_freqs(const ModelArgs& a) {
  const RopeScaling& s = a.rope_scaling;
  const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < a.head_dim / 2; ++i) {
    const double wavelen = 2 * 3.141592653589793 / rope_freq(a, i);
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = s.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / s.factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

// tokenizer.ggml.*: gguf-py's get_vocab_base + SpecialVocab, for byte-level BPE tokenizer.json.
namespace {

enum TokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

using nlohmann::json;

// tokenizer_config.json writes special tokens as "text" or {"content": "text", ...}.
std::string token_string(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return "";
  const json& v = cfg.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  return "";
}

}  // namespace

GgufMetadata tokenizer_to_gguf(const std::string& tokenizer_json, const std::string& tokenizer_config_json,
                               int64_t vocab_size, const std::string& pre, const std::string& source) {
  json tok, cfg = json::object();
  try {
    tok = json::parse(tokenizer_json);
    if (!tokenizer_config_json.empty()) cfg = json::parse(tokenizer_config_json);
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, source, ": not valid JSON: ", e.what());
  }
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object() || !cfg.is_object()) {
    fail(ErrorKind::kFormat, source, ": tokenizer.json has no \"model\" object");
  }
  const json& model = tok["model"];
  if (model.value("type", "") != "BPE") {
    fail(ErrorKind::kUnsupported, source, ": tokenizer model type \"", model.value("type", ""),
         "\" (GGUF conversion handles byte-level BPE)");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail(ErrorKind::kFormat, source, ": model.vocab missing");
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(static_cast<size_t>(vocab_size), 0);
  std::unordered_map<std::string, int64_t> ids;
  const auto place = [&](const std::string& text, const json& id, TokenType type) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size) {
      fail(ErrorKind::kFormat, source, ": token \"", text, "\" has id ", id.dump(), " outside the vocabulary of ",
           vocab_size);
    }
    const auto i = static_cast<size_t>(id.get<int64_t>());
    tokens[i] = text;
    types[i] = type;
    ids[text] = id.get<int64_t>();
  };
  for (const auto& [text, id] : model["vocab"].items()) place(text, id, kNormal);
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json& t : tok["added_tokens"]) {
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id")) {
        fail(ErrorKind::kFormat, source, ": malformed added_tokens entry ", t.dump().substr(0, 60));
      }
      place(t["content"].get<std::string>(), t["id"], t.value("special", false) ? kControl : kUserDefined);
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == 0) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = kUnused;
    }
  }
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        fail(ErrorKind::kFormat, source, ": malformed merge ", m.dump().substr(0, 60));
      }
    }
  }
  GgufMetadata out;
  out.emplace_back("tokenizer.ggml.model", V::string("gpt2"));
  out.emplace_back("tokenizer.ggml.pre", V::string(pre));
  out.emplace_back("tokenizer.ggml.tokens", V::string_array(tokens));
  out.emplace_back("tokenizer.ggml.token_type", V::i32_array(types));
  out.emplace_back("tokenizer.ggml.merges", V::string_array(merges));  // llama.cpp requires the key for gpt2
  const struct { const char* cfg; const char* key; } specials[] = {
      {"bos_token", "tokenizer.ggml.bos_token_id"},
      {"eos_token", "tokenizer.ggml.eos_token_id"},
      {"pad_token", "tokenizer.ggml.padding_token_id"},
  };
  for (const auto& s : specials) {
    const auto it = ids.find(token_string(cfg, s.cfg));
    if (it != ids.end()) out.emplace_back(s.key, V::u32(static_cast<uint32_t>(it->second)));
  }
  for (const char* flag : {"add_bos_token", "add_eos_token"}) {
    if (cfg.contains(flag) && cfg[flag].is_boolean()) {
      out.emplace_back(std::string("tokenizer.ggml.") + flag, V::boolean(cfg[flag].get<bool>()));
    }
  }
  if (cfg.contains("chat_template") && cfg["chat_template"].is_string()) {
    out.emplace_back("tokenizer.chat_template", V::string(cfg["chat_template"].get<std::string>()));
  }
  return out;
}

}  // namespace whale::formats
