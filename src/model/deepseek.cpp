// The DeepSeek-V2/V3/R1 forward pass, in the order of the papers: multi-head latent attention,
// the MoE gate, the MoE layer, the dense MLP, the decoder block, the MTP module, the whole model.
// Shapes: T = tokens in the batch, D = hidden_size, H = heads, r = kv_lora_rank, n = a sequence's
// cached positions, E = routed experts, k = experts per token. Buffers live in Scratch.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "model/architecture.h"
#include "model/common.h"
#include "model/forward.h"
#include "model/moe_gate.h"

namespace whale::model {
namespace {

struct Ctx {
  const Weights& w;
  const formats::ModelArgs& a;
  const Batch& batch;
  KvCache& cache;
  const ForwardOptions& opt;
  Scratch& s;
  core::ThreadPool& pool;
  float softmax_scale;
  std::vector<std::vector<int32_t>>* routing;  // where MoE layers record their experts, or null
};

// Softmax scale (d_nope + d_rope)^-1/2, times YaRN's mscale(factor, mscale_all_dim)² as Hugging
// Face applies it whenever rope_scaling says yarn.
float mla_softmax_scale(const formats::ModelArgs& a) {
  double scale = 1.0 / std::sqrt(static_cast<double>(a.qk_head_dim()));
  if (a.rope_scaling.type == formats::RopeType::kYarn && a.rope_scaling.mscale_all_dim != 0.0) {
    const double m = kernels::yarn_mscale(a.rope_scaling.factor, a.rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  return static_cast<float>(scale);
}

MlaMode forced_mla_mode();

// Naive MLA attention: decompress k_nope and v for every head from each cached latent, then plain
// attention with the shared rope key. q: [T, H*(nope+rope)]; attn: [T, H*d_v].
// Only the sequences in `seqs`.
void mla_attend_naive(Ctx& c, int64_t layer, const float* q, float* attn, const std::vector<int32_t>& seqs) {
  const auto& a = c.a;
  const int64_t H = a.num_attention_heads, nope = a.qk_nope_head_dim, rope = a.qk_rope_head_dim;
  const int64_t dv = a.v_head_dim, r = a.kv_lora_rank, qd = nope + rope, width = r + rope;
  const int64_t kvb = nope + dv;  // kv_b_proj rows per head
  const bool by_row = !c.opt.mla_naive_rows.empty() && forced_mla_mode() == MlaMode::kAuto;
  for (int32_t seq : seqs) {
    const int64_t n = seq_extent(c.batch, seq);
    float* latent = ensure(c.s.mla_latent, n * width);   // the cached [c_kv | k_pe] as f32: [n, r + rope]
    float* full = ensure(c.s.mla_full, n * H * kvb);     // kv_b(c_kv): [n, H*(nope+d_v)]
    float* kv = ensure(c.s.mla_heads, n * H * (qd + dv));  // [n, H, k_nope | k_pe | v]
    const float** head_rows = ensure(c.s.head_rows, H * n);  // [H, n] pointers into kv
    for (int64_t j = 0; j < n; ++j) c.cache.load(layer, seq, j, 0, latent + j * width, width);
    kernels::linear(c.w.layers[layer].mla.kv_b,
                    {.x = latent, .T = n, .x_stride = width, .y = full, .y_stride = H * kvb}, &c.pool);
    // Per head and position: [k_nope | k_pe | v] so one attention call sees K and V.
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t h = 0; h < H; ++h) {
        float* dst = kv + (j * H + h) * (qd + dv);
        const float* src = full + j * H * kvb + h * kvb;
        std::copy(src, src + nope, dst);                       // k_nope
        std::copy(latent + j * width + r, latent + (j + 1) * width, dst + nope);  // k_pe, shared by all heads
        std::copy(src + nope, src + kvb, dst + qd);            // v
        head_rows[h * n + j] = dst;
      }
    }
    // One query set per head: the sequence's tokens over that head's decompressed rows.
    kernels::AttentionWork& work = c.s.attention;
    work.clear();
    for (int64_t h = 0; h < H; ++h) {
      const size_t set = work.add_set({head_rows + h * n, static_cast<size_t>(n)}, 0, qd, qd, dv, c.softmax_scale);
      for (int64_t t = 0; t < c.batch.size(); ++t) {
        if (c.batch.seq_ids[static_cast<size_t>(t)] != seq) continue;
        if (by_row && c.opt.mla_naive_rows[static_cast<size_t>(t)] == 0) continue;  // an absorbed row
        work.add_query(set, q + t * H * qd + h * qd, c.batch.positions[static_cast<size_t>(t)] + 1, attn + t * H * dv + h * dv);
      }
    }
    work.run(c.pool);
  }
}

// Absorbed MLA attention: q_lat = W_ukᵀ q_nope per head, attend over the cached latents directly
// (an MQA with key dim r + d_rope and value dim r), then o_h = W_uv · o_lat. For the batch tokens
// `tok` (T of them, in batch order): q: [T, H*(nope+rope)] and attn: [T, H*d_v], row i for tok[i].
// A sequence's tokens form one query set (T_s*H queries over its cached rows, keys transposed once
// when they pass a tile); each query's result is the same bits in any set (attention_impl.h).
void mla_attend_absorbed(Ctx& c, int64_t layer, const float* q, float* attn, const std::vector<int32_t>& tok) {
  const auto& a = c.a;
  const int64_t H = a.num_attention_heads, nope = a.qk_nope_head_dim, rope = a.qk_rope_head_dim;
  const int64_t dv = a.v_head_dim, r = a.kv_lora_rank, qd = nope + rope, kvb = nope + dv;
  const WeightView& kv_b = c.w.layers[layer].mla.kv_b;
  const int64_t T = static_cast<int64_t>(tok.size()), width = r + rope;
  // Per token and head: [q_lat | q_pe] (q_lat = W_ukᵀ q_nope) and the latent output.
  float* ql = ensure(c.s.lat_q, T * H * width);  // [T, H, r + rope]
  float* ol = ensure(c.s.lat_o, T * H * r);      // [T, H, r]
  const MlaWeights& m = c.w.layers[static_cast<size_t>(layer)].mla;
  if (m.uk_t.w.defined() && m.uk_t.w.numel() > 0) {
    // q_lat of head h for all tokens at once: W_ukᵀ (stored as such) times q_nope.
    const auto heads = [&](int64_t b, int64_t e, int) {
      for (int64_t h = b; h < e; ++h) {
        kernels::linear(m.uk_t, {.x = q + h * qd, .T = T, .x_stride = H * qd, .y = ql + h * width, .y_stride = H * width,
                                 .row0 = h * r, .row1 = (h + 1) * r},
                        nullptr);
      }
    };
    c.pool.parallel_for(H, std::ref(heads));  // std::ref: the pool's std::function holds a pointer, no copy
    for (int64_t i = 0; i < T * H; ++i) std::copy(q + i * qd + nope, q + (i + 1) * qd, ql + i * width + r);
  } else {
    const auto token_heads = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t t = i / H, h = i % H;
        const float* qh = q + t * H * qd + h * qd;
        kernels::linear_transposed(kv_b, h * kvb, h * kvb + nope, qh, ql + i * width);
        std::copy(qh + nope, qh + qd, ql + i * width + r);
      }
    };
    c.pool.parallel_for(T * H, std::ref(token_heads));
  }
  // One query set per sequence: its tokens' heads over the sequence's latent rows [c_kv | k_pe],
  // values c_kv; token i sees positions [0, pos_i].
  kernels::AttentionWork& work = c.s.attention;
  work.clear();
  std::vector<int32_t>& seqs = c.s.seqs;
  seqs.clear();
  for (int32_t t : tok) {
    const int32_t seq = c.batch.seq_ids[static_cast<size_t>(t)];
    if (std::find(seqs.begin(), seqs.end(), seq) == seqs.end()) seqs.push_back(seq);
  }
  for (int32_t seq : seqs) {
    int64_t n = 0;
    for (int32_t t : tok) {
      if (c.batch.seq_ids[static_cast<size_t>(t)] == seq)
        n = std::max<int64_t>(n, c.batch.positions[static_cast<size_t>(t)] + 1);
    }
    const size_t set = add_cache_set(work, c.cache, layer, seq, n, c.s, 0, 0, width, r, c.softmax_scale);
    for (int64_t i = 0; i < T; ++i) {
      const auto t = static_cast<size_t>(tok[static_cast<size_t>(i)]);
      if (c.batch.seq_ids[t] != seq) continue;
      for (int64_t h = 0; h < H; ++h)
        work.add_query(set, ql + (i * H + h) * width, c.batch.positions[t] + 1, ol + (i * H + h) * r);
    }
  }
  work.run(c.pool);
  // o_h = W_uv · o_lat, from attn_v_b where the file has it, else from kv_b's value rows.
  const bool split = m.uv.w.defined() && m.uv.w.numel() > 0;
  const auto heads_out = [&](int64_t b, int64_t e, int) {
    for (int64_t h = b; h < e; ++h) {
      const kernels::LinearArgs args{.x = ol + h * r, .T = T, .x_stride = H * r, .y = attn + h * dv, .y_stride = H * dv,
                                     .row0 = split ? h * dv : h * kvb + nope, .row1 = split ? (h + 1) * dv : h * kvb + kvb};
      kernels::linear(split ? m.uv : kv_b, args, nullptr);  // o_h: [T, d_v]
    }
  };
  c.pool.parallel_for(H, std::ref(heads_out));
}

