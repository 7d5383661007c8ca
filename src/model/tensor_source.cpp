// Binding by role: field() is the one place a tensor-table role meets a Weights member, so the
// table's walk is the binder (gemma.cpp's ForEachTensor) and no Hugging Face name is spelled here.
#include "model/tensor_source.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <variant>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/float_dot.h"
#include "kernels/packed.h"
#include "model/architecture.h"

namespace whale::model {

std::vector<float> TensorSource::vec(const formats::TensorSpec& t) const {
  const WeightView w = stored(t);
  std::vector<float> out(static_cast<size_t>(w.w.numel()));
  kernels::dequantize_weight(w, out.data());
  return out;
}

namespace {

using formats::TensorKind;
using formats::TensorRole;
using formats::TensorSpec;

// A matrix kept as a view, or a small vector (norm, bias) decoded to f32.
using Field = std::variant<WeightView*, std::vector<float>*>;

Field field(Weights& w, const TensorSpec& t) {
  using R = TensorRole;
  const auto layer = [&]() -> LayerWeights& {
    if (t.layer < 0 || t.layer >= static_cast<int64_t>(w.layers.size())) {
      fail(ErrorKind::kInternal, "tensor ", t.name, ": layer ", t.layer, " outside the ", w.layers.size(), " bound layers");
    }
    return w.layers[static_cast<size_t>(t.layer)];
  };
  const auto expert = [&]() -> MlpWeights& {
    std::vector<MlpWeights>& experts = layer().moe.experts;
    if (t.expert < 0 || t.expert >= static_cast<int64_t>(experts.size())) {
      fail(ErrorKind::kInternal, "tensor ", t.name, ": expert ", t.expert, " outside the layer's ", experts.size());
    }
    return experts[static_cast<size_t>(t.expert)];
  };
  switch (t.role) {
    case R::kEmbed: return &w.embed;
    case R::kFinalNorm: return &w.final_norm;
    case R::kLmHead: return &w.lm_head;
    case R::kAttnNorm: return &layer().attn_norm;
    case R::kFfnNorm: return &layer().ffn_norm;
    case R::kMlaQA: return &layer().mla.q_a;
    case R::kMlaQANorm: return &layer().mla.q_a_norm;
    case R::kMlaQB: return &layer().mla.q_b;
    case R::kMlaQ: return &layer().mla.q;
    case R::kMlaKvA: return &layer().mla.kv_a;
    case R::kMlaKvANorm: return &layer().mla.kv_a_norm;
    case R::kMlaKvB: return &layer().mla.kv_b;
    case R::kMlaO: return &layer().mla.o;
    case R::kGqaQ: return &layer().gqa.q;
    case R::kGqaK: return &layer().gqa.k;
    case R::kGqaV: return &layer().gqa.v;
    case R::kGqaO: return &layer().gqa.o;
    case R::kGqaQBias: return &layer().gqa.q_bias;
    case R::kGqaKBias: return &layer().gqa.k_bias;
    case R::kGqaVBias: return &layer().gqa.v_bias;
    case R::kMlpGate: return &layer().mlp.gate;
    case R::kMlpUp: return &layer().mlp.up;
    case R::kMlpDown: return &layer().mlp.down;
    case R::kRouter: return &layer().moe.router;
    case R::kRouterBias: return &layer().moe.router_bias;
    case R::kExpertGate: return &expert().gate;
    case R::kExpertUp: return &expert().up;
    case R::kExpertDown: return &expert().down;
    case R::kSharedGate: return &layer().moe.shared.gate;
    case R::kSharedUp: return &layer().moe.shared.up;
    case R::kSharedDown: return &layer().moe.shared.down;
    case R::kMtpEmbed: return &layer().mtp.embed;
    case R::kMtpEnorm: return &layer().mtp.enorm;
    case R::kMtpHnorm: return &layer().mtp.hnorm;
    case R::kMtpEhProj: return &layer().mtp.eh_proj;
    case R::kMtpHeadNorm: return &layer().mtp.head_norm;
    case R::kMtpHead: return &layer().mtp.head;
    case R::kScaleInv: break;  // read with its weight (TensorSource::stored)
  }
  fail(ErrorKind::kInternal, "tensor ", t.name, " has no field to bind to");
}

// The bf16/fp8 matrices float_dot reads, copied as they are into one huge-page buffer (the mapped
// file's 4 KiB pages cost a TLB walk and a cold hardware prefetcher every 4 KiB; measured in
// docs/kernels.md#float-weights), their file pages given back. WHALE_PACK=0 keeps them mapped, and
// so does a model whose float matrices pass half the machine's memory (they stay pageable from the
// file instead of pinning anonymous memory that could run the machine out).
void copy_float_weights(const std::vector<WeightView*>& all) {
  if (const char* env = std::getenv("WHALE_PACK"); env != nullptr && std::strcmp(env, "0") == 0) return;
  std::vector<WeightView*> f;
  for (WeightView* v : all) {
    if (v->w.defined() && v->w.numel() > 0 && kernels::float_dot::enabled(v->w.dtype(), v->block)) f.push_back(v);
  }
  if (f.empty()) return;
  std::vector<int64_t> offset(f.size() + 1, 0);
  for (size_t i = 0; i < f.size(); ++i) offset[i + 1] = offset[i] + (f[i]->w.nbytes() + 63) / 64 * 64;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && offset.back() > static_cast<int64_t>(pages) * page / 2) return;
  const core::Tensor buffer = kernels::packed::huge_page_buffer(offset.back());
  core::ThreadPool pool;
  pool.parallel_for(static_cast<int64_t>(f.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      WeightView& v = *f[static_cast<size_t>(i)];
      auto* dst = static_cast<uint8_t*>(buffer.raw()) + offset[static_cast<size_t>(i)];
      std::memcpy(dst, v.w.raw(), static_cast<size_t>(v.w.nbytes()));
      kernels::packed::page_out(v.w.raw(), v.w.nbytes());
      v.w = core::Tensor(v.w.dtype(), v.w.shape(), dst, buffer.owner());
    }
  });
}

