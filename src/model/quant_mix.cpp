// The rules follow llama.cpp's src/llama-quant.cpp (llama_tensor_get_type and its helpers) as read
// for the architectures whale runs; tests/llamacpp/quant_mix.sh checks them against llama-quantize.
#include "model/quant_mix.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_model_args.h"

namespace whale::model {
namespace {

// llama-quantize's file types (llama_ftype values from llama.h).
const std::vector<QuantMix> kMixes = {
    {"Q4_0", 2, "q4_0"},     {"Q4_1", 3, "q4_1"},     {"Q5_0", 8, "q5_0"},     {"Q5_1", 9, "q5_1"},
    {"IQ4_NL", 25, "iq4_nl"}, {"IQ4_XS", 30, "iq4_xs"}, {"Q2_K", 10, "q2_K"},    {"Q3_K_S", 11, "q3_K"},
    {"Q3_K_M", 12, "q3_K"},  {"Q3_K_L", 13, "q3_K"},  {"Q4_K_S", 14, "q4_K"},  {"Q4_K_M", 15, "q4_K"},
    {"Q5_K_S", 16, "q5_K"},  {"Q5_K_M", 17, "q5_K"},  {"Q6_K", 18, "q6_K"},    {"Q8_0", 7, "q8_0"},
};

// The tensor roles the rules tell apart (llama.cpp matches them by substrings of the name).
enum class Category { kOther, kOutput, kTokenEmbd, kAttnQkv, kAttnKvB, kAttnV, kAttnK, kAttnQ, kAttnOutput, kFfnUp, kFfnGate, kFfnDown };

bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

Category category_of(std::string_view n) {
  if (n == "output.weight") return Category::kOutput;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::kTokenEmbd;
  if (has(n, "attn_qkv.weight")) return Category::kAttnQkv;
  if (has(n, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (has(n, "attn_v.weight")) return Category::kAttnV;
  if (has(n, "attn_k.weight")) return Category::kAttnK;
  if (has(n, "attn_q.weight")) return Category::kAttnQ;
  if (has(n, "attn_output.weight")) return Category::kAttnOutput;
  if (has(n, "ffn_up")) return Category::kFfnUp;
  if (has(n, "ffn_gate")) return Category::kFfnGate;
  if (has(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

bool is_attn_v_like(Category c) { return c == Category::kAttnV || c == Category::kAttnQkv || c == Category::kAttnKvB; }

// ggml_n_dims: dimensions up to the last one above 1 (whale order puts that one first).
int n_dims(const core::Shape& s) {
  int d = s.ndim();
  for (int i = 0; i < s.ndim() - 1 && s[i] == 1; ++i) --d;
  return std::max(d, 1);
}

// Which tensors llama-quantize re-encodes at all: 2-D and 3-D weights except norms, the MoE
// router and a list of small or position tensors (most of them of architectures whale does not run).
bool allows_quantization(const MixTensor& t) {
  const std::string_view n = t.name;
  if (n_dims(t.shape) < 2) return false;
  if (n.size() < 6 || n.substr(n.size() - 6) != "weight") return false;
  if (has(n, "_norm.weight") || has(n, "ffn_gate_inp.weight") || has(n, "ffn_gate_tid2eid.weight")) return false;
  if (n == "position_embd.weight" || n == "token_types.weight") return false;
  static const char* const kSmall[] = {
      "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
      "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
      "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
      ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
      "a.rvq.codebook", "mm.a.code_embd"};
  for (const char* s : kSmall) {
    if (has(n, s)) return false;
  }
  return true;
}

// The layer of "blk.N....", -1 for other names (llama.cpp's sscanf("blk.%d.")).
int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// use_more_bits: the first and last eighth of the layers and every third one between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// A row that is not a whole number of the type's blocks takes the next smaller block type, then f16.
std::string fallback(const MixTensor& t, std::string type) {
  const int64_t cols = t.shape[t.shape.ndim() - 1];
  const int64_t block = ggml_block_elems(type);
  if (block > 0 && cols % block == 0) return type;
  static const std::pair<std::string_view, std::string_view> kNext[] = {
      {"iq4_xs", "iq4_nl"}, {"q2_K", "q4_0"}, {"q3_K", "q4_0"}, {"q4_K", "q5_0"}, {"q5_K", "q5_1"}, {"q6_K", "q8_0"}};
  for (const auto& [from, to] : kNext) {
    if (type == from) {
      type = to;
      break;
    }
  }
  const int64_t next = ggml_block_elems(type);
  return next > 0 && cols % next == 0 ? type : "f16";
}

class Planner {
 public:
  Planner(const QuantMix& mix, const MixModel& m, const std::vector<MixTensor>& tensors) : mix_(mix), m_(m) {
    for (const MixTensor& t : tensors) {
      const Category c = category_of(t.name);
      if (is_attn_v_like(c)) ++n_attention_wv_;
      if (c == Category::kOutput) tied_embeddings_ = false;
    }
    n_gqa_ = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 0;
    // llama.cpp's LLM_TYPE_70B, the one model size the rules single out.
    is_70b_ = m.n_layer == 80 && ((m.arch == "llama" && m.n_head != m.n_head_kv) || m.arch == "qwen2");
  }

  std::string type_of(const MixTensor& t) {
    if (!allows_quantization(t)) return t.type;
    return fallback(t, mix_rule(t, std::string(mix_.default_type)));
  }

 private:
  bool is(std::string_view name) const { return mix_.name == name; }

  // The type before the shape fallback (llama_tensor_get_type_impl for the mixes above).
  std::string mix_rule(const MixTensor& t, std::string type) {
    const Category c = category_of(t.name);
    if (c == Category::kOutput || (tied_embeddings_ && c == Category::kTokenEmbd)) {
      const int64_t cols = t.shape[t.shape.ndim() - 1];
      if (cols % ggml_block_elems(type) != 0) return "q8_0";
      return type == "q8_0" ? type : "q6_K";
    }
    if (c == Category::kTokenEmbd) return type;
    if (is_attn_v_like(c)) {
      if (is("Q2_K")) {
        type = n_gqa_ >= 4 ? "q4_K" : "q3_K";
      } else if (is("Q3_K_M")) {
        type = i_attention_wv_ < 2 ? "q5_K" : "q4_K";
      } else if (is("Q3_K_L")) {
        type = "q5_K";
      } else if ((is("IQ4_NL") || is("IQ4_XS")) && n_gqa_ >= 4) {
        type = "q5_K";
      } else if ((is("Q4_K_M") || is("Q5_K_M")) && use_more_bits(i_attention_wv_, n_attention_wv_)) {
        type = "q6_K";
      } else if (is("Q4_K_S") && i_attention_wv_ < 4) {
        type = "q5_K";
      }
      if (is_70b_ && (type == "q3_K" || type == "q4_K")) type = "q5_K";
      if (m_.n_expert == 8) type = "q8_0";
      ++i_attention_wv_;
      return type;
    }
    if (c == Category::kAttnK) return m_.n_expert == 8 ? "q8_0" : type;
    if (c == Category::kFfnDown) {
      // MoE models take the layer from the name (experts need not be in layer order).
      int64_t i = i_ffn_down_++;
      if (std::max<int64_t>(1, m_.n_expert) > 1) {
        i = layer_of(t.name);
        if (i < 0 || i >= m_.n_layer) {
          fail(ErrorKind::kFormat, "tensor ", t.name, ": no layer below block_count ", m_.n_layer, " in its name");
        }
      }
      const int64_t n = m_.n_layer;
      if (is("Q2_K")) return "q3_K";
      if (is("Q3_K_M")) return i < n / 16 ? "q5_K" : "q4_K";
      if (is("Q3_K_L")) return "q5_K";
      if (is("Q4_K_M")) return use_more_bits(i, n) ? "q6_K" : type;
      if ((is("IQ4_NL") || is("IQ4_XS")) && i < n / 8) return "q5_K";
      if (is("Q5_K_M")) return use_more_bits(i, n) ? "q6_K" : type;
      if (is("Q4_K_S") && i < n / 8) return "q5_K";
      return type;
    }
    if (c == Category::kAttnOutput) {
      if (m_.n_expert == 8) {
        for (const char* f : {"Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"}) {
          if (is(f)) return "q5_K";
        }
        return type;
      }
      if (is("Q2_K")) return "q3_K";
      if (is("Q3_K_M")) return "q4_K";
      if (is("Q3_K_L")) return "q5_K";
      return type;
    }
    if (c == Category::kAttnQkv) {
      if (is("Q3_K_M") || is("Q3_K_L")) return "q4_K";
      if (is("Q4_K_M")) return "q5_K";
      if (is("Q5_K_M")) return "q6_K";
    }
    return type;
  }

  const QuantMix& mix_;
  const MixModel& m_;
  int64_t n_attention_wv_ = 0, i_attention_wv_ = 0, i_ffn_down_ = 0, n_gqa_ = 0;
  bool tied_embeddings_ = true, is_70b_ = false;
};

using Finder = std::function<const formats::GgufValue*(const std::string&)>;

MixModel mix_model_from(const Finder& find, const std::string& where) {
  const auto get = [&](const std::string& key, bool required) -> int64_t {
    const formats::GgufValue* v = find(key);
    if (!v) {
      if (required) fail(ErrorKind::kNotFound, where, ": metadata key ", key, " is missing");
      return 0;
    }
    // Per-layer arrays (head counts): layer 0's, as llama.cpp's n_gqa() reads.
    if (v->type() == formats::GgufValueType::kArray) return v->as_array().empty() ? 0 : v->as_array()[0].as_i64();
    return v->as_i64();
  };
  MixModel m;
  const formats::GgufValue* arch = find("general.architecture");
  if (!arch) fail(ErrorKind::kNotFound, where, ": metadata key general.architecture is missing");
  m.arch = arch->as_string();
  const std::string p = m.arch + ".";
  m.n_layer = get(p + "block_count", true);
  m.n_head = get(p + "attention.head_count", false);
  m.n_head_kv = find(p + "attention.head_count_kv") ? get(p + "attention.head_count_kv", false) : m.n_head;
  m.n_expert = get(p + "expert_count", false);
  return m;
}

}  // namespace

const std::vector<QuantMix>& quant_mixes() { return kMixes; }

const QuantMix* find_quant_mix(std::string_view name) {
  for (const QuantMix& m : kMixes) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

int64_t ggml_block_elems(std::string_view t) {
  if (t == "f32" || t == "f16" || t == "bf16" || t == "f64") return 1;
  for (std::string_view b : {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "iq4_nl", "mxfp4"}) {
    if (t == b) return 32;
  }
  for (std::string_view b : {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq4_xs"}) {
    if (t == b) return 256;
  }
  return 0;
}

std::vector<std::string> plan_quant_mix(const QuantMix& mix, const MixModel& model, const std::vector<MixTensor>& tensors) {
  // The counters (i-th attn_v, i-th ffn_down) run in llama.cpp's tensor order: by layer, then name.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int> layer(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) layer[i] = layer_of(tensors[i].name);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layer[a] != layer[b]) return layer[a] < layer[b];
    return tensors[a].name < tensors[b].name;
  });
  Planner planner(mix, model, tensors);
  std::vector<std::string> out(tensors.size());
  for (size_t i : order) out[i] = planner.type_of(tensors[i]);
  return out;
}

MixModel mix_model_of(const formats::GgufFile& file) {
  return mix_model_from([&](const std::string& k) { return file.find(k); }, file.path());
}

MixModel mix_model_of(const formats::GgufMetadata& metadata) {
  return mix_model_from(
      [&](const std::string& k) -> const formats::GgufValue* {
        for (const auto& [key, v] : metadata) {
          if (key == k) return &v;
        }
        return nullptr;
      },
      "the model's GGUF metadata");
}

std::vector<MixTensor> mix_tensors_of(const formats::GgufFile& file) {
  std::vector<MixTensor> out;
  for (const formats::GgufTensorInfo& t : file.tensors()) out.push_back({t.name, t.shape, formats::ggml_type_name(t.ggml_type)});
  return out;
}

}  // namespace whale::model