// WHALE_MLA=naive|absorbed in place of every forward's own choice (measurement only: a
// verify step's exactness needs absorbed); kAuto (no override) when unset. Read once.
MlaMode forced_mla_mode() {
  static const MlaMode mode = [] {
    const char* v = std::getenv("WHALE_MLA");
    if (v == nullptr || *v == 0 || std::string_view(v) == "auto") return MlaMode::kAuto;
    if (std::string_view(v) == "naive") return MlaMode::kNaive;
    if (std::string_view(v) == "absorbed") return MlaMode::kAbsorbed;
    fail(ErrorKind::kInvalidArgument, "WHALE_MLA must be naive, absorbed or auto, not '" + std::string(v) + "'");
  }();
  return mode;
}

// MLA attention for the batch by opt.mla: every sequence naive or absorbed, or (kAuto) each by
// mla_naive_pays for its chunk. q: [T, H*(nope+rope)]; attn: [T, H*d_v].
void mla_attend(Ctx& c, int64_t layer, const float* q, float* attn) {
  const auto& a = c.a;
  const int64_t T = c.batch.size(), H = a.num_attention_heads, qd = a.qk_head_dim(), dv = a.v_head_dim;
  std::vector<int32_t>& naive = c.s.mla_naive_seqs;
  std::vector<int32_t>& tok = c.s.mla_absorbed_tokens;
  naive.clear();
  tok.clear();
  const MlaMode forced = forced_mla_mode();
  const MlaMode mode = forced != MlaMode::kAuto ? forced : c.opt.mla;
  batch_sequences(c.batch, c.s.seqs);
  if (forced == MlaMode::kAuto && !c.opt.mla_naive_rows.empty()) {  // by row: the engine's roles
    if (c.opt.mla_naive_rows.size() != static_cast<size_t>(T))
      fail(ErrorKind::kInternal, "mla_naive_rows: one per batch row");
    for (int32_t seq : c.s.seqs) {
      for (int64_t t = 0; t < T; ++t) {
        if (c.batch.seq_ids[static_cast<size_t>(t)] == seq && c.opt.mla_naive_rows[static_cast<size_t>(t)] != 0) {
          naive.push_back(seq);
          break;
        }
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      if (c.opt.mla_naive_rows[static_cast<size_t>(t)] == 0) tok.push_back(static_cast<int32_t>(t));
    }
  } else {
    for (int32_t seq : c.s.seqs) {
      bool as_naive = mode == MlaMode::kNaive;
      if (mode == MlaMode::kAuto) {
        int64_t n_tok = 0;
        for (int32_t s : c.batch.seq_ids) n_tok += s == seq;
        as_naive = mla_naive_pays(a, n_tok, seq_extent(c.batch, seq));
      }
      if (as_naive) naive.push_back(seq);
    }
    for (int64_t t = 0; t < T; ++t) {
      const int32_t seq = c.batch.seq_ids[static_cast<size_t>(t)];
      if (std::find(naive.begin(), naive.end(), seq) == naive.end()) tok.push_back(static_cast<int32_t>(t));
    }
  }
  if (!naive.empty()) mla_attend_naive(c, layer, q, attn, naive);
  if (tok.empty()) return;
  if (static_cast<int64_t>(tok.size()) == T) return mla_attend_absorbed(c, layer, q, attn, tok);
  // Some sequences naive: the absorbed tokens' rows gathered, attended, scattered back.
  const int64_t Ta = static_cast<int64_t>(tok.size());
  float* qa = ensure(c.s.mla_q_rows, Ta * H * qd);
  float* oa = ensure(c.s.mla_o_rows, Ta * H * dv);
  for (int64_t i = 0; i < Ta; ++i) std::copy_n(q + tok[static_cast<size_t>(i)] * H * qd, H * qd, qa + i * H * qd);
  mla_attend_absorbed(c, layer, qa, oa, tok);
  for (int64_t i = 0; i < Ta; ++i) std::copy_n(oa + i * H * dv, H * dv, attn + tok[static_cast<size_t>(i)] * H * dv);
}

// Multi-head latent attention for the batch; writes each token's [c_kv | k_pe] row to the cache.
// h: [T, D] (normed); out: [T, D].
void mla_forward(Ctx& c, int64_t layer, const float* h, float* out) {
  const auto& a = c.a;
  const MlaWeights& m = c.w.layers[static_cast<size_t>(layer)].mla;
  const int64_t T = c.batch.size(), H = a.num_attention_heads, nope = a.qk_nope_head_dim;
  const int64_t rope = a.qk_rope_head_dim, r = a.kv_lora_rank, qd = nope + rope;
  float* q = ensure(c.s.q, T * H * qd);  // q: [T, H*(nope+rope)]
  if (a.q_lora_rank > 0) {
    float* cq = ensure(c.s.lat, T * a.q_lora_rank);  // c_q: [T, q_lora_rank]
    linear_rows(m.q_a, h, T, cq, c.pool);
    rms_norm_rows(cq, T, a.q_lora_rank, m.q_a_norm, static_cast<float>(a.rms_norm_eps), cq);
    linear_rows(m.q_b, cq, T, q, c.pool);
  } else {
    linear_rows(m.q, h, T, q, c.pool);
  }
  float* kv = ensure(c.s.kv, T * (r + rope));  // [c_kv | k_pe]: [T, r + rope]
  linear_rows(m.kv_a, h, T, kv, c.pool);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = c.batch.positions[static_cast<size_t>(t)];
    float* row = kv + t * (r + rope);
    kernels::rms_norm(row, m.kv_a_norm.data(), r, static_cast<float>(a.rms_norm_eps), row);  // c_kv
    kernels::rope_apply(c.s.rope, pos, row + r);                                              // k_pe
    for (int64_t hh = 0; hh < H; ++hh) kernels::rope_apply(c.s.rope, pos, q + t * H * qd + hh * qd + nope);  // q_pe
    c.cache.store(layer, c.batch.seq_ids[static_cast<size_t>(t)], pos, 0, row, r + rope);  // rounded once, here
  }
  float* attn = ensure(c.s.attn, T * H * a.v_head_dim);  // attn: [T, H*d_v]
  mla_attend(c, layer, q, attn);
  linear_rows(m.o, attn, T, out, c.pool);  // out: [T, D]
}

