// config.json <-> ModelArgs: typed field readers that name the field on error, the enums'
// spellings, family defaults, validation, and the writer used by `whale init` and the trainer.
#include "formats/model_args.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {
namespace {

using nlohmann::json;

// Each enum's config.json spellings, in one table per enum for both directions.
template <class E>
struct Spelling {
  E value;
  const char* name;
};
constexpr Spelling<TopkMethod> kTopkMethods[] = {{TopkMethod::kGreedy, "greedy"},
                                                 {TopkMethod::kGroupLimitedGreedy, "group_limited_greedy"},
                                                 {TopkMethod::kNoauxTc, "noaux_tc"}};
constexpr Spelling<ScoringFunc> kScoringFuncs[] = {{ScoringFunc::kSoftmax, "softmax"}, {ScoringFunc::kSigmoid, "sigmoid"}};
constexpr Spelling<RopeType> kRopeTypes[] = {
    {RopeType::kNone, ""}, {RopeType::kYarn, "yarn"}, {RopeType::kLlama3, "llama3"}, {RopeType::kLinear, "linear"}};

template <class E, size_t N>
const char* name_of(const Spelling<E> (&table)[N], E value) {
  for (const Spelling<E>& s : table) {
    if (s.value == value) return s.name;
  }
  return "?";
}

template <class E, size_t N>
std::optional<E> value_of(const Spelling<E> (&table)[N], std::string_view name) {
  for (const Spelling<E>& s : table) {
    if (name == s.name) return s.value;
  }
  return std::nullopt;
}

// Reads fields of one JSON object, naming `source` and the field in every error.
class Fields {
 public:
  Fields(const json& obj, std::string source) : obj_(obj), source_(std::move(source)) {}

  bool has(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }

  int64_t integer(const char* key) const {
    if (!has(key)) fail(ErrorKind::kFormat, source_, ": missing required field \"", key, "\" (an integer)");
    return as_integer(key);
  }
  int64_t integer(const char* key, int64_t fallback) const { return has(key) ? as_integer(key) : fallback; }

  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_number()) wrong_type(key, "a number", v);
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(ErrorKind::kInvalidArgument, source_, ": field \"", key, "\" must be finite");
    return d;
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_boolean()) wrong_type(key, "true or false", v);
    return v.get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_string()) wrong_type(key, "a string", v);
    return v.get<std::string>();
  }

  // An integer or a list of integers (eos_token_id in Llama 3.1 style configs).
  std::vector<int64_t> integers(const char* key) const {
    if (!has(key)) return {};
    const json& v = obj_.at(key);
    if (v.is_array()) {
      std::vector<int64_t> out;
      for (const json& e : v) {
        if (!e.is_number_integer()) wrong_type(key, "an integer or a list of integers", v);
        out.push_back(e.get<int64_t>());
      }
      return out;
    }
    return {as_integer(key)};
  }

  const json* object(const char* key) const {
    if (!has(key)) return nullptr;
    const json& v = obj_.at(key);
    if (!v.is_object()) wrong_type(key, "an object", v);
    return &v;
  }

  const std::string& source() const { return source_; }

 private:
  int64_t as_integer(const char* key) const {
    const json& v = obj_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some configs write integral values as 1.0; accept those, refuse 1.5.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    }
    wrong_type(key, "an integer", v);
  }

  [[noreturn]] void wrong_type(const char* key, const char* expected, const json& v) const {
    fail(ErrorKind::kFormat, source_, ": field \"", key, "\" must be ", expected, ", got ", v.type_name(), " ",
         v.dump().substr(0, 40));
  }

  const json& obj_;
  std::string source_;
};

Family family_of(const std::string& model_type, const std::string& source) {
  if (model_type == "deepseek_v3") return Family::kDeepseekV3;
  if (model_type == "deepseek_v2") return Family::kDeepseekV2;
  if (model_type == "qwen2") return Family::kQwen2;
  if (model_type == "llama") return Family::kLlama;
  fail(ErrorKind::kUnsupported, source, ": unknown model_type \"", model_type,
       "\" (whale runs deepseek_v3, deepseek_v2, qwen2, llama)");
}

void read_rope_scaling(const Fields& f, ModelArgs& a) {
  const json* rs = f.object("rope_scaling");
  if (!rs) return;
  Fields r(*rs, f.source() + " rope_scaling");
  // HF uses "type" in older configs and "rope_type" in newer ones.
  std::string type = r.string("rope_type", r.string("type", ""));
  if (type == "default") type.clear();
  const std::optional<RopeType> t = rope_type_from_name(type);
  if (!t) fail(ErrorKind::kUnsupported, f.source(), ": rope_scaling type \"", type, "\" (known: yarn, llama3, linear)");
  a.rope_scaling.type = *t;
  a.rope_scaling.factor = r.number("factor", 1.0);
  a.rope_scaling.original_max_position_embeddings = r.integer("original_max_position_embeddings", 0);
  a.rope_scaling.beta_fast = r.number("beta_fast", 32.0);
  a.rope_scaling.beta_slow = r.number("beta_slow", 1.0);
  a.rope_scaling.mscale = r.number("mscale", 1.0);
  a.rope_scaling.mscale_all_dim = r.number("mscale_all_dim", 0.0);
  a.rope_scaling.low_freq_factor = r.number("low_freq_factor", 1.0);
  a.rope_scaling.high_freq_factor = r.number("high_freq_factor", 4.0);
}

TopkMethod read_topk_method(const Fields& f) {
  const std::string name = f.string("topk_method", "greedy");
  const std::optional<TopkMethod> m = topk_method_from_name(name);
  if (!m) {
    fail(ErrorKind::kInvalidArgument, f.source(), ": field \"topk_method\" = \"", name,
         "\" (known: greedy, group_limited_greedy, noaux_tc)");
  }
  return *m;
}

