// token_cost: walks the main stack's matrices as the forward pass reads them in decode.
#include "model/roofline.h"

#include "core/dtype.h"

namespace whale::model {
namespace {

struct Adder {
  TokenCost c;
  // `share`: the fraction of the matrix a token reads (k / n_experts for one routed expert).
  void add(const WeightView& v, double share = 1.0) {
    if (!v.w.defined()) return;
    const int64_t n = v.w.numel();
    int64_t bytes = core::dtype_bytes(v.w.dtype(), n);
    if (v.scale_inv.defined()) bytes += v.scale_inv.numel() * 4;
    c.weight_bytes += static_cast<int64_t>(static_cast<double>(bytes) * share);
    c.weight_macs += static_cast<int64_t>(static_cast<double>(n) * share);
  }
  void add(const MlpWeights& m, double share = 1.0) { add(m.gate, share), add(m.up, share), add(m.down, share); }
};

}  // namespace

TokenCost token_cost(const Weights& w) {
  Adder a;
  const auto& args = w.args;
  for (int64_t i = 0; i < args.num_hidden_layers && i < static_cast<int64_t>(w.layers.size()); ++i) {
    const LayerWeights& L = w.layers[static_cast<size_t>(i)];
    const MlaWeights& m = L.mla;
    a.add(m.q_a), a.add(m.q_b), a.add(m.q), a.add(m.kv_a), a.add(m.o);
    // The absorbed decode multiplies with kv_b's two halves, stored split or not.
    if (m.uk_t.w.defined()) {
      a.add(m.uk_t), a.add(m.uv);
    } else {
      a.add(m.kv_b);
    }
    a.add(L.gqa.q), a.add(L.gqa.k), a.add(L.gqa.v), a.add(L.gqa.o);
    if (L.is_moe) {
      a.add(L.moe.router);
      if (L.moe.has_shared) a.add(L.moe.shared);
      const auto n = static_cast<double>(L.moe.experts.size());
      for (const MlpWeights& e : L.moe.experts) a.add(e, static_cast<double>(args.num_experts_per_tok) / n);
    } else {
      a.add(L.mlp);
    }
  }
  a.add(w.lm_head);
  return a.c;
}

}  // namespace whale::model