// The router: logits for every token, then each token's experts and weights (moe_gate.cpp).
// h: [T, D]; idx, weight: [T, k].
void gate_forward(Ctx& c, int64_t layer, const float* h, int32_t* idx, float* weight) {
  const auto& a = c.a;
  const MoeWeights& m = c.w.layers[static_cast<size_t>(layer)].moe;
  const int64_t T = c.batch.size(), E = a.n_routed_experts, k = a.num_experts_per_tok;
  float* logits = ensure(c.s.router, T * E);  // [T, E]
  linear_rows(m.router, h, T, logits, c.pool);
  Routing& r = c.s.gate;
  for (int64_t t = 0; t < T; ++t) {
    route_token(a, logits + t * E, m.router_bias.empty() ? nullptr : m.router_bias.data(), r);
    std::copy(r.experts.begin(), r.experts.end(), idx + t * k);
    std::copy(r.weights.begin(), r.weights.end(), weight + t * k);
  }
}

// DeepSeekMoE: shared experts on every token plus Σ g_i · expert_i over the chosen experts. Tokens
// are grouped by expert so each expert's weights are read once per batch, and only chosen experts
// are touched. h: [T, D]; out: [T, D].
void moe_forward(Ctx& c, int64_t layer, const float* h, float* out) {
  const auto& a = c.a;
  const MoeWeights& m = c.w.layers[static_cast<size_t>(layer)].moe;
  const int64_t T = c.batch.size(), D = a.hidden_size, E = a.n_routed_experts, k = a.num_experts_per_tok;
  int32_t* idx = ensure(c.s.expert_idx, T * k);        // [T, k]
  float* weight = ensure(c.s.expert_weight, T * k);    // [T, k]
  gate_forward(c, layer, h, idx, weight);
  if (c.routing && layer < a.num_hidden_layers) (*c.routing)[static_cast<size_t>(layer)].assign(idx, idx + T * k);
  if (m.has_shared && c.opt.shared_experts) {
    mlp_forward(m.shared, h, T, out, c.s, c.pool);
  } else {
    std::fill(out, out + T * D, 0.0f);
  }
  // Group the (token, expert) pairs by expert, tokens in batch order: expert e's pairs are
  // [start[e], start[e+1]) of tok and gate (a counting sort).
  int64_t* start = ensure(c.s.expert_start, E + 1);
  int64_t* fill = ensure(c.s.expert_fill, E);
  int64_t* tok = ensure(c.s.expert_tok, T * k);   // [T*k]
  float* gate = ensure(c.s.expert_gate, T * k);  // [T*k]
  std::fill(start, start + E + 1, 0);
  for (int64_t i = 0; i < T * k; ++i) ++start[idx[i] + 1];
  for (int64_t e = 0; e < E; ++e) start[e + 1] += start[e];
  std::copy(start, start + E, fill);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t slot = fill[idx[t * k + j]]++;
      tok[slot] = t;
      gate[slot] = weight[t * k + j];
    }
  }
  const int64_t e_end = c.opt.expert_end < 0 ? E : std::min(E, c.opt.expert_end);
  for (int64_t e = std::max<int64_t>(0, c.opt.expert_begin); e < e_end; ++e) {
    const int64_t n = start[e + 1] - start[e];
    if (n == 0) continue;
    const int64_t* toks = tok + start[e];
    float* xin = ensure(c.s.moe_in, n * D);  // this expert's tokens: [n, D]
    for (int64_t i = 0; i < n; ++i) std::copy(h + toks[i] * D, h + toks[i] * D + D, xin + i * D);
    float* y = ensure(c.s.moe_out, n * D);   // [n, D]
    mlp_forward(m.experts[static_cast<size_t>(e)], xin, n, y, c.s, c.pool);
    for (int64_t i = 0; i < n; ++i) kernels::axpy(gate[start[e] + i], y + i * D, out + toks[i] * D, D);
  }
  if (c.opt.combine_experts) c.opt.combine_experts(out, T * D);
}

}  // namespace

