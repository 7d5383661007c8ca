// The forward pass interface shared by every family: a batch of tokens (many per sequence for
// prefill, one per sequence for decode) with explicit positions and cache sequences in, logits
// and final hidden states out. No globals: weights, cache, scratch and threads are all passed in.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace whale::model {

struct Batch {
  std::vector<int32_t> tokens;     // [T]
  std::vector<int32_t> positions;  // [T] position of each token in its sequence
  std::vector<int32_t> seq_ids;    // [T] cache sequence of each token
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  void add(int32_t token, int32_t position, int32_t seq) {
    tokens.push_back(token);
    positions.push_back(position);
    seq_ids.push_back(seq);
  }
};

enum class MlaMode {
  kNaive,     // decompress per-head K and V from the latent: the oracle, and the prefill path
  kAbsorbed,  // fold kv_b_proj into the query and output: attend in the 512-d latent (decode)
};

struct ForwardOptions {
  MlaMode mla = MlaMode::kNaive;
  bool want_hidden = false;  // keep the final hidden states (pre-norm), e.g. for MTP drafting
  // Batch rows to compute logits for (the head is a vocab-sized matmul: prefill needs only each
  // sequence's last row). Empty: every row.
  std::vector<int32_t> logit_rows;
};

struct ForwardOutput {
  std::vector<float> logits;  // [T, vocab], or [logit_rows.size(), vocab] when rows were chosen
  std::vector<float> hidden;  // [T, hidden] before the final norm, when want_hidden
  // Routed experts chosen per MoE layer: routing[layer][t * k + j] (for tests and load statistics).
  std::vector<std::vector<int32_t>> routing;
};

// Reusable buffers: grown on demand, never shrunk, so steady decoding allocates nothing new.
struct Scratch {
  std::vector<float> x, h, out;          // residual stream, normed input, sublayer output: [T, D]
  std::vector<float> q, kv, attn, lat;   // attention intermediates
  std::vector<float> lat_q, lat_o;       // absorbed MLA: [T, H, r + d_rope] queries, [T, H, r] outputs
  std::vector<float> router;             // [T, n_routed_experts]
  std::vector<float> moe_in, moe_out;    // one expert's gathered tokens
  std::vector<float> mlp_gate, mlp_up;   // [T, width]
  std::vector<float> head_in;            // normed final hidden states
};

// Runs all layers of the main stack; writes this batch's rows into `cache`.
void forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& scratch,
             core::ThreadPool& pool, ForwardOutput& out);

// DeepSeek MTP module `k`: from the main model's final hidden states at the batch positions and the
// tokens one step ahead, the draft logits for two steps ahead ([T, vocab]).
void mtp_forward(const Weights& w, const Batch& next, const std::vector<float>& hidden, int64_t k, KvCache& cache,
                 const ForwardOptions& opt, Scratch& scratch, core::ThreadPool& pool, std::vector<float>& logits);

}  // namespace whale::model
