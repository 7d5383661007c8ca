// The dense families the R1-Distill students use: Qwen2 (GQA, q/k/v bias, half-split RoPE pairs)
// and Llama (GQA, Llama-3 RoPE scaling). T = tokens, D = hidden, H = heads, KV = KV heads, d = head dim.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/common.h"
#include "model/forward.h"

namespace whale::model {
namespace {

void add_bias(float* y, int64_t T, const std::vector<float>& bias) {
  if (bias.empty()) return;
  const int64_t n = static_cast<int64_t>(bias.size());
  for (int64_t t = 0; t < T; ++t) kernels::axpy(1.0f, bias.data(), y + t * n, n);
}

// Grouped-query attention; each token's K and V go to its cache row [K (KV*d) | V (KV*d)].
// h: [T, D] (normed); out: [T, D].
void gqa_forward(const Weights& w, int64_t layer, const Batch& batch, KvCache& cache, const kernels::RopeTable& rope,
                 const float* h, float* out, Scratch& s, core::ThreadPool& pool) {
  const auto& a = w.args;
  const GqaWeights& g = w.layers[static_cast<size_t>(layer)].gqa;
  const int64_t T = batch.size(), H = a.num_attention_heads, KV = a.num_key_value_heads, d = a.head_dim;
  float* q = ensure(s.q, T * H * d);   // q: [T, H*d]
  float* k = ensure(s.k, T * KV * d);  // k: [T, KV*d]
  float* v = ensure(s.v, T * KV * d);  // v: [T, KV*d]
  linear_rows(g.q, h, T, q, pool);
  linear_rows(g.k, h, T, k, pool);
  linear_rows(g.v, h, T, v, pool);
  add_bias(q, T, g.q_bias);
  add_bias(k, T, g.k_bias);
  add_bias(v, T, g.v_bias);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = batch.positions[static_cast<size_t>(t)];
    for (int64_t hh = 0; hh < H; ++hh) kernels::rope_apply(rope, pos, q + t * H * d + hh * d);
    for (int64_t hh = 0; hh < KV; ++hh) kernels::rope_apply(rope, pos, k + t * KV * d + hh * d);
    const int32_t seq = batch.seq_ids[static_cast<size_t>(t)];
    cache.store(layer, seq, pos, 0, k + t * KV * d, KV * d);
    cache.store(layer, seq, pos, KV * d, v + t * KV * d, KV * d);
  }
  float* attn = ensure(s.attn, T * H * d);  // attn: [T, H*d]
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // One query set per (sequence, KV head): its tokens x the query heads of the group.
  const int64_t group = H / KV;
  kernels::AttentionWork& work = s.attention;
  work.clear();
  batch_sequences(batch, s.seqs);
  for (int32_t seq : s.seqs) {
    for (int64_t kvh = 0; kvh < KV; ++kvh) {
      const size_t set =
          add_cache_set(work, cache, layer, seq, seq_extent(batch, seq), s, kvh * d, KV * d + kvh * d, d, d, scale);
      for (int64_t t = 0; t < T; ++t) {
        if (batch.seq_ids[static_cast<size_t>(t)] != seq) continue;
        for (int64_t hh = kvh * group; hh < (kvh + 1) * group; ++hh) {
          work.add_query(set, q + t * H * d + hh * d, batch.positions[static_cast<size_t>(t)] + 1, attn + t * H * d + hh * d);
        }
      }
    }
  }
  work.run(pool);
  linear_rows(g.o, attn, T, out, pool);  // out: [T, D]
}

}  // namespace

void dense_forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& s,
                   core::ThreadPool& pool, ForwardOutput& out) {
  const auto& a = w.args;
  const int64_t T = batch.size(), D = a.hidden_size;
  const float eps = static_cast<float>(a.rms_norm_eps);
  rope_table(a, a.head_dim, kernels::RopePairing::kHalf, s.rope);
  float* x = ensure(s.x, T * D);  // residual stream: [T, D]
  const int64_t end = stage_input(w, batch, opt, x);
  for (int64_t layer = opt.layer_begin; layer < end; ++layer) {
    const LayerWeights& L = w.layers[static_cast<size_t>(layer)];
    float* h = ensure(s.h, T * D);
    float* o = ensure(s.out, T * D);
    rms_norm_rows(x, T, D, L.attn_norm, eps, h);
    gqa_forward(w, layer, batch, cache, s.rope, h, o, s, pool);
    kernels::axpy(1.0f, o, x, T * D);
    rms_norm_rows(x, T, D, L.ffn_norm, eps, h);
    mlp_forward(L.mlp, h, T, o, s, pool);
    kernels::axpy(1.0f, o, x, T * D);
  }
  out.routing.clear();  // no MoE layers
  if (opt.want_hidden || end < a.num_hidden_layers) out.hidden.assign(x, x + T * D);
  if (end < a.num_hidden_layers) return;  // a pipeline stage before the last: no head
  output_logits(w.lm_head, w.final_norm, eps, x, T, D, out.logits, s, pool, opt.logit_rows);
}

}  // namespace whale::model