bool mla_naive_pays(const formats::ModelArgs& a, int64_t T, int64_t n) {
  constexpr double kDecompressPerAttention = 1.2;
  const double r = static_cast<double>(a.kv_lora_rank), rope = static_cast<double>(a.qk_rope_head_dim);
  const double qd = static_cast<double>(a.qk_head_dim()), dv = static_cast<double>(a.v_head_dim);
  const double nope = static_cast<double>(a.qk_nope_head_dim);
  const double n0 = static_cast<double>(n - T), t = static_cast<double>(T);
  const double key_rows = t * n0 + t * (t + 1) / 2;  // Σ_t (pos_t + 1)
  const double decompress = n0 * r * (nope + dv) * kDecompressPerAttention;
  return decompress < key_rows * ((2 * r + rope) - (qd + dv));
}

// The SwiGLU MLP (a dense layer, a shared or a routed expert; also the dense families' MLP):
// out[T, D] = down(silu(gate x) * up x).
void mlp_forward(const MlpWeights& m, const float* x, int64_t T, float* out, Scratch& s, core::ThreadPool& pool) {
  const int64_t W = m.gate.rows();
  float* gate = ensure(s.mlp_gate, T * W);
  float* up = ensure(s.mlp_up, T * W);
  linear_rows(m.gate, x, T, gate, pool);  // gate: [T, W]
  linear_rows(m.up, x, T, up, pool);      // up: [T, W]
  kernels::silu_mul(gate, up, gate, T * W);
  linear_rows(m.down, gate, T, out, pool);  // out: [T, D]
}