ScoringFunc read_scoring_func(const Fields& f) {
  const std::string name = f.string("scoring_func", "softmax");
  const std::optional<ScoringFunc> s = scoring_func_from_name(name);
  if (!s) fail(ErrorKind::kInvalidArgument, f.source(), ": field \"scoring_func\" = \"", name, "\" (known: softmax, sigmoid)");
  return *s;
}

void read_quantization(const Fields& f, ModelArgs& a) {
  const json* q = f.object("quantization_config");
  if (!q) return;
  Fields qf(*q, f.source() + " quantization_config");
  const std::string method = qf.string("quant_method", "");
  if (method != "fp8") {
    fail(ErrorKind::kUnsupported, f.source(), ": quantization_config.quant_method \"", method,
         "\" (whale reads fp8 checkpoints; use GGUF for other quantizations)");
  }
  const std::string fmt = qf.string("fmt", "e4m3");
  if (fmt != "e4m3") fail(ErrorKind::kUnsupported, f.source(), ": fp8 fmt \"", fmt, "\" (only e4m3)");
  a.fp8 = true;
  if (qf.has("weight_block_size")) {
    const json& b = q->at("weight_block_size");
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer()) {
      fail(ErrorKind::kFormat, f.source(), ": quantization_config.weight_block_size must be [rows, cols]");
    }
    a.fp8_block_rows = b[0].get<int64_t>();
    a.fp8_block_cols = b[1].get<int64_t>();
  }
}

}  // namespace

const char* topk_method_name(TopkMethod m) { return name_of(kTopkMethods, m); }
const char* scoring_func_name(ScoringFunc f) { return name_of(kScoringFuncs, f); }
const char* rope_type_name(RopeType t) { return name_of(kRopeTypes, t); }
std::optional<TopkMethod> topk_method_from_name(std::string_view name) { return value_of(kTopkMethods, name); }
std::optional<ScoringFunc> scoring_func_from_name(std::string_view name) { return value_of(kScoringFuncs, name); }
std::optional<RopeType> rope_type_from_name(std::string_view name) { return value_of(kRopeTypes, name); }

bool ModelArgs::is_moe_layer(int64_t layer) const {
  if (!is_deepseek() || n_routed_experts == 0) return false;
  return layer >= first_k_dense_replace && layer % std::max<int64_t>(moe_layer_freq, 1) == 0;
}

ModelArgs parse_model_args(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, source, ": not valid JSON: ", e.what());
  }
  if (!root.is_object()) fail(ErrorKind::kFormat, source, ": expected a JSON object, got ", root.type_name());
  Fields f(root, source);

  ModelArgs a;
  if (!f.has("model_type")) {
    fail(ErrorKind::kFormat, source, ": missing required field \"model_type\" (deepseek_v3, deepseek_v2, qwen2 or llama)");
  }
  a.model_type = f.string("model_type", "");
  a.family = family_of(a.model_type, source);
  a.torch_dtype = f.string("torch_dtype", "bfloat16");

  a.vocab_size = f.integer("vocab_size");
  a.hidden_size = f.integer("hidden_size");
  a.num_hidden_layers = f.integer("num_hidden_layers");
  a.num_attention_heads = f.integer("num_attention_heads");
  a.num_key_value_heads = f.integer("num_key_value_heads", a.num_attention_heads);
  a.max_position_embeddings = f.integer("max_position_embeddings", 4096);
  a.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  a.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  a.bos_token_id = f.integer("bos_token_id", -1);
  a.eos_token_ids = f.integers("eos_token_id");
  a.rope_theta = f.number("rope_theta", 10000.0);
  read_rope_scaling(f, a);
  read_quantization(f, a);

  if (a.is_deepseek()) {
    a.intermediate_size = f.integer("intermediate_size", 0);
    a.q_lora_rank = f.integer("q_lora_rank", 0);  // null in V2-Lite
    a.kv_lora_rank = f.integer("kv_lora_rank");
    a.qk_nope_head_dim = f.integer("qk_nope_head_dim");
    a.qk_rope_head_dim = f.integer("qk_rope_head_dim");
    a.v_head_dim = f.integer("v_head_dim");
    a.n_routed_experts = f.integer("n_routed_experts", 0);
    a.n_shared_experts = f.integer("n_shared_experts", 0);
    a.num_experts_per_tok = f.integer("num_experts_per_tok", 0);
    a.moe_intermediate_size = f.integer("moe_intermediate_size", 0);
    a.moe_layer_freq = f.integer("moe_layer_freq", 1);
    a.first_k_dense_replace = f.integer("first_k_dense_replace", 0);
    a.n_group = f.integer("n_group", 1);
    a.topk_group = f.integer("topk_group", 1);
    a.topk_method = read_topk_method(f);
    a.scoring_func = read_scoring_func(f);
    a.norm_topk_prob = f.boolean("norm_topk_prob", false);
    a.routed_scaling_factor = f.number("routed_scaling_factor", 1.0);
    a.num_nextn_predict_layers = f.integer("num_nextn_predict_layers", 0);
  } else {
    a.intermediate_size = f.integer("intermediate_size");
    a.head_dim = f.integer("head_dim", 0);
    if (a.head_dim == 0 && a.num_attention_heads > 0) a.head_dim = a.hidden_size / a.num_attention_heads;
    a.attention_bias = a.family == Family::kQwen2 ? true : f.boolean("attention_bias", false);
  }
  validate_model_args(a, source);
  return a;
}

ModelArgs load_model_args(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "config.json").string();
  return parse_model_args(core::read_file(file), file);
}

}  // namespace whale::formats
