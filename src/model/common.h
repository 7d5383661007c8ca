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

// Grows `v` to at least n elements (never shrinks) and returns its data.
template <class T>
T* ensure(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// y[T, rows] = x[T, in] · Wᵀ
void linear_rows(const WeightView& w, const float* x, int64_t T, float* y, core::ThreadPool& pool);

// x[t] = table[tokens[t]]; a token id outside the vocabulary is an error naming it.
void embed_tokens(const WeightView& table, const std::vector<int32_t>& tokens, float* x);

// A (pipeline) stage's starting residual stream x [T, D]: the embeddings when the stage starts at
// layer 0, else a copy of opt.input_hidden; returns the stage's end layer (checked).
int64_t stage_input(const Weights& w, const Batch& batch, const ForwardOptions& opt, float* x);

// out[t] = rms_norm(x[t]) for T rows of n values.
void rms_norm_rows(const float* x, int64_t T, int64_t n, const std::vector<float>& weight, float eps, float* out);

// The SwiGLU MLP: out[T, D] = down(silu(gate x) * up x), in scratch.mlp_gate and scratch.mlp_up.
// Defined in deepseek.cpp beside the MoE whose experts it also runs.
void mlp_forward(const MlpWeights& m, const float* x, int64_t T, float* out, Scratch& s, core::ThreadPool& pool);

// logits[T, V] = head(norm(x)); with `rows` non-empty, only those rows of x ([rows, V]).
void output_logits(const WeightView& head, const std::vector<float>& norm, float eps, const float* x, int64_t T,
                   int64_t D, std::vector<float>& logits, Scratch& s, core::ThreadPool& pool,
                   const std::vector<int32_t>& rows = {});

// The RoPE table this config implies for a rotary dimension `dim` (YaRN, Llama-3 or plain), written
// into `t` (its storage reused).
void rope_table(const formats::ModelArgs& a, int64_t dim, kernels::RopePairing pairing, kernels::RopeTable& t);

// Pointers to the cache rows of positions [0, n) of one sequence in one layer (f32 caches).
void gather_rows(KvCache& cache, int64_t layer, int64_t seq, int64_t n, std::vector<const float*>& rows);
// A query set over the cache rows of positions [0, n) of one sequence in one layer, as the cache
// stores them (f32 or bf16; the pointers go through s.rows or s.rows16). Returns the set's index.
size_t add_cache_set(kernels::AttentionWork& work, KvCache& cache, int64_t layer, int64_t seq, int64_t n, Scratch& s,
                     int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv, float scale);

// The distinct sequences of a batch, in order of first appearance.
void batch_sequences(const Batch& b, std::vector<int32_t>& seqs);
// Cached rows a sequence's tokens in this batch can see: positions 0 .. its largest position.
int64_t seq_extent(const Batch& b, int32_t seq);

}  // namespace whale::model