namespace {

// Pre-norm residual block: x += MLA(norm(x)); x += MoE-or-MLP(norm(x)). x: [T, D].
void block_forward(Ctx& c, int64_t layer, float* x) {
  const auto& a = c.a;
  const LayerWeights& L = c.w.layers[static_cast<size_t>(layer)];
  const int64_t T = c.batch.size(), D = a.hidden_size;
  const float eps = static_cast<float>(a.rms_norm_eps);
  float* h = ensure(c.s.h, T * D);
  float* out = ensure(c.s.out, T * D);
  rms_norm_rows(x, T, D, L.attn_norm, eps, h);
  mla_forward(c, layer, h, out);
  kernels::axpy(1.0f, out, x, T * D);
  rms_norm_rows(x, T, D, L.ffn_norm, eps, h);
  if (L.is_moe) {
    moe_forward(c, layer, h, out);
  } else {
    mlp_forward(L.mlp, h, T, out, c.s, c.pool);
  }
  kernels::axpy(1.0f, out, x, T * D);
}

Ctx make_ctx(const Weights& w, const Batch& b, KvCache& cache, const ForwardOptions& opt, Scratch& s,
             core::ThreadPool& pool, std::vector<std::vector<int32_t>>* routing) {
  rope_table(w.args, w.args.qk_rope_head_dim, kernels::RopePairing::kAdjacent, s.rope);
  return Ctx{w, w.args, b, cache, opt, s, pool, mla_softmax_scale(w.args), routing};
}

}  // namespace

