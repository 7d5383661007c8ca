// Pieces every family's forward pass shares: embedding lookup, row-wise norms, linear layers over
// a batch, the SwiGLU MLP, the output head, RoPE tables from the config, cache row gathering.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "formats/model_args.h"
#include "kernels/rope.h"
#include "model/forward.h"

namespace whale::model {

// Grows `v` to at least n floats (never shrinks) and returns its data.
float* ensure(std::vector<float>& v, int64_t n);

// y[T, rows] = x[T, in] · Wᵀ
void linear_rows(const WeightView& w, const float* x, int64_t T, float* y, core::ThreadPool& pool);

// x[t] = table[tokens[t]]; a token id outside the vocabulary is an error naming it.
void embed_tokens(const WeightView& table, const std::vector<int32_t>& tokens, float* x);

// out[t] = rms_norm(x[t]) for T rows of n values.
void rms_norm_rows(const float* x, int64_t T, int64_t n, const std::vector<float>& weight, float eps, float* out);

// out[T, D] = down(silu(gate x) * up x); uses scratch.mlp_gate and scratch.mlp_up.
void mlp_forward(const MlpWeights& m, const float* x, int64_t T, int64_t D, float* out, Scratch& s,
                 core::ThreadPool& pool);

// logits[T, V] = head(norm(x)); with `rows` non-empty, only those rows of x ([rows, V]).
void output_logits(const WeightView& head, const std::vector<float>& norm, float eps, const float* x, int64_t T,
                   int64_t D, std::vector<float>& logits, Scratch& s, core::ThreadPool& pool,
                   const std::vector<int32_t>& rows = {});

// The RoPE table this config implies for a rotary dimension `dim` (YaRN, Llama-3 or plain).
kernels::RopeTable rope_table(const formats::ModelArgs& a, int64_t dim, kernels::RopePairing pairing);

// Pointers to the cache rows of positions [0, n) of one sequence in one layer.
void gather_rows(KvCache& cache, int64_t layer, int64_t seq, int64_t n, std::vector<const float*>& rows);

// Attention work for one layer: query sets (each a kernels::Attention over one list of rows, with
// its query/output pointers and lengths kept alive here), run as tiles of 16 queries across the
// pool, long and short tiles interleaved so causal prefill splits evenly between threads. A set
// of more than one tile transposes its keys once for all its tiles.
class AttentionWork {
 public:
  // A new query set over `rows`; returns its index for add_query.
  size_t add_set(std::vector<const float*> rows, int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv, float scale);
  void add_query(size_t set, const float* q, int64_t n, float* out);
  void run(core::ThreadPool& pool);

 private:
  struct Set {
    std::vector<const float*> rows, q;
    std::vector<int64_t> n;
    std::vector<float*> out;
    std::vector<float> kt;  // transposed keys, for sets of more than one tile
    int64_t k_offset, v_offset, d, dv;
    float scale;
  };
  std::vector<Set> sets_;
};

// The distinct sequences of a batch, in order of first appearance.
std::vector<int32_t> batch_sequences(const Batch& b);
// Cached rows a sequence's tokens in this batch can see: positions 0 .. its largest position.
int64_t seq_extent(const Batch& b, int32_t seq);

}  // namespace whale::model
