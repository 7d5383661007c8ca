// Shared forward-pass building blocks; each calls named kernels and holds no math of its own.
#include "model/common.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/ops.h"

namespace whale::model {

float* ensure(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

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

void rms_norm_rows(const float* x, int64_t T, int64_t n, const std::vector<float>& weight, float eps, float* out) {
  for (int64_t t = 0; t < T; ++t) kernels::rms_norm(x + t * n, weight.data(), n, eps, out + t * n);
}

void mlp_forward(const MlpWeights& m, const float* x, int64_t T, int64_t D, float* out, Scratch& s,
                 core::ThreadPool& pool) {
  const int64_t W = m.gate.rows();
  float* gate = ensure(s.mlp_gate, T * W);
  float* up = ensure(s.mlp_up, T * W);
  linear_rows(m.gate, x, T, gate, pool);  // gate: [T, W]
  linear_rows(m.up, x, T, up, pool);      // up: [T, W]
  kernels::silu_mul(gate, up, gate, T * W);
  linear_rows(m.down, gate, T, out, pool);  // out: [T, D]
  (void)D;
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

kernels::RopeTable rope_table(const formats::ModelArgs& a, int64_t dim, kernels::RopePairing pairing) {
  kernels::RopeTable t;
  t.pairing = pairing;
  const formats::RopeScaling& rs = a.rope_scaling;
  if (rs.type == "yarn") {
    t.inv_freq = kernels::rope_yarn_freqs(
        dim, a.rope_theta, {rs.factor, rs.original_max_position_embeddings, rs.beta_fast, rs.beta_slow});
    t.scale = static_cast<float>(kernels::yarn_mscale(rs.factor, rs.mscale) /
                                 kernels::yarn_mscale(rs.factor, rs.mscale_all_dim));
  } else if (rs.type == "llama3") {
    t.inv_freq = kernels::rope_llama3_freqs(
        dim, a.rope_theta, {rs.factor, rs.low_freq_factor, rs.high_freq_factor, rs.original_max_position_embeddings});
  } else {
    t.inv_freq = kernels::rope_default_freqs(dim, a.rope_theta);
    if (rs.type == "linear") {
      for (float& f : t.inv_freq) f = static_cast<float>(f / rs.factor);
    }
  }
  return t;
}

void gather_rows(KvCache& cache, int64_t layer, int64_t seq, int64_t n, std::vector<const float*>& rows) {
  rows.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) rows[static_cast<size_t>(j)] = cache.row(layer, seq, j);
}

size_t AttentionWork::add_set(std::vector<const float*> rows, int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv,
                              float scale) {
  sets_.push_back({.rows = std::move(rows), .q = {}, .n = {}, .out = {}, .kt = {}, .k_offset = k_offset,
                   .v_offset = v_offset, .d = d, .dv = dv, .scale = scale});
  return sets_.size() - 1;
}

void AttentionWork::add_query(size_t set, const float* q, int64_t n, float* out) {
  Set& s = sets_[set];
  s.q.push_back(q);
  s.n.push_back(n);
  s.out.push_back(out);
}

void AttentionWork::run(core::ThreadPool& pool) {
  constexpr int64_t kTile = 16;
  // Sets with more than one tile of queries share one transposed copy of their keys.
  const int64_t W = kernels::attention_block();
  std::vector<std::pair<size_t, int64_t>> blocks;  // (set, key block) to transpose
  for (size_t s = 0; s < sets_.size(); ++s) {
    Set& set = sets_[s];
    if (static_cast<int64_t>(set.q.size()) <= kTile) continue;
    const int64_t n_blocks = (static_cast<int64_t>(set.rows.size()) + W - 1) / W;
    set.kt.resize(static_cast<size_t>(n_blocks * W * set.d));
    for (int64_t b = 0; b < n_blocks; ++b) blocks.push_back({s, b});
  }
  pool.parallel_for(static_cast<int64_t>(blocks.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      const auto [si, blk] = blocks[static_cast<size_t>(u)];
      Set& s = sets_[si];
      kernels::transpose_keys(s.rows.data(), static_cast<int64_t>(s.rows.size()), s.k_offset, s.d, blk, blk + 1,
                              s.kt.data());
    }
  });
  std::vector<std::pair<size_t, int64_t>> tiles;  // (set, first query)
  for (size_t s = 0; s < sets_.size(); ++s) {
    for (int64_t i = 0; i < static_cast<int64_t>(sets_[s].q.size()); i += kTile) tiles.push_back({s, i});
  }
  const int64_t U = static_cast<int64_t>(tiles.size());
  pool.parallel_for(U, [&](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      // 0, U-1, 1, U-2, ...: each contiguous range mixes early (short) and late (long) tiles.
      const auto [si, i0] = tiles[static_cast<size_t>(u % 2 == 0 ? u / 2 : U - 1 - u / 2)];
      const Set& s = sets_[si];
      const int64_t nq = std::min<int64_t>(kTile, static_cast<int64_t>(s.q.size()) - i0);
      kernels::attend({.q = s.q.data() + i0, .n = s.n.data() + i0, .nq = nq, .rows = s.rows.data(),
                       .k_offset = s.k_offset, .v_offset = s.v_offset, .d = s.d, .dv = s.dv, .scale = s.scale,
                       .out = s.out.data() + i0, .kt = s.kt.empty() ? nullptr : s.kt.data()});
    }
  });
}

std::vector<int32_t> batch_sequences(const Batch& b) {
  std::vector<int32_t> seqs;
  for (int32_t s : b.seq_ids) {
    if (std::find(seqs.begin(), seqs.end(), s) == seqs.end()) seqs.push_back(s);
  }
  return seqs;
}

int64_t seq_extent(const Batch& b, int32_t seq) {
  int64_t n = 0;
  for (int64_t t = 0; t < b.size(); ++t) {
    if (b.seq_ids[static_cast<size_t>(t)] == seq) n = std::max<int64_t>(n, b.positions[static_cast<size_t>(t)] + 1);
  }
  return n;
}

}  // namespace whale::model