// MTP module k: h' = eh_proj([enorm(emb(t+1)); hnorm(h_t)]) (embedding first, as the released
// weights expect), one full block at the same positions, then the module's own norm and head.
void mtp_forward(const Weights& w, const Batch& next, const std::vector<float>& hidden, int64_t k, KvCache& cache,
                 const ForwardOptions& opt, Scratch& s, core::ThreadPool& pool, std::vector<float>& logits,
                 std::vector<float>* hidden_out) {
  const auto& a = w.args;
  if (w.arch == nullptr || !w.arch->mtp || k < 0 || k >= a.num_nextn_predict_layers) {
    fail(ErrorKind::kInvalidArgument, "model has ", a.num_nextn_predict_layers, " MTP modules; asked for module ", k);
  }
  const int64_t layer = a.num_hidden_layers + k, T = next.size(), D = a.hidden_size;
  if (static_cast<int64_t>(hidden.size()) < T * D) fail(ErrorKind::kInternal, "mtp_forward: hidden states too short");
  const MtpWeights& m = w.layers[static_cast<size_t>(layer)].mtp;
  const float eps = static_cast<float>(a.rms_norm_eps);
  Ctx c = make_ctx(w, next, cache, opt, s, pool, /*routing=*/nullptr);
  float* cat = ensure(s.mtp_in, T * 2 * D);  // [T, 2D]
  float* emb = ensure(s.mtp_emb, T * D);     // [T, D]
  embed_tokens(m.embed, next.tokens, emb);
  for (int64_t t = 0; t < T; ++t) {
    kernels::rms_norm(emb + t * D, m.enorm.data(), D, eps, cat + t * 2 * D);
    kernels::rms_norm(hidden.data() + t * D, m.hnorm.data(), D, eps, cat + t * 2 * D + D);
  }
  float* x = ensure(s.x, T * D);
  linear_rows(m.eh_proj, cat, T, x, pool);  // x: [T, D]
  block_forward(c, layer, x);
  if (hidden_out) hidden_out->assign(x, x + T * D);
  output_logits(m.head, m.head_norm, eps, x, T, D, logits, s, pool, opt.logit_rows);
}

void deepseek_forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& s,
                      core::ThreadPool& pool, ForwardOutput& out) {
  const auto& a = w.args;
  const int64_t T = batch.size(), D = a.hidden_size;
  if (opt.want_routing) {
    out.routing.assign(static_cast<size_t>(a.num_hidden_layers), {});
  } else {
    out.routing.clear();
  }
  Ctx c = make_ctx(w, batch, cache, opt, s, pool, opt.want_routing ? &out.routing : nullptr);
  float* x = ensure(s.x, T * D);  // residual stream: [T, D]
  const int64_t end = stage_input(w, batch, opt, x);
  for (int64_t layer = opt.layer_begin; layer < end; ++layer) block_forward(c, layer, x);
  if (opt.want_hidden || end < a.num_hidden_layers) out.hidden.assign(x, x + T * D);
  if (end < a.num_hidden_layers) return;  // a pipeline stage before the last: no head
  output_logits(w.lm_head, w.final_norm, static_cast<float>(a.rms_norm_eps), x, T, D, out.logits, s, pool,
                opt.logit_rows);
}

}  // namespace whale::model
