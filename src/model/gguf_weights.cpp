// Reading GGUF tensors for bind_weights: the tensor table gives every entry its llama.cpp name, so
// binding is the same walk as load_weights, with three GGUF-only twists (stacked experts, the split
// kv_b, llama's permuted q/k rows).
#include "model/gguf_weights.h"

#include <cstring>

#include "core/convert.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_model_args.h"
#include "formats/tensor_table.h"
#include "model/architecture.h"
#include "model/gguf_convert.h"
#include "model/quantize.h"
#include "model/tensor_source.h"

namespace whale::model {
namespace {

using core::DType;
using core::Shape;
using formats::TensorKind;
using formats::TensorRole;
using formats::TensorSpec;

bool computable(DType t) {
  switch (t) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0: case DType::kQ4_0:
    case DType::kQ4_K: case DType::kQ6_K: case DType::kQ2_K: case DType::kQ3_K: case DType::kQ5_K:
    case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kIQ4_NL: case DType::kIQ4_XS:
    case DType::kIQ2_XXS: case DType::kIQ1_S:
      return true;
    default:
      return false;
  }
}

bool is_plain(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

class GgufBinder final : public TensorSource {
 public:
  GgufBinder(const formats::ModelArgs& a, std::shared_ptr<const formats::GgufFile> file, const LoadOptions& opt)
      : a_(a), f_(std::move(file)), opt_(opt), pool_(opt.threads), llama_rope_(architecture(a).gguf_llama_rope) {}

  // Every tensor the metadata implies, present with its shape and a dtype whale computes with.
  void check() const {
    for (const TensorSpec& s : formats::tensor_table(a_)) {
      if (s.kind == TensorKind::kScaleInv) continue;
      if (s.kind == TensorKind::kOutput && !s.mtp && a_.tie_word_embeddings) continue;
      if (s.kind == TensorKind::kExpert) {
        if (s.expert == 0) expect(s.gguf_name, Shape{a_.n_routed_experts, s.shape[0], s.shape[1]});
        continue;
      }
      if (split_kv_b(s)) {
        const int64_t H = a_.num_attention_heads, r = a_.kv_lora_rank;
        expect(split_kv_b_name(s.gguf_name, "attn_k_b"), Shape{H, r, a_.qk_nope_head_dim});
        expect(split_kv_b_name(s.gguf_name, "attn_v_b"), Shape{H, a_.v_head_dim, r});
        continue;
      }
      expect(s.gguf_name, s.shape);
    }
  }

  // A weight matrix, re-quantized when the options ask for it (as load_weights does).
  WeightView matrix(const TensorSpec& s) override {
    if (split_kv_b(s)) {
      bool plain = false;
      WeightView w = rebuild_kv_b(s, plain);
      // Re-encoding values already rounded to a block type along the other axis would round twice.
      return plain ? requant(w) : w;
    }
    return requant(stored(s));
  }

  bool kv_b_halves(const TensorSpec& s, WeightView& uk_t, WeightView& uv) override {
    if (!split_kv_b(s)) return false;
    const int64_t H = a_.num_attention_heads, r = a_.kv_lora_rank;
    uk_t.w = f_->view(split_kv_b_name(s.gguf_name, "attn_k_b")).reshape(Shape{H * r, a_.qk_nope_head_dim});
    uv.w = f_->view(split_kv_b_name(s.gguf_name, "attn_v_b")).reshape(Shape{H * a_.v_head_dim, r});
    uk_t = requant(uk_t);
    uv = requant(uv);
    return true;
  }

  WeightView stored(const TensorSpec& s) const override {
    WeightView w;
    if (s.kind == TensorKind::kExpert) {
      w.w = f_->view(s.gguf_name).slice(s.expert, s.expert + 1).reshape(s.shape);  // of [E, out, in]
      return w;
    }
    w.w = f_->view(s.gguf_name);
    if (permuted(s)) {
      const bool q = s.role == TensorRole::kGqaQ || s.role == TensorRole::kGqaQBias;
      w.w = unpermute(w.w, q ? a_.num_attention_heads : a_.num_key_value_heads);
    }
    return w;
  }

 private:
  void expect(const std::string& name, const Shape& shape) const {
    const formats::GgufTensorInfo* t = f_->find_tensor(name);
    if (!t) fail(ErrorKind::kNotFound, f_->path(), ": tensor ", name, " ", shape.str(), " is missing");
    if (!(t->shape == shape)) {
      fail(ErrorKind::kFormat, f_->path(), ": tensor ", name, " has shape ", t->shape.str(), ", expected ", shape.str(),
           " (outermost first; GGUF's ne is the reverse) from the metadata");
    }
    if (!t->dtype || !computable(*t->dtype)) {
      fail(ErrorKind::kUnsupported, f_->path(), ": tensor ", name, " has ggml type ", formats::ggml_type_name(t->ggml_type),
           " (whale computes with f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)");
    }
  }

  // llama.cpp's MLA files carry attn_k_b/attn_v_b instead of kv_b_proj (older ones keep attn_kv_b).
  bool split_kv_b(const TensorSpec& s) const {
    return s.role == TensorRole::kMlaKvB && !f_->find_tensor(s.gguf_name);
  }

  bool permuted(const TensorSpec& s) const {
    return llama_rope_ && (s.role == TensorRole::kGqaQ || s.role == TensorRole::kGqaQBias ||
                           s.role == TensorRole::kGqaK || s.role == TensorRole::kGqaKBias);
  }

  WeightView requant(const WeightView& w) {
    if (!opt_.quant || w.w.dtype() == *opt_.quant) return w;
    std::optional<WeightView> q = quantize_weight(w, *opt_.quant, pool_);
    return q ? *q : w;
  }

  // Undoes convert_hf_to_gguf.py's permute: GGUF row h*hd + 2i + k came from HF row h*hd + k*hd/2 + i.
  static core::Tensor unpermute(const core::Tensor& t, int64_t heads) {
    const int64_t n = t.dim(0), hd = n / heads, half = hd / 2;
    const int64_t row_bytes = core::dtype_bytes(t.dtype(), t.ndim() == 1 ? 1 : t.dim(1));
    core::Tensor out = core::Tensor::empty(t.dtype(), t.shape());
    const auto* src = static_cast<const char*>(t.raw());
    auto* dst = static_cast<char*>(out.raw());
    for (int64_t g = 0; g < n; ++g) {
      const int64_t hf = g / hd * hd + (g % hd % 2) * half + g % hd / 2;
      std::memcpy(dst + hf * row_bytes, src + g * row_bytes, static_cast<size_t>(row_bytes));
    }
    return out;
  }

  // kv_b_proj [H*(nope+v), r] from attn_k_b [H, r, nope] (W_uk^T per head) and attn_v_b [H, v, r].
  WeightView rebuild_kv_b(const TensorSpec& s, bool& plain) {
    const int64_t H = a_.num_attention_heads, r = a_.kv_lora_rank, nope = a_.qk_nope_head_dim, v = a_.v_head_dim;
    const core::Tensor kt = f_->view(split_kv_b_name(s.gguf_name, "attn_k_b"));
    const core::Tensor vt = f_->view(split_kv_b_name(s.gguf_name, "attn_v_b"));
    plain = kt.dtype() == vt.dtype() && is_plain(kt.dtype());
    const DType dt = plain ? kt.dtype() : DType::kF32;  // a plain dtype holds its own values exactly
    WeightView kb, vb, out;
    kb.w = kt.reshape(Shape{H * r, nope});
    vb.w = vt.reshape(Shape{H * v, r});
    out.w = core::Tensor::empty(dt, Shape{H * (nope + v), r});
    const int64_t row_bytes = core::dtype_bytes(dt, r);
    auto* dst = static_cast<char*>(out.w.raw());
    pool_.parallel_for(H, [&](int64_t b, int64_t e, int) {
      std::vector<float> w_uk_t(static_cast<size_t>(r * nope)), row(static_cast<size_t>(r));
      for (int64_t h = b; h < e; ++h) {
        for (int64_t c = 0; c < r; ++c) kernels::dequantize_weight_row(kb, h * r + c, &w_uk_t[static_cast<size_t>(c * nope)]);
        for (int64_t i = 0; i < nope; ++i) {
          for (int64_t c = 0; c < r; ++c) row[static_cast<size_t>(c)] = w_uk_t[static_cast<size_t>(c * nope + i)];
          core::convert_row(DType::kF32, row.data(), dt, dst + (h * (nope + v) + i) * row_bytes, r);
        }
        for (int64_t j = 0; j < v; ++j) {
          kernels::dequantize_weight_row(vb, h * v + j, row.data());
          core::convert_row(DType::kF32, row.data(), dt, dst + (h * (nope + v) + nope + j) * row_bytes, r);
        }
      }
    });
    return out;
  }

  const formats::ModelArgs& a_;
  std::shared_ptr<const formats::GgufFile> f_;
  const LoadOptions& opt_;
  core::ThreadPool pool_;
  bool llama_rope_;  // llama.cpp permuted q/k rows for its rotary pairs
};

}  // namespace

Weights load_weights_gguf(const std::string& path, const LoadOptions& options) {
  auto file = std::make_shared<const formats::GgufFile>(formats::GgufFile::open(path));
  Weights w;
  w.args = formats::model_args_from_gguf(*file);
  w.storage = file;
  GgufBinder b(w.args, file, options);
  b.check();
  bind_weights(b, w, options.keep);
  return w;
}

}  // namespace whale::model
