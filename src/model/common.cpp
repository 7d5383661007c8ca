// Shared forward-pass building blocks (each calls named kernels and holds no math of its own), and
// Scratch::reserved_bytes, which lists every buffer Scratch holds.
#include "model/common.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/linear.h"
#include "kernels/ops.h"

namespace whale::model {

void linear_rows(const WeightView& w, const float* x, int64_t T, float* y, core::ThreadPool& pool) {
  kernels::linear(w, {.x = x, .T = T, .x_stride = w.cols(), .y = y, .y_stride = w.rows()}, &pool);
}

void embed_tokens(const WeightView& table, const std::vector<int32_t>& tokens, float* x) {
  const int64_t D = table.cols();
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= table.rows()) {
      fail(ErrorKind::kOutOfRange, "token id ", tokens[t], " is outside the vocabulary [0, ", table.rows(), ")");
    }
    kernels::dequantize_weight_row(table, tokens[t], x + static_cast<int64_t>(t) * D);
  }
}

int64_t stage_input(const Weights& w, const Batch& batch, const ForwardOptions& opt, float* x) {
  const int64_t L = w.args.num_hidden_layers;
  const int64_t end = opt.layer_end < 0 ? L : opt.layer_end;
  if (opt.layer_begin < 0 || opt.layer_begin >= end || end > L) {
    fail(ErrorKind::kInvalidArgument, "layer range [", opt.layer_begin, ", ", end, ") is not inside the ", L, " layers");
  }
  if (opt.layer_begin == 0) {
    embed_tokens(w.embed, batch.tokens, x);
  } else {
    if (opt.input_hidden == nullptr) fail(ErrorKind::kInternal, "a stage starting at layer ", opt.layer_begin, " needs input_hidden");
    std::copy(opt.input_hidden, opt.input_hidden + batch.size() * w.args.hidden_size, x);
  }
  return end;
}

void rms_norm_rows(const float* x, int64_t T, int64_t n, const std::vector<float>& weight, float eps, float* out) {
  for (int64_t t = 0; t < T; ++t) kernels::rms_norm(x + t * n, weight.data(), n, eps, out + t * n);
}

void output_logits(const WeightView& head, const std::vector<float>& norm, float eps, const float* x, int64_t T,
                   int64_t D, std::vector<float>& logits, Scratch& s, core::ThreadPool& pool,
                   const std::vector<int32_t>& rows) {
  const int64_t n = rows.empty() ? T : static_cast<int64_t>(rows.size());
  float* xn = ensure(s.head_in, n * D);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = rows.empty() ? i : rows[static_cast<size_t>(i)];
    if (t < 0 || t >= T) fail(ErrorKind::kInvalidArgument, "logit row ", t, " outside a batch of ", T);
    kernels::rms_norm(x + t * D, norm.data(), D, eps, xn + i * D);
  }
  logits.resize(static_cast<size_t>(n * head.rows()));
  linear_rows(head, xn, n, logits.data(), pool);
}

void rope_table(const formats::ModelArgs& a, int64_t dim, kernels::RopePairing pairing, kernels::RopeTable& t) {
  using formats::RopeType;
  t.pairing = pairing;
  t.scale = 1.0f;
  const formats::RopeScaling& rs = a.rope_scaling;
  if (rs.type == RopeType::kYarn) {
    kernels::rope_yarn_freqs(dim, a.rope_theta,
                             {rs.factor, rs.original_max_position_embeddings, rs.beta_fast, rs.beta_slow}, t.inv_freq);
    t.scale = static_cast<float>(kernels::yarn_mscale(rs.factor, rs.mscale) /
                                 kernels::yarn_mscale(rs.factor, rs.mscale_all_dim));
  } else if (rs.type == RopeType::kLlama3) {
    kernels::rope_llama3_freqs(
        dim, a.rope_theta, {rs.factor, rs.low_freq_factor, rs.high_freq_factor, rs.original_max_position_embeddings},
        t.inv_freq);
  } else {
    kernels::rope_default_freqs(dim, a.rope_theta, t.inv_freq);
    if (rs.type == RopeType::kLinear) {
      for (float& f : t.inv_freq) f = static_cast<float>(f / rs.factor);
    }
  }
}

void gather_rows(KvCache& cache, int64_t layer, int64_t seq, int64_t n, std::vector<const float*>& rows) {
  rows.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) rows[static_cast<size_t>(j)] = cache.row(layer, seq, j);
}

size_t add_cache_set(kernels::AttentionWork& work, KvCache& cache, int64_t layer, int64_t seq, int64_t n, Scratch& s,
                     int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv, float scale) {
  if (cache.dtype() == core::DType::kBF16) {
    s.rows16.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) s.rows16[static_cast<size_t>(j)] = cache.row_bf16(layer, seq, j);
    return work.add_set(s.rows16, k_offset, v_offset, d, dv, scale);
  }
  gather_rows(cache, layer, seq, n, s.rows);
  return work.add_set(s.rows, k_offset, v_offset, d, dv, scale);
}

void batch_sequences(const Batch& b, std::vector<int32_t>& seqs) {
  seqs.clear();
  for (int32_t s : b.seq_ids) {
    if (std::find(seqs.begin(), seqs.end(), s) == seqs.end()) seqs.push_back(s);
  }
}

int64_t seq_extent(const Batch& b, int32_t seq) {
  int64_t n = 0;
  for (int64_t t = 0; t < b.size(); ++t) {
    if (b.seq_ids[static_cast<size_t>(t)] == seq) n = std::max<int64_t>(n, b.positions[static_cast<size_t>(t)] + 1);
  }
  return n;
}

size_t Scratch::reserved_bytes() const {
  size_t bytes = 0;
  for (const std::vector<float>* v : {&x, &h, &out, &q, &attn, &k, &v, &kv, &lat, &lat_q, &lat_o, &mla_latent, &mla_full,
                                      &mla_heads, &router, &expert_weight, &expert_gate, &moe_in, &moe_out, &mlp_gate,
                                      &mlp_up, &mtp_in, &mtp_emb, &head_in, &rope.inv_freq, &gate.weights, &gate.choose,
                                      &gate.group_score}) {
    bytes += v->capacity() * sizeof(float);
  }
  bytes += (mla_q_rows.capacity() + mla_o_rows.capacity()) * sizeof(float);
  for (const std::vector<int64_t>* v : {&expert_start, &expert_fill, &expert_tok, &gate.order, &gate.top}) {
    bytes += v->capacity() * sizeof(int64_t);
  }
  bytes += (seqs.capacity() + mla_naive_seqs.capacity() + mla_absorbed_tokens.capacity() + expert_idx.capacity() +
            gate.experts.capacity()) *
           sizeof(int32_t);
  bytes += (rows.capacity() + rows16.capacity() + head_rows.capacity()) * sizeof(const float*) + gate.keep.capacity();
  return bytes + attention.reserved_bytes();
}

}  // namespace whale::model