// Every matrix linear() multiplies, packed for the int8 kernels where the CPU has them (the input
// embedding is only looked up, so it stays as stored unless it doubles as the output head).
void pack_weights(Weights& w) {
  std::vector<WeightView*> all{&w.lm_head};
  auto mlp = [&](MlpWeights& m) { all.insert(all.end(), {&m.gate, &m.up, &m.down}); };
  for (LayerWeights& L : w.layers) {
    all.insert(all.end(), {&L.mla.q_a, &L.mla.q_b, &L.mla.q, &L.mla.kv_a, &L.mla.kv_b, &L.mla.o, &L.mla.uk_t, &L.mla.uv});
    all.insert(all.end(), {&L.gqa.q, &L.gqa.k, &L.gqa.v, &L.gqa.o, &L.mtp.eh_proj, &L.mtp.head});
    mlp(L.mlp);
    mlp(L.moe.shared);
    for (MlpWeights& e : L.moe.experts) mlp(e);
  }
  copy_float_weights(all);
  std::erase_if(all, [](const WeightView* v) { return !v->w.defined() || !kernels::packed::packable(*v); });
  if (all.empty()) return;
  // One huge-page buffer for all of them (one per matrix would round each up to 2 MiB).
  std::vector<int64_t> offset(all.size() + 1, 0);
  for (size_t i = 0; i < all.size(); ++i) offset[i + 1] = offset[i] + (kernels::packed::packed_bytes(*all[i]) + 63) / 64 * 64;
  const core::Tensor buffer = kernels::packed::huge_page_buffer(offset.back());
  core::ThreadPool pool;
  pool.parallel_for(static_cast<int64_t>(all.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const auto k = static_cast<size_t>(i);
      all[k]->packed = kernels::packed::pack_into(*all[k], buffer, offset[k]);
    }
  });
}

}  // namespace

void bind_weights(TensorSource& src, Weights& w, const std::function<bool(const formats::TensorSpec&)>& keep) {
  const formats::ModelArgs& a = w.args;
  w.arch = &architecture(a);
  w.layers.assign(static_cast<size_t>(w.arch->layers(a)), LayerWeights{});
  for (size_t i = 0; i < w.layers.size(); ++i) {
    LayerWeights& L = w.layers[i];
    L.is_moe = a.is_moe_layer(static_cast<int64_t>(i));
    if (!L.is_moe) continue;
    L.moe.experts.resize(static_cast<size_t>(a.n_routed_experts));
    L.moe.has_shared = a.n_shared_experts > 0;
  }
  formats::for_each_tensor(a, [&](const TensorSpec& t) {
    if (t.kind == TensorKind::kScaleInv) return;                      // read with its weight
    if (t.role == TensorRole::kLmHead && a.tie_word_embeddings) return;  // the head is the embedding
    if (keep && !keep(t)) return;                                      // another process's share
    const Field f = field(w, t);
    if (auto* v = std::get_if<std::vector<float>*>(&f)) {
      **v = src.vec(t);
    } else {
      // Routing decisions stay at stored precision; every other matrix may be re-quantized.
      *std::get<WeightView*>(f) = t.kind == TensorKind::kRouter ? src.stored(t) : src.matrix(t);
    }
    if (t.role == TensorRole::kMlaKvB) {
      MlaWeights& mla = w.layers[static_cast<size_t>(t.layer)].mla;
      src.kv_b_halves(t, mla.uk_t, mla.uv);
    }
  });
  if (a.tie_word_embeddings) w.lm_head = w.embed;
  pack_weights(w);
}

}  // namespace whale::model
